"""PairConfig: the reference defaults and validation."""

import dataclasses
import math

import pytest

from keras_geomatch import data


def test_defaults_are_the_reference_values():
    config = data.PairConfig()
    assert config.geometric_model == "affine"
    assert config.image_size == (240, 240)
    assert config.resize_size == (480, 640)
    assert config.grid_scale == pytest.approx(0.28125)
    assert config.padding == (240, 320)
    assert config.padded_size == (960, 1280)
    assert config.affine_max_rotation == pytest.approx(math.pi / 12)
    assert config.affine_max_shear_angle == pytest.approx(math.pi / 6)
    assert config.affine_scale_range == (0.75, 1.25)
    assert config.affine_max_translation == 0.25
    assert config.tps_max_offset == 0.4 and config.hom_max_offset == 0.4
    assert [data.PairConfig(m).num_params for m in ("affine", "hom", "hom_matrix", "tps")] == [6, 8, 9, 18]


def test_lists_become_tuples_and_config_is_frozen():
    config = data.PairConfig("tps", image_size=[64, 48], affine_scale_range=[0.5, 2])
    assert config.image_size == (64, 48)
    assert config.affine_scale_range == (0.5, 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.image_size = (1, 1)
    assert data.PairConfig(**dataclasses.asdict(config)) == config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"geometric_model": "projective"}, "geometric_model"),
        ({"image_size": (240,)}, "image_size"),
        ({"image_size": (240, 1)}, "image_size"),
        ({"image_size": (24.5, 24)}, "image_size"),
        ({"resize_size": "big"}, "resize_size"),
        ({"padding_factor": 0.0}, "padding_factor"),
        ({"padding_factor": 1.5}, "padding_factor"),
        ({"crop_factor": -0.1}, "crop_factor"),
        ({"affine_max_rotation": -1.0}, "affine_max_rotation"),
        ({"affine_max_translation": math.nan}, "affine_max_translation"),
        ({"affine_scale_range": (1.2, 0.8)}, "affine_scale_range"),
        ({"affine_scale_range": (0.0, 1.0)}, "affine_scale_range"),
        ({"tps_max_offset": -0.1}, "tps_max_offset"),
        ({"hom_max_offset": 0.5}, "hom_max_offset"),
    ],
)
def test_bad_values_raise_naming_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.PairConfig(**kwargs)
