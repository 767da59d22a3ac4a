"""The SavedModel seen by tools that know nothing of keras_geomatch.

`saved_model_cli` (show / scan / run) and a fresh Python process that imports
only TensorFlow: the closest real checks of what TF Serving will see (its
binary cannot be installed here). The subprocesses run once, in a
module-scoped fixture; the tests read their results.
"""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.export.conftest import random_images

# saved_model_cli's default denylist, plus ops that need a Python interpreter.
DENYLIST = {"ReadFile", "WriteFile", "PrintV2", "PyFunc", "PyFuncStateless", "EagerPyFunc"}

FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    single_dir, two_stage_dir, source_path, target_path, out_dir = sys.argv[1:]
    source, target = np.load(source_path), np.load(target_path)
    for name, path in (("single", single_dir), ("two_stage", two_stage_dir)):
        signatures = tf.saved_model.load(path).signatures
        outputs = signatures["serving_default"](source_image=source, target_image=target)
        for key, value in outputs.items():
            np.save(f"{out_dir}/{name}_{key}.npy", value.numpy())
        points = np.array([[[1.0, 2.0], [30.0, 20.0]]] * len(source), np.float32)
        mapped = signatures["map_points"](source_image=source, target_image=target, points=points)
        np.save(f"{out_dir}/{name}_source_points.npy", mapped["source_points"].numpy())
    assert "keras_geomatch" not in sys.modules, "keras_geomatch was imported"
    print("MODULES:", "keras" in sys.modules)
    """
)


def _tool(name):
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        pytest.skip(f"{name} not found next to {sys.executable}")
    return path


def _start(command, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return command, process


def _finish(started):
    command, process = started
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, f"{command} failed:\n{output}"
    return output


@pytest.fixture(scope="module")
def tool_runs(tmp_path_factory, single_export, two_stage_export):
    """Runs saved_model_cli show/scan/run and a fresh Python process once."""
    work = tmp_path_factory.mktemp("tools")
    rng = np.random.default_rng(11)
    source, target = random_images(rng, 2, 72, 100), random_images(rng, 2, 50, 60)
    np.save(work / "source.npy", source)
    np.save(work / "target.npy", target)
    single = str(single_export / "serving" / "1")
    two_stage = str(two_stage_export / "serving" / "7")
    cli = _tool("saved_model_cli")
    runs = {"source": source, "target": target, "work": work}
    (work / "fresh").mkdir()
    script = work / "fresh_process.py"
    script.write_text(FRESH_PROCESS_SCRIPT)
    # Started together (each spends most of its time importing TensorFlow).
    started = {
        "show": _start([cli, "show", "--dir", single, "--all"], work),
        "scan": _start([cli, "scan", "--dir", two_stage], work),
        "run": _start(
            [cli, "run", "--dir", single, "--tag_set", "serve", "--signature_def",
             "serving_default", "--inputs",
             f"source_image={work / 'source.npy'};target_image={work / 'target.npy'}",
             "--outdir", str(work / "cli_out"), "--overwrite"],
            work,
        ),
        "fresh": _start(
            [sys.executable, str(script), single, two_stage, str(work / "source.npy"),
             str(work / "target.npy"), str(work / "fresh")],
            work,
        ),
    }
    for name, process in started.items():
        runs[name] = _finish(process)
    return runs


def _signature_block(show_output, name):
    match = re.search(rf"signature_def\['{name}'\]:(.*?)(?=signature_def\[|\Z)", show_output, re.S)
    assert match, f"signature {name!r} not listed:\n{show_output}"
    return match.group(1)


def _tensor_info(block, direction, key):
    match = re.search(
        rf"{direction}\['{key}'\] tensor_info:\s*dtype: (\S+)\s*shape: (.+?)\n", block
    )
    assert match, f"{direction}[{key!r}] not in:\n{block}"
    return match.group(1), match.group(2).strip()


def test_show_lists_signatures_with_dtypes_and_shapes(tool_runs):
    serving = _signature_block(tool_runs["show"], "serving_default")
    assert _tensor_info(serving, "inputs", "source_image") == ("DT_UINT8", "(-1, -1, -1, 3)")
    assert _tensor_info(serving, "inputs", "target_image") == ("DT_UINT8", "(-1, -1, -1, 3)")
    assert _tensor_info(serving, "outputs", "theta") == ("DT_FLOAT", "(-1, 6)")
    assert _tensor_info(serving, "outputs", "warped_image") == ("DT_UINT8", "(-1, -1, -1, 3)")
    assert "Method name is: tensorflow/serving/predict" in serving
    points = _signature_block(tool_runs["show"], "map_points")
    assert _tensor_info(points, "inputs", "points") == ("DT_FLOAT", "(-1, -1, 2)")
    assert _tensor_info(points, "outputs", "source_points") == ("DT_FLOAT", "(-1, -1, 2)")


def test_scan_finds_no_denylisted_ops(tool_runs, single_export, two_stage_export):
    assert "does not contain the default denylisted ops" in tool_runs["scan"]
    assert "contains the following denylisted ops" not in tool_runs["scan"]
    from tensorflow.core.protobuf import saved_model_pb2

    for export_dir, version in ((single_export, "1"), (two_stage_export, "7")):
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((export_dir / "serving" / version / "saved_model.pb").read_bytes())
        graph = saved.meta_graphs[0].graph_def
        ops = {node.op for node in graph.node}
        ops |= {node.op for f in graph.library.function for node in f.node_def}
        assert not ops & DENYLIST
        assert "Assert" in ops  # the input checks survived


def test_saved_model_cli_run_gives_the_keras_theta(tool_runs, affine_model):
    from tests.export.test_serving_signatures import keras_theta

    theta = np.load(tool_runs["work"] / "cli_out" / "theta.npy")
    expected = keras_theta(affine_model, tool_runs["source"], tool_runs["target"])
    np.testing.assert_allclose(theta, expected, atol=1e-4)
    warped = np.load(tool_runs["work"] / "cli_out" / "warped_image.npy")
    assert warped.shape == (2, 50, 60, 3) and warped.dtype == np.uint8


def test_runs_in_a_process_without_keras_geomatch(
    tool_runs, single_signatures, two_stage_signatures
):
    fresh = tool_runs["work"] / "fresh"
    source, target = tool_runs["source"], tool_runs["target"]
    for name, signatures in (("single", single_signatures), ("two_stage", two_stage_signatures)):
        here = signatures["serving_default"](source_image=source, target_image=target)
        for key, value in here.items():
            fresh_value = np.load(fresh / f"{name}_{key}.npy")
            np.testing.assert_allclose(fresh_value, value.numpy(), atol=1e-4)
    assert np.load(fresh / "two_stage_source_points.npy").shape == (2, 2, 2)
    assert np.load(fresh / "single_theta.npy").shape == (2, 6)
