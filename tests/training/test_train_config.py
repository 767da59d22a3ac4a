"""TrainConfig: defaults, validation of bad values and contradictions, JSON."""

import dataclasses
import json
import math
import os

import pytest

from keras_geomatch import config_flags
from keras_geomatch.data import PairConfig
from keras_geomatch.models import backbones
from keras_geomatch.models import mixed_precision
from keras_geomatch.training import TrainConfig
from keras_geomatch.training import train_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny(**changes):
    values = dict(backbone="small", weights="none", train_backbone=True, image_size=(88, 88),
                  builtin_samples=True)
    values.update(changes)
    return TrainConfig.from_dict(values)


def test_defaults_are_the_papers():
    config = TrainConfig()
    assert config.image_size == (240, 240)
    assert (config.batch_size, config.epochs, config.learning_rate) == (16, 20, 1e-3)
    assert config.lr_schedule == "constant"
    assert config.backbone == "vgg16" and config.weights == "imagenet"
    assert not config.train_backbone
    assert config.loss_grid_size == 20


def test_every_pair_config_setting_is_a_train_config_setting_and_none_is_copied():
    pair_names = set(config_flags.to_flat(PairConfig()))
    assert pair_names <= set(TrainConfig().to_dict())
    # PairConfig is nested whole, not copied field by field.
    assert not pair_names & {f.name for f in dataclasses.fields(TrainConfig)}


def test_pair_config_defaults_match():
    assert tiny().pair_config() == PairConfig("affine", image_size=(88, 88))
    assert TrainConfig().pairs == PairConfig()


def test_pair_config_carries_the_fields():
    config = tiny(geometric_model="tps", tps_max_offset=0.2, resize_size=(240, 320))
    pair = config.pairs
    assert config.pair_config() is pair
    assert (pair.geometric_model, pair.tps.max_offset, pair.resize_size) == ("tps", 0.2, (240, 320))
    assert (config.geometric_model, config.image_size) == ("tps", (88, 88))


def test_json_round_trip():
    config = tiny(lr_schedule="step", lr_step_epochs=(3, 7), epochs=10, affine_scale_range=(0.8, 1.2))
    text = config.to_json()
    values = json.loads(text)
    assert isinstance(values["image_size"], list)
    assert values["affine_scale_range"] == [0.8, 1.2]  # flat names, as the flags
    assert TrainConfig.from_json(text) == config


def test_a_config_json_of_the_flat_version_still_loads():
    # config.json as written before PairConfig was nested (a workdir to resume).
    previous = {
        "geometric_model": "tps", "backbone": "small", "weights": "none",
        "image_size": [88, 88], "train_backbone": True, "preprocessing": "auto",
        "builtin_samples": True, "train_dir": "", "train_list": "", "val_dir": "",
        "val_list": "", "resize_size": [120, 160], "padding_factor": 0.5,
        "crop_factor": 0.5625, "affine_max_rotation": 0.2617993877991494,
        "affine_max_shear_angle": 0.5235987755982988, "affine_scale_range": [0.75, 1.25],
        "affine_max_translation": 0.25, "tps_max_offset": 0.3, "hom_max_offset": 0.4,
        "augment": False, "feature_cache": "", "feature_cache_dtype": "float16",
        "batch_size": 2, "epochs": 1, "steps_per_epoch": 2, "validation_steps": 1,
        "learning_rate": 0.001, "lr_schedule": "constant", "lr_decay_rate": None,
        "lr_step_epochs": [], "lr_min_ratio": None, "loss_grid_size": 20, "seed": 0,
        "jit_compile": "auto", "strategy": "default", "mixed_precision": "float32",
        "backup_every_steps": 100, "verbose": 1, "model_name": "m", "workdir": "w",
        "export_dir": "e", "export_at_end": True,
    }
    config = TrainConfig.from_dict(previous)
    assert (config.pairs.tps.max_offset, config.pairs.resize_size) == (0.3, (120, 160))
    assert json.loads(config.to_json()) == previous


def test_lists_become_tuples():
    config = TrainConfig.from_dict({"image_size": [96, 96], "lr_step_epochs": [2]})
    assert (config.image_size, config.lr_step_epochs) == ((96, 96), (2,))
    assert TrainConfig(lr_step_epochs=[2, 3]).lr_step_epochs == (2, 3)


def test_pairs_must_be_a_pair_config():
    with pytest.raises(ValueError, match="Expected pairs as a PairConfig"):
        TrainConfig(pairs={"image_size": (96, 96)})


def test_the_choices_listed_without_keras_are_the_registries():
    assert train_config.BACKBONE_NAMES == tuple(sorted(backbones.BACKBONES))
    assert train_config.MIXED_PRECISION_POLICIES == mixed_precision.CHOICES


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="bogus"):
        TrainConfig.from_dict({"bogus": 1})


def test_resolved_fills_automatic_values():
    config = tiny(model_name="", batch_size=4).resolved(num_train_files=10, num_val_files=5)
    assert config.model_name == "affine_small"
    assert config.workdir == "workdirs/affine_small"
    assert config.export_dir == "saved_models/affine_small"
    assert config.steps_per_epoch == 2  # 10 // 4
    assert config.validation_steps == 2  # ceil(5 / 4)


def test_mixed_precision_auto_is_the_default_and_resolves_to_a_policy():
    assert TrainConfig().mixed_precision == "auto"
    config = tiny().resolved(10, 5)
    expected, _ = mixed_precision.resolve_dtype_policy("auto")
    assert config.mixed_precision == expected
    assert config.mixed_precision in ("float32", "mixed_bfloat16")
    for explicit in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert tiny(mixed_precision=explicit).resolved(10, 5).mixed_precision == explicit


def test_resolved_keeps_explicit_values():
    config = tiny(model_name="m", workdir="w", export_dir="e", steps_per_epoch=7,
                  validation_steps=3).resolved(100, 100)
    assert (config.workdir, config.export_dir, config.steps_per_epoch,
            config.validation_steps) == ("w", "e", 7, 3)


def test_resolved_decay_defaults():
    assert tiny(lr_schedule="step", lr_step_epochs=(2,), epochs=3).resolved().lr_decay_rate == 0.1
    assert tiny(lr_schedule="exponential").resolved().lr_decay_rate == 0.9
    assert tiny(lr_schedule="cosine").resolved().lr_min_ratio == 0.0
    assert tiny().resolved().lr_decay_rate is None


def test_resolved_without_export_has_no_export_dir():
    assert tiny(export_at_end=False).resolved().export_dir == ""


def test_differences():
    a, b = tiny(), tiny(epochs=3)
    assert a.differences(b) == {"epochs": (20, 3)}
    # Settings of the pairs by their flat names.
    assert tiny(tps_max_offset=0.2).differences(a) == {"tps_max_offset": (0.2, 0.4)}


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(weights="imagenet"), "has no ImageNet weights"),
        (dict(weights="/no/such/file.h5"), "no such file"),
        (dict(train_dir="/x"), "exactly one training source"),
        (dict(builtin_samples=False), "exactly one training source"),
        (dict(builtin_samples=False, train_dir="a", train_list="b"), "exactly one"),
        (dict(val_dir="v"), "builtin_samples brings its own"),
        (dict(builtin_samples=False, train_dir="a", val_dir="v", val_list="l"), "at most one"),
        (dict(lr_decay_rate=0.5), "lr_decay_rate applies"),
        (dict(lr_min_ratio=0.1), "lr_min_ratio applies"),
        (dict(lr_step_epochs=(2,)), "lr_step_epochs applies"),
        (dict(lr_schedule="step"), "Expected lr_step_epochs"),
        (dict(lr_schedule="step", lr_step_epochs=(5, 2)), "increasing"),
        (dict(lr_schedule="step", lr_step_epochs=(20,)), r"\[1, 19\]"),
        (dict(lr_schedule="exponential", lr_decay_rate=1.5), "0 < lr_decay_rate < 1"),
        (dict(lr_schedule="cosine", lr_min_ratio=1.0), "0 <= lr_min_ratio < 1"),
        (dict(strategy="multi_worker", jit_compile="true"), "XLA"),
        (dict(strategy="multi_worker", mixed_precision="mixed_float16"), "loss scaling"),
        (dict(export_at_end=False, export_dir="e"), "export_at_end=False"),
        (dict(model_name="a/b"), "model_name"),
        (dict(workdir="runs/a", export_dir="runs/a"), "must not be the workdir"),
        (dict(workdir="runs/a/work", export_dir="runs/a"), "or contain it"),
        (dict(image_size=(80, 88)), "image_size"),
        (dict(image_size=(88,)), "image_size"),
        (dict(backbone="vgg", weights="none"), "Unknown backbone"),
        (dict(geometric_model="perspective"), "Unknown geometric_model"),
        (dict(lr_schedule="linear"), "Unknown lr_schedule"),
        (dict(strategy="tpu"), "Unknown strategy"),
        (dict(jit_compile="yes"), "Unknown jit_compile"),
        (dict(mixed_precision="float16"), "Unknown mixed_precision"),
        (dict(preprocessing="imagenet"), "Unknown preprocessing"),
        (dict(verbose=3), "Unknown verbose"),
        (dict(batch_size=0), "batch_size"),
        (dict(epochs=0), "epochs"),
        (dict(steps_per_epoch=-1), "steps_per_epoch"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=math.nan), "learning_rate"),
        (dict(loss_grid_size=1), "loss_grid_size"),
        (dict(backup_every_steps=-1), "backup_every_steps"),
        (dict(hom_max_offset=0.6), "hom_max_offset"),
        (dict(affine_scale_range=(1.2, 0.8)), "affine_scale_range"),
    ],
)
def test_validate_rejects(changes, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        tiny(**changes).validate()


def test_validate_accepts_a_local_weights_file(tmp_path):
    path = tmp_path / "w.h5"
    path.write_bytes(b"")
    tiny(backbone="vgg16", weights=str(path), image_size=(176, 176)).validate()


def test_validate_returns_the_config():
    config = tiny()
    assert config.validate() is config


def test_resolved_checks_the_default_folders_too():
    with pytest.raises(ValueError, match="must not be the workdir"):
        tiny(model_name="m", export_dir="workdirs/m").resolved()
    tiny(workdir="runs/a", export_dir="runs/a_export").resolved()  # a prefix, not a parent


def test_the_image_size_check_is_the_models():
    from keras_geomatch import models

    with pytest.raises(ValueError) as expected:
        models.check_image_size((80, 88), "small")
    with pytest.raises(ValueError) as error:
        tiny(image_size=(80, 88)).validate()
    assert str(error.value) == str(expected.value)
