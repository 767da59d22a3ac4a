"""The programs of trainers/ read their flags and check their inputs before TensorFlow
starts, print no TensorFlow start-up lines by default, and end with their result."""

import os
import subprocess
import sys

import pytest

from tests.trainers.cli import REPO
from tests.trainers.cli import environment
from tests.trainers.cli import run_program_process

# Runs a program as `python trainers/PROGRAM ...` would, then writes which of
# TensorFlow and Keras the process imported to the file $IMPORT_SPY_FILE.
SPY = """
import atexit, os, runpy, sys

def report():
    with open(os.environ["IMPORT_SPY_FILE"], "w") as f:
        f.write(" ".join(m for m in ("tensorflow", "keras") if m in sys.modules))

atexit.register(report)
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""

PROGRAMS = {  # program: a flag its --help lists
    "align.py": "--points",
    "convert_checkpoint.py": "--backbone",
    "evaluate.py": "--dataset_root",
    "export.py": "--export_dir",
    "train.py": "--batch_size",
    "publish_pretrained.py": "--affine_workdir",
    "convert_vgg16_torchvision.py": "--pickle",
}


def run_spied(tmp_path, program, *argv):
    """Runs the program; returns `(CompletedProcess, modules imported)`."""
    spy_file = tmp_path / "imported.txt"
    env = environment(IMPORT_SPY_FILE=str(spy_file))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    completed = subprocess.run(
        [sys.executable, "-c", SPY, os.path.join(REPO, "trainers", program), *map(str, argv)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    return completed, spy_file.read_text().split()


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_help_exits_0_without_starting_tensorflow(tmp_path, program):
    completed, imported = run_spied(tmp_path, program, "--help")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert f"{PROGRAMS[program]}:" in completed.stdout
    assert "--log_level:" in completed.stdout
    assert imported == []
    assert completed.stderr == ""


@pytest.mark.parametrize(
    "program, argv, message",
    [
        ("align.py", ["missing.png", "b.png"], "error: source image not found: missing.png"),
        ("align.py", ["a.png"], "error: expected two arguments"),
        ("convert_checkpoint.py", ["missing.pth.tar", "out.keras"],
         "error: Expected a checkpoint file. Received: path='missing.pth.tar'"),
        ("evaluate.py", ["--model=missing.keras", "--dataset_root=."],
         "error: Model file not found: missing.keras"),
        ("export.py", ["--model=missing.keras", "--export_dir=out"],
         "error: Model file not found: missing.keras"),
        ("export.py", ["--model=a.keras", "--export_dir=out", "stray"],
         "error: Unexpected arguments"),
        ("export.py", ["--export_dir=out"], "error: flag --model=None"),
        ("evaluate.py", ["--model=m.keras", "--dataset_root=.", "--unknown_flag"],
         "error: Unknown command line flag 'unknown_flag'"),
        ("evaluate.py", ["--model=m.keras", "--dataset_root=."],
         "error: Pairs file not found; looked for ['./test_pairs_pf.csv', "
         "'./test_pairs_pf_pascal.csv']"),
        ("evaluate.py", ["--model=m.keras", "--dataset_root=.", "--pairs_csv=pairs.csv"],
         "error: pairs.csv, row 1 (line 2): the source image 'a.png' does not exist"),
        ("evaluate.py", ["--model=m.keras", "--dataset_root=.", "--alpha=0.1,-1"],
         "error: Expected one or more finite alphas >= 0"),
        ("train.py", ["--train_dir=missing"],
         "train.py: error: Expected train_dir to be a folder of images. Received: "
         "train_dir='missing' (no such folder)"),
        ("train.py", ["--builtin_samples", "--geometric_model=perspective"],
         "error: flag --geometric_model=perspective: value should be one of"),
    ],
)
def test_input_and_usage_errors_are_one_line_before_tensorflow(tmp_path, program, argv,
                                                                message):
    if program == "align.py":  # a target that exists, so that the source is what is missing
        (tmp_path / "b.png").write_bytes(b"")
    if program == "evaluate.py":  # a model file, and a pairs file naming images that are not there
        (tmp_path / "m.keras").write_bytes(b"")
        (tmp_path / "pairs.csv").write_text(
            "source_image,target_image,class,XA,YA,XB,YB\na.png,b.png,1,1;2,1;2,1;2,1;2\n"
        )
    completed, imported = run_spied(tmp_path, program, *argv)
    assert completed.returncode == 2
    assert completed.stderr.startswith(message), completed.stderr
    assert completed.stderr.count("\n") == 1
    assert completed.stdout == ""
    assert imported == []


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import numpy as np
    from PIL import Image

    from tests.inference.tiny_models import constant_theta_model

    folder = tmp_path_factory.mktemp("programs")
    rng = np.random.default_rng(0)
    for name, shape in (("a.png", (60, 80, 3)), ("b.png", (50, 40, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / name)
    constant_theta_model("affine", [1.0, 0, 0, 0, 1.0, 0]).save(folder / "affine.keras")
    return folder


def _last_line(text):
    return text.rstrip("\n").splitlines()[-1]


def test_align_ends_with_its_result_and_prints_no_tensorflow_lines(files, tmp_path):
    out = tmp_path / "figure.png"
    completed = run_program_process(
        "align.py", files / "a.png", files / "b.png", f"--model={files / 'affine.keras'}",
        f"--out={out}", cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stderr == ""
    assert completed.stdout.startswith("stage 1: affine θ = [1.")
    assert _last_line(completed.stdout) == f"Wrote {out}"


def test_evaluate_ends_with_its_table_and_path(files, tmp_path):
    from keras_geomatch.evaluation import make_fixture_dataset

    data = make_fixture_dataset(tmp_path / "data", num_images=2, transform=[[1, 0, 0], [0, 1, 0]])
    output = tmp_path / "result.json"
    completed = run_program_process(
        "evaluate.py", f"--model={files / 'affine.keras'}", f"--dataset_root={data.root}",
        f"--output_json={output}", cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stderr == ""
    lines = completed.stdout.rstrip("\n").splitlines()
    assert lines[-1] == f"Wrote {output}"
    assert "identity@0.1" in "\n".join(lines[-8:-1])  # the table, just before


def test_export_ends_with_its_result_and_log_level_info_brings_the_messages_back(
    files, tmp_path
):
    quiet = run_program_process(
        "export.py", f"--model={files / 'affine.keras'}", f"--export_dir={tmp_path / 'quiet'}",
        cwd=tmp_path,
    )
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr == ""
    assert quiet.stdout == f"Exported to {tmp_path / 'quiet'}\n"

    # The SavedModel writer's own messages (absl logging, INFO).
    chatty = run_program_process(
        "export.py", f"--model={files / 'affine.keras'}", f"--export_dir={tmp_path / 'chatty'}",
        "--log_level=info", cwd=tmp_path,
    )
    assert chatty.returncode == 0, chatty.stderr[-2000:]
    assert "fingerprint" in chatty.stderr
    assert _last_line(chatty.stdout) == f"Exported to {tmp_path / 'chatty'}"


@pytest.mark.slow
def test_train_ends_with_the_synthetic_pck(tmp_path):
    from tests.trainers.cli import TINY_FLAGS

    completed = run_program_process(
        "train.py", *TINY_FLAGS, "--epochs=1", "--steps_per_epoch=2", "--validation_steps=1",
        f"--workdir={tmp_path / 'work'}", f"--export_dir={tmp_path / 'export'}", cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert _last_line(completed.stdout).startswith(
        "Done: synthetic PCK@0.1 "
    ), completed.stdout[-2000:]
    assert _last_line(completed.stdout).endswith(f"exported to {tmp_path / 'export'}")
    # The export's SavedModel messages. (TensorFlow's start-up lines: see
    # test_help_exits_0_without_starting_tensorflow.)
    assert "fingerprint" not in completed.stderr and "Sharding" not in completed.stderr


def test_the_package_defers_tensorflow_only_when_asked():
    probe = (
        "import sys, keras_geomatch as kg\n"
        "before = 'tensorflow' in sys.modules\n"
        "import keras\n"
        "registered = keras.saving.get_registered_object('keras_geomatch>TransformedGridLoss')\n"
        "kg.build_geomatch_model\n"
        "print(before, registered is not None, 'tensorflow' in sys.modules)\n"
    )
    deferred = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              env=environment(KERAS_GEOMATCH_DEFER_IMPORT="1"), timeout=300)
    eager = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           env=environment(), timeout=300)
    # Deferred: no TensorFlow, nothing registered until the API is used.
    assert deferred.stdout.split() == ["False", "False", "True"], deferred.stderr[-2000:]
    # As usual: TensorFlow and the registered layers and loss on import.
    assert eager.stdout.split() == ["True", "True", "True"], eager.stderr[-2000:]
