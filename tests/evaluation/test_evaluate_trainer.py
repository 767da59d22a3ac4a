"""trainers/evaluate.py: every flag reaches the config; the program runs end to end."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from absl import app
from absl import flags

from keras_geomatch.evaluation import EvaluationConfig
from keras_geomatch.evaluation import make_fixture_dataset
from tests.inference.tiny_models import constant_theta_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "trainers", "evaluate.py")
REQUIRED = ["--model=m.keras", "--dataset_root=data"]


def _load_trainer():
    spec = importlib.util.spec_from_file_location("trainers_evaluate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


trainer = _load_trainer()


def _config(*argv):
    flag_values = flags.FlagValues()
    trainer.define_flags(flag_values)
    flag_values(["evaluate.py", *argv])
    return trainer.config_from_flags(flag_values)


def test_defaults():
    assert _config(*REQUIRED) == EvaluationConfig(model="m.keras", dataset_root="data")


@pytest.mark.parametrize(
    "flag, field, value",
    [
        ("--model2=t.keras", "model2", "t.keras"),
        ("--dataset=pf-pascal", "dataset", "pf-pascal"),
        ("--pairs_csv=p.csv", "pairs_csv", "p.csv"),
        ("--alpha=0.05,0.1,0.15", "alphas", (0.05, 0.1, 0.15)),
        ("--batch_size=3", "batch_size", 3),
        ("--output_json=r.json", "output_json", "r.json"),
        ("--nocache_features", "use_feature_cache", False),
        ("--mixed_precision=float32", "mixed_precision", "float32"),
    ],
)
def test_every_flag_reaches_the_config(flag, field, value):
    default = _config(*REQUIRED)
    config = _config(*REQUIRED, flag)
    assert getattr(config, field) == value != getattr(default, field)


def test_required_flags_and_the_model_and_root_values():
    config = _config("--model=a/b.keras", "--dataset_root=/data/willow")
    assert (config.model, config.dataset_root) == ("a/b.keras", "/data/willow")
    flag_values = flags.FlagValues()
    trainer.define_flags(flag_values)
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values(["evaluate.py", "--dataset_root=data"])  # --model missing


def test_bad_flag_values_are_refused():
    with pytest.raises(flags.IllegalFlagValueError):
        _config(*REQUIRED, "--dataset=willow")
    with pytest.raises(flags.IllegalFlagValueError):
        _config(*REQUIRED, "--batch_size=0")
    with pytest.raises(ValueError, match="--alpha as comma-separated float values"):
        _config(*REQUIRED, "--alpha=0.1,big")
    with pytest.raises(ValueError, match="finite alphas >= 0"):
        _config(*REQUIRED, "--alpha=0.1,-0.05")


def test_the_flags_are_the_config_fields():
    flag_values = flags.FlagValues()
    names = trainer.define_flags(flag_values)
    assert names == [
        "model", "dataset_root", "model2", "dataset", "pairs_csv", "alpha", "batch_size",
        "output_json", "cache_features", "mixed_precision",
    ]
    assert "verbose" not in flag_values  # the program always shows its progress bar
    # Every flag has its help text (not the fallback: the field's name).
    assert all(flag_values[name].help not in ("", name) for name in names)
    for missing in REQUIRED:  # each of the two is required
        given = [arg for arg in REQUIRED if arg != missing]
        flag_values = flags.FlagValues()
        trainer.define_flags(flag_values)
        with pytest.raises(flags.IllegalFlagValueError, match=missing.split("=")[0][2:]):
            flag_values(["evaluate.py", *given])


def test_check_inputs_reads_the_pairs_before_tensorflow_is_needed(tmp_path):
    data = make_fixture_dataset(tmp_path / "data", num_images=2, transform=[[1, 0, 0], [0, 1, 0]])
    model = tmp_path / "m.keras"
    model.write_bytes(b"")  # only its existence is checked here
    trainer.check_inputs(_config(f"--model={model}", f"--dataset_root={data.root}"))
    with pytest.raises(FileNotFoundError, match="Pairs file not found"):
        trainer.check_inputs(_config(f"--model={model}", f"--dataset_root={tmp_path}"))
    with pytest.raises(FileNotFoundError, match="Expected --dataset_root to be a folder"):
        trainer.check_inputs(_config(f"--model={model}", f"--dataset_root={tmp_path / 'no'}"))
    (tmp_path / "bad.csv").write_text("a,b,c\n")
    with pytest.raises(ValueError, match="cannot tell the pairs format"):
        trainer.check_inputs(_config(f"--model={model}", f"--dataset_root={data.root}",
                                     f"--pairs_csv={tmp_path / 'bad.csv'}"))


def test_main_rejects_stray_arguments():
    with pytest.raises(app.UsageError, match="Unexpected arguments"):
        trainer.main(["evaluate.py", "extra"])


def _run_script(*argv):
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, SCRIPT, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def test_the_program_evaluates_and_writes_json(tmp_path):
    data = make_fixture_dataset(tmp_path / "data", num_images=2, transform=[[1, 0, 0], [0, 1, 0]])
    model = tmp_path / "affine.keras"
    constant_theta_model("affine", [1.0, 0, 0, 0, 1.0, 0]).save(model)
    output = tmp_path / "result.json"
    completed = _run_script(
        f"--model={model}",
        f"--dataset_root={data.root}",
        "--alpha=0.05,0.1",
        f"--output_json={output}",
    )
    assert completed.returncode == 0, completed.stderr
    assert "identity@0.05" in completed.stdout
    document = json.loads(output.read_text())
    assert document["pck"]["affine"]["all"] == [1.0, 1.0]  # identity transform, identity θ
    assert document["pck"]["identity"]["all"] == [1.0, 1.0]

    missing = _run_script(f"--model={tmp_path / 'missing.keras'}", f"--dataset_root={data.root}")
    assert missing.returncode == 2
    assert "error: Model file not found" in missing.stderr and "Traceback" not in missing.stderr
