"""`export_model`: directory layout, config.json, errors, and crashes mid-export."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_geomatch
from keras_geomatch import export
from keras_geomatch.export import exporter
from keras_geomatch.inference.chain import StageModel
from tests.export.conftest import IMAGE_SIZE
from tests.export.conftest import TRAINING_CONFIG
from tests.export.test_atomic_dir import make_leftovers
from tests.export.test_atomic_dir import siblings
from tests.export.test_atomic_dir import snapshot


def test_single_stage_layout_and_keras_model(single_export, affine_model):
    assert sorted(os.listdir(single_export)) == ["config.json", "model.keras", "serving"]
    assert os.listdir(single_export / "serving") == ["1"]
    assert (single_export / "serving" / "1" / "saved_model.pb").is_file()
    loaded = keras.models.load_model(single_export / "model.keras")
    rng = np.random.default_rng(0)
    inputs = {k: rng.uniform(0, 255, (1, *IMAGE_SIZE, 3)).astype("float32")
              for k in ("source_image", "target_image")}
    np.testing.assert_allclose(loaded(inputs).numpy(), affine_model(inputs).numpy(), atol=1e-6)
    assert siblings(single_export) == []


def test_single_stage_config(single_export):
    config = json.loads((single_export / "config.json").read_text())
    for key, value in TRAINING_CONFIG.items():
        assert config[key] == value
    assert config["geometric_model"] == "affine"
    assert config["geometric_models"] == ["affine"]
    assert config["image_size"] == [88, 88]
    assert config["backbone"] == "small"
    assert config["keras_geomatch_version"] == keras_geomatch.__version__
    assert config["export"]["version"] == 1
    assert config["export"]["stages"][0]["file"] == "model.keras"
    assert set(config["export"]["signatures"]) == {"serving_default", "map_points"}


def test_two_stage_layout_and_config(two_stage_export, tps_model):
    assert sorted(os.listdir(two_stage_export)) == [
        "config.json", "model.keras", "model_stage2.keras", "serving"]
    assert os.listdir(two_stage_export / "serving") == ["7"]
    stage2 = keras.models.load_model(two_stage_export / "model_stage2.keras")
    assert stage2.get_layer("feature_regression").output_dim == 18
    config = json.loads((two_stage_export / "config.json").read_text())
    assert config["geometric_models"] == ["affine", "tps"]
    assert "geometric_model" not in config
    assert [s["file"] for s in config["export"]["stages"]] == ["model.keras", "model_stage2.keras"]
    outputs = config["export"]["signatures"]["serving_default"]["outputs"]
    assert set(outputs) == {"theta_stage1", "theta_stage2", "warped_image"}


@dataclasses.dataclass
class _DataclassConfig:
    learning_rate: float = 0.5
    image_size: tuple = (88, 88)


class _ObjectConfig:
    def to_dict(self):
        return {"learning_rate": np.float32(0.25), "steps": np.int64(3)}


@pytest.mark.parametrize("config, expected", [
    (None, {}),
    (_DataclassConfig(), {"learning_rate": 0.5, "image_size": [88, 88]}),
    (_ObjectConfig(), {"learning_rate": 0.25, "steps": 3}),
])
def test_config_objects_are_written_as_json(affine_model, config, expected):
    contents = exporter.export_config(
        [StageModel.from_model(affine_model)], exporter.config_to_dict(config), 1)
    written = json.loads(json.dumps(contents, default=exporter._json_default))
    for key, value in expected.items():
        assert written[key] == value


@pytest.mark.parametrize("kwargs, message", [
    ({"version": 0}, "Expected version to be a positive integer"),
    ({"version": "1"}, "Expected version to be a positive integer"),
    ({"config": 3}, "Expected config to be None, a dict"),
])
def test_bad_arguments_are_value_errors_and_write_nothing(affine_model, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export.export_model(affine_model, tmp_path / "export", **kwargs)
    assert os.listdir(tmp_path) == []


def test_the_model_says_what_it_is_whatever_the_config_says(affine_model):
    """config.json describes the exported model: the model's own attributes
    replace what a (mistaken) config says."""
    given = {"geometric_model": "tps", "image_size": [240, 240], "backbone": "vgg16", "lr": 1}
    contents = exporter.export_config([StageModel.from_model(affine_model)], given, 1)
    assert contents["geometric_model"] == affine_model.geometric_model == "affine"
    assert contents["image_size"] == list(affine_model.image_size)
    assert contents["backbone"] == affine_model.backbone and contents["lr"] == 1
    stage = contents["export"]["stages"][0]
    assert stage["preprocessing"] == affine_model.preprocessing
    assert stage["normalize_matches"] is affine_model.normalize_matches is True


def test_a_model_without_the_two_inputs_is_rejected(tmp_path):
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="Expected a model with the inputs"):
        export.export_model(keras.Model(inputs, inputs), tmp_path / "export")


def _fail_after(function):
    def failing(*args, **kwargs):
        function(*args, **kwargs)
        raise RuntimeError("injected failure")
    return failing


def _fail_before(*args, **kwargs):
    raise RuntimeError("injected failure")


@pytest.mark.parametrize("failure", ["model_saved", "saved_model_written", "swap"])
def test_an_exception_mid_export_keeps_the_previous_export(
    failure, single_export, tps_model, tmp_path, monkeypatch
):
    target = tmp_path / "export"
    shutil.copytree(single_export, target)
    before = snapshot(target)
    if failure == "model_saved":
        monkeypatch.setattr(type(tps_model), "save", _fail_after(type(tps_model).save))
    elif failure == "saved_model_written":
        monkeypatch.setattr(exporter, "write_saved_model", _fail_after(exporter.write_saved_model))
    else:
        monkeypatch.setattr(exporter.atomic_dir, "replace_directory", _fail_before)
    with pytest.raises(RuntimeError, match="injected failure"):
        export.export_model(tps_model, target, version=2)
    assert snapshot(target) == before
    assert siblings(target) == []


def test_the_start_of_an_export_removes_only_a_killed_exports_folders(
    affine_model, tmp_path, monkeypatch
):
    target = tmp_path / "affine"
    ours, not_ours = make_leftovers(target)
    left_when_saving = []
    save = type(affine_model).save

    def look_then_save(self, *args, **kwargs):
        left_when_saving.append([name for name in ours if (tmp_path / name).exists()])
        return save(self, *args, **kwargs)

    monkeypatch.setattr(type(affine_model), "save", look_then_save)
    export.export_model(affine_model, target, version=1)
    assert left_when_saving == [[]]  # gone before the (slow) writing starts
    assert sorted(os.listdir(tmp_path)) == sorted(not_ours + ["affine"])


KILLED_EXPORT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from tests.export.conftest import near_identity_model
    from keras_geomatch.export import exporter as module

    write = module.write_saved_model
    def write_then_die(*args, **kwargs):
        write(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    module.write_saved_model = write_then_die
    module.export_model(near_identity_model("tps", seed=3), sys.argv[1], version=2)
    """
)


@pytest.mark.slow
def test_a_killed_export_keeps_the_previous_export(single_export, tps_model, tmp_path):
    """SIGKILL right after the SavedModel is written, then a new export succeeds.

    Slow (a process that imports TensorFlow and exports); `test_atomic_dir`
    kills writers at every step of the directory swap in milliseconds.
    """
    target = tmp_path / "export"
    shutil.copytree(single_export, target)
    before = snapshot(target)
    script = tmp_path / "killed_export.py"
    script.write_text(KILLED_EXPORT)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(script), str(target), repo], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert snapshot(target) == before
    staging = [tmp_path / name for name in siblings(target)]
    assert staging and (staging[0] / "serving" / "2" / "saved_model.pb").is_file()
    export.export_model(tps_model, target, version=3)
    assert os.listdir(target / "serving") == ["3"]
    assert json.loads((target / "config.json").read_text())["geometric_model"] == "tps"
    assert siblings(target) == []


def test_a_model_with_a_warped_image_output_is_rejected(affine_model, tmp_path):
    with pytest.raises(ValueError, match=r"only output is θ"):
        export.export_model(keras_geomatch.add_warped_image_output(affine_model), tmp_path / "e")
