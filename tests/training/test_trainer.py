"""train(): a tiny run in-process, then the same command again, then a clash."""

import dataclasses
import json
import logging
import os

import keras
import pytest

import keras_geomatch  # noqa: F401  (registers the layers for load_model)
from keras_geomatch.training import TrainConfig
from keras_geomatch.training import train


def tiny_config(tmp_path, **changes):
    values = dict(
        backbone="small", weights="none", train_backbone=True, image_size=(88, 88),
        resize_size=(120, 160), builtin_samples=True, batch_size=2, epochs=1,
        steps_per_epoch=2, validation_steps=1, verbose=0, model_name="tiny",
        workdir=str(tmp_path / "work"), export_dir=str(tmp_path / "export"),
    )
    values.update(changes)
    return TrainConfig.from_dict(values)


def test_run_then_rerun_then_a_different_config(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="keras_geomatch")
    config = tiny_config(tmp_path)
    result = train(config)
    assert result["start_step"] == 0
    assert result["config"] == config.resolved(7, 2)
    assert TrainConfig.load(tmp_path / "work" / "config.json") == result["config"]
    metrics = json.loads((tmp_path / "work" / "metrics.json").read_text())
    assert metrics == result["metrics"]
    assert metrics["global_step"] == 2 and metrics["synthetic_pck"]["num_pairs"] == 2
    assert set(result["history"]) >= {"loss", "val_loss"}
    model = keras.models.load_model(tmp_path / "export" / "model.keras")
    assert model.output.shape == (None, 6)

    # The same config again: a finished run is not trained again; the
    # evaluation and export are redone from the final backup.
    caplog.clear()
    again = train(config)
    assert again["start_step"] == 2 and again["history"] == {}
    assert "global step 2 of 2" in caplog.text
    assert again["metrics"]["synthetic_pck"] == metrics["synthetic_pck"]

    # A different run in the same workdir is refused, naming the difference.
    with pytest.raises(ValueError, match=r"holds a different run(.|\n)*epochs: 1 in the workdir, 2"):
        train(dataclasses.replace(config, epochs=2))
    # Changes that do not alter what is computed are allowed.
    train(dataclasses.replace(config, verbose=2, export_at_end=False, export_dir=""))
    # float32 ↔ mixed_bfloat16 too (mixed_precision='auto' on another
    # machine): the same float32 variables; mixed_float16 adds loss scaling.
    used = result["config"].mixed_precision
    assert used in ("float32", "mixed_bfloat16")
    other = "float32" if used == "mixed_bfloat16" else "mixed_bfloat16"
    assert train(dataclasses.replace(config, mixed_precision=other))["start_step"] == 2
    with pytest.raises(ValueError, match=r"cannot resume with mixed_precision='mixed_float16'"):
        train(dataclasses.replace(config, mixed_precision="mixed_float16"))


def test_workdir_argument_overrides_the_config(tmp_path):
    config = tiny_config(tmp_path, export_at_end=False, export_dir="", workdir="")
    result = train(config, workdir=tmp_path / "elsewhere")
    assert result["config"].workdir == str(tmp_path / "elsewhere")
    assert os.path.isfile(tmp_path / "elsewhere" / "metrics.json")
    assert result["export_dir"] is None



def _offline(monkeypatch):
    def fail(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x_notop.h5: None")

    monkeypatch.setattr(keras.applications, "VGG16", fail)


def test_offline_imagenet_weights_name_the_alternatives(monkeypatch):
    from keras_geomatch.models import build_backbone

    _offline(monkeypatch)
    with pytest.raises(ValueError) as error:
        build_backbone("vgg16", (176, 176), weights="imagenet")
    message = str(error.value)
    assert "\n" not in message and "URL fetch failure" in message
    assert "weights=FILE" in message and "weights='torchvision'" in message


def test_a_run_that_failed_before_training_does_not_block_a_retry(tmp_path, monkeypatch):
    _offline(monkeypatch)
    failing = tiny_config(tmp_path, backbone="vgg16", weights="imagenet", train_backbone=False,
                          image_size=(176, 176))
    with pytest.raises(ValueError, match="offline"):
        train(failing)
    assert os.path.isfile(tmp_path / "work" / "config.json")
    # Other settings in the same workdir: nothing was trained, so no refusal.
    result = train(tiny_config(tmp_path, export_at_end=False, export_dir=""))
    assert result["metrics"]["global_step"] == 2


@pytest.mark.parametrize("weights, mode", [("torchvision", "torch"), ("imagenet", "caffe")])
def test_copies_of_the_model_normalise_as_its_weights_expect(tmp_path, weights, mode):
    # The export and a resumed run build the model with random weights first:
    # the normalisation must still be the one of the configured weights.
    from keras_geomatch.training.trainer import build_model

    config = tiny_config(tmp_path, backbone="vgg16", weights=weights, train_backbone=False,
                         image_size=(176, 176))
    assert build_model(config, random_init=True).get_layer("preprocess").mode == mode
