"""PairConfig: the reference defaults, validation, per-model ranges and flat names."""

import ast
import dataclasses
import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

import keras_geomatch
from keras_geomatch import data
from keras_geomatch import geometry
from keras_geomatch.data import pair_config
from keras_geomatch.geometry import ranges as ranges_module


def _flatten(config_class):
    """The flattening rule of pair_config's docstring, written out: {flat name: default}."""
    flat = {}
    for field in dataclasses.fields(config_class):
        if "flag_prefix" in field.metadata:
            for inner in dataclasses.fields(field.default_factory):
                flat[field.metadata["flag_prefix"] + inner.name] = inner.default
        else:
            flat[field.name] = field.default
    return flat


def test_defaults_are_the_reference_values():
    config = data.PairConfig()
    assert config.geometric_model == "affine"
    assert config.image_size == (240, 240)
    assert config.resize_size == (480, 640)
    assert config.grid_scale == pytest.approx(0.28125)
    assert config.padding == (240, 320)
    assert config.padded_size == (960, 1280)
    assert config.affine.max_rotation == pytest.approx(math.pi / 12)
    assert config.affine.max_shear_angle == pytest.approx(math.pi / 6)
    assert config.affine.scale_range == (0.75, 1.25)
    assert config.affine.max_translation == 0.25
    assert config.tps.max_offset == 0.4 and config.hom.max_offset == 0.4
    assert [data.PairConfig(m).num_params for m in ("affine", "hom", "hom_matrix", "tps")] == [6, 8, 9, 18]


def test_flat_names_are_the_command_line_names():
    flat = _flatten(data.PairConfig)
    assert list(flat) == [
        "geometric_model", "image_size", "resize_size", "padding_factor", "crop_factor",
        "affine_max_rotation", "affine_max_shear_angle", "affine_scale_range",
        "affine_max_translation", "tps_max_offset", "hom_max_offset",
    ]
    assert flat["affine_scale_range"] == (0.75, 1.25) and flat["hom_max_offset"] == 0.4


def test_every_field_has_a_help_text():
    classes = [data.PairConfig, geometry.AffineRanges, geometry.TpsRanges, geometry.HomographyRanges]
    for config_class in classes:
        for field in dataclasses.fields(config_class):
            assert field.metadata.get("help", "").strip(), f"{config_class.__name__}.{field.name}"


@pytest.mark.parametrize("module", [pair_config, ranges_module])
def test_module_imports_only_the_standard_library_and_ranges(module):
    # The command-line programs define their flags from these modules before
    # TensorFlow starts: their top-level imports must not reach it.
    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    ours = {name for name in imported if name.split(".")[0] == "keras_geomatch"}
    assert ours <= {"keras_geomatch.geometry.ranges", "keras_geomatch.geometry.geometric_model"}
    others = imported - ours
    assert all(name.split(".")[0] in sys.stdlib_module_names for name in others), others


@pytest.mark.skipif(not hasattr(keras_geomatch, "DEFER_IMPORT_ENV"), reason="no deferred import")
def test_config_classes_are_read_without_tensorflow():
    code = (
        "import dataclasses, sys\n"
        "from keras_geomatch import data\n"
        "from keras_geomatch.geometry import AffineRanges\n"
        "fields = dataclasses.fields(data.PairConfig)\n"
        "assert fields[5].default_factory() == AffineRanges()\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF started'\n"
    )
    env = {**os.environ, keras_geomatch.DEFER_IMPORT_ENV: "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_ranges_of_each_model():
    config = data.PairConfig(tps={"max_offset": 0.1}, hom=geometry.HomographyRanges(0.2))
    assert config.ranges_for("affine") is config.affine
    assert config.ranges_for("tps") == geometry.TpsRanges(0.1)
    assert config.ranges_for("hom") == config.ranges_for("hom_matrix") == geometry.HomographyRanges(0.2)
    tps_config = data.PairConfig("tps")
    assert tps_config.ranges_for() is tps_config.tps
    for name, model in geometry.GEOMETRIC_MODELS.items():
        assert isinstance(config.ranges_for(name), model.ranges)


def test_lists_and_dicts_are_converted_and_config_is_frozen():
    config = data.PairConfig("tps", image_size=[64, 48], affine={"scale_range": [0.5, 2]})
    assert config.image_size == (64, 48)
    assert config.affine == geometry.AffineRanges(scale_range=(0.5, 2.0))
    assert config.affine.max_rotation == pytest.approx(math.pi / 12)  # the others keep their defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.image_size = (1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.affine.max_rotation = 1.0
    assert data.PairConfig(**dataclasses.asdict(config)) == config
    # Through JSON too (the run's config file): tuples come back as lists.
    assert data.PairConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
    assert hash(config) == hash(data.PairConfig(**dataclasses.asdict(config)))


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
        ({"affine": {"max_rotation": -1.0}}, "affine_max_rotation"),
        ({"affine": {"max_shear_angle": math.inf}}, "affine_max_shear_angle"),
        ({"affine": {"max_translation": math.nan}}, "affine_max_translation"),
        ({"affine": {"scale_range": (1.2, 0.8)}}, "affine_scale_range"),
        ({"affine": {"scale_range": (0.0, 1.0)}}, "affine_scale_range"),
        ({"tps": {"max_offset": -0.1}}, "tps_max_offset"),
        ({"hom": {"max_offset": 0.5}}, "hom_max_offset"),
        ({"hom": {"max_rotation": 0.1}}, r"hom.*\['max_offset'\].*Received"),
        ({"tps": 0.3}, "Expected tps as a TpsRanges"),
        ({"tps": geometry.HomographyRanges()}, "Expected tps as a TpsRanges"),
    ],
)
def test_bad_values_raise_naming_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.PairConfig(**kwargs)


def test_ranges_classes_check_their_values_on_their_own():
    with pytest.raises(ValueError, match=r"affine_max_rotation in \[0.0, inf\). Received: affine_max_rotation=-0.1"):
        geometry.AffineRanges(max_rotation=-0.1)
    with pytest.raises(ValueError, match=r"hom_max_offset in \[0.0, 0.5\)"):
        geometry.HomographyRanges(max_offset=0.6)
