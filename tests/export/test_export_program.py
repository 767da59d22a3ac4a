"""trainers/export.py: every flag, the default config, and usage errors."""

import json
import os
import subprocess
import sys

import pytest
from absl import flags

from tests.export.test_atomic_dir import siblings
from trainers import export as export_program

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = os.path.join(REPO, "trainers", "export.py")


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, affine_model, tps_model):
    folder = tmp_path_factory.mktemp("trained")
    affine_model.save(folder / "affine.keras")
    tps_model.save(folder / "tps.keras")
    (folder / "config.json").write_text(json.dumps({"batch_size": 16, "note": "beside"}))
    return folder


def run_program(argv):
    """Parses `argv` on fresh flags and runs main, as `app.run` would."""
    flag_values = flags.FlagValues()
    holders = export_program.define_flags(flag_values)
    remaining = flag_values(["export.py", *argv])
    export_program.main(remaining, holders)


def test_every_flag_does_something(model_files, tmp_path):
    given = tmp_path / "given.json"
    given.write_text(json.dumps({"learning_rate": 0.01}))
    run_program([f"--model={model_files / 'affine.keras'}", f"--model2={model_files / 'tps.keras'}",
                 f"--export_dir={tmp_path / 'out'}", "--version=4", f"--config={given}"])
    out = tmp_path / "out"
    assert os.listdir(out / "serving") == ["4"]  # --version, --export_dir
    assert (out / "model_stage2.keras").is_file()  # --model2
    config = json.loads((out / "config.json").read_text())
    assert config["geometric_models"] == ["affine", "tps"]  # --model, --model2
    assert config["learning_rate"] == 0.01 and "note" not in config  # --config
    assert siblings(out) == []


def test_defaults_version_1_and_the_config_beside_the_model(model_files, tmp_path):
    run_program([f"--model={model_files / 'tps.keras'}", f"--export_dir={tmp_path / 'out'}"])
    assert os.listdir(tmp_path / "out" / "serving") == ["1"]
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["note"] == "beside" and config["geometric_model"] == "tps"
    assert not (tmp_path / "out" / "model_stage2.keras").exists()


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        run_program([f"--model={tmp_path / 'nope.keras'}", f"--export_dir={tmp_path / 'out'}"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["--export_dir=/tmp/x"], "--model"),
    (["--model=a.keras", "--export_dir=/tmp/x", "stray"], "Unexpected arguments"),
    (["--model=a.keras", "--export_dir=/tmp/x", "--version=0"], "version"),
    (["--model=a.keras", "--export_dir=/tmp/x", "--mixed_precision=auto"], "mixed_precision"),
])
def test_usage_errors_from_the_command_line(argv, message):
    result = subprocess.run([sys.executable, PROGRAM, *argv], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": REPO})
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_mixed_precision_exports_a_bf16_savedmodel_close_to_float32(model_files, tmp_path):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    source = tf.constant(rng.integers(0, 256, (1, 70, 90, 3)), tf.uint8)
    target = tf.constant(rng.integers(0, 256, (1, 60, 80, 3)), tf.uint8)
    served = {}
    for policy in ("float32", "mixed_bfloat16"):
        out = tmp_path / policy
        run_program([f"--model={model_files / 'tps.keras'}", f"--export_dir={out}",
                     f"--mixed_precision={policy}"])
        config = json.loads((out / "config.json").read_text())
        assert config["export"]["stages"][0]["compute_dtype_policy"] == policy
        signature = tf.saved_model.load(str(out / "serving" / "1")).signatures["serving_default"]
        served[policy] = signature(source_image=source, target_image=target)
    float32, bf16 = served["float32"], served["mixed_bfloat16"]
    assert bf16["theta"].dtype == tf.float32 and bf16["warped_image"].dtype == tf.uint8
    assert not np.array_equal(bf16["theta"].numpy(), float32["theta"].numpy())
    np.testing.assert_allclose(bf16["theta"].numpy(), float32["theta"].numpy(), atol=2e-2)
