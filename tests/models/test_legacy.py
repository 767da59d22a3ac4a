"""`.keras` files of keras-geomatch 0.1 (plain functional models) still load.

The files in `legacy_v0_1/` were written by the v0.1 code (see its README);
`expected.json` holds what they were built with and the θ they gave. Our
loaders turn them into `GeomatchModel`s that say what they are and give the
same θ; saved again, they are files of the current layout.
"""

import json
import os

import keras
import numpy as np
import pytest

from keras_geomatch import export
from keras_geomatch.inference import load_geomatch_model
from keras_geomatch.inference.model_loading import load_stages
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models import GeomatchModel
from keras_geomatch.models import build_geomatch_model
from keras_geomatch.models import is_legacy_model
from keras_geomatch.models import upgrade_legacy_model
from tests.models.legacy_fixture import EXPECTED_FILE
from tests.models.legacy_fixture import FOLDER
from tests.models.legacy_fixture import fixture_inputs

with open(os.path.join(FOLDER, EXPECTED_FILE), encoding="utf-8") as _f:
    EXPECTED = json.load(_f)
FILES = sorted(EXPECTED)
ATTRIBUTES = ("geometric_model", "backbone", "preprocessing", "normalize_matches",
              "train_backbone", "name")


def _theta(model, expected):
    return np.asarray(model(fixture_inputs(expected["image_size"]), training=False))


def _assert_describes(model, expected):
    assert type(model) is GeomatchModel
    for attribute in ATTRIBUTES:
        assert getattr(model, attribute) == expected[attribute], attribute
    assert model.image_size == tuple(expected["image_size"])


@pytest.mark.parametrize("file_name", FILES)
def test_our_loader_upgrades_a_v0_1_file_to_the_same_theta(file_name):
    expected = EXPECTED[file_name]
    model = load_geomatch_model(os.path.join(FOLDER, file_name))
    _assert_describes(model, expected)
    np.testing.assert_allclose(_theta(model, expected), expected["theta"], rtol=0, atol=1e-5)


def test_keras_loads_a_v0_1_file_as_a_functional_that_upgrade_turns_into_a_geomatch_model():
    expected = EXPECTED["tps_small_caffe_plain.keras"]
    old = keras.models.load_model(os.path.join(FOLDER, "tps_small_caffe_plain.keras"))
    assert not isinstance(old, GeomatchModel) and is_legacy_model(old)
    model = upgrade_legacy_model(old)
    _assert_describes(model, expected)
    np.testing.assert_allclose(_theta(model, expected), expected["theta"], rtol=0, atol=1e-5)
    # Its own variables: changing the old model leaves the upgraded one alone.
    assert not {id(v) for v in model.weights} & {id(v) for v in old.weights}
    assert upgrade_legacy_model(model) is model


def test_an_upgraded_model_saves_in_the_current_layout(tmp_path):
    expected = EXPECTED["affine_small.keras"]
    model = load_geomatch_model(os.path.join(FOLDER, "affine_small.keras"))
    model.save(tmp_path / "new.keras")
    reloaded = keras.models.load_model(tmp_path / "new.keras")
    _assert_describes(reloaded, expected)
    np.testing.assert_allclose(_theta(reloaded, expected), expected["theta"], rtol=0, atol=1e-5)


def test_v0_1_weights_files_load_into_a_geomatch_model(tmp_path):
    """Backups and best checkpoints hold `.weights.h5` files of the model:
    those written from a v0.1 model load into the same `GeomatchModel`."""
    expected = EXPECTED["tps_small_caffe_plain.keras"]
    old = keras.models.load_model(os.path.join(FOLDER, "tps_small_caffe_plain.keras"))
    old.save_weights(tmp_path / "old.weights.h5")
    model = build_geomatch_model("tps", "small", weights=None, image_size=(88, 96),
                                 preprocessing="caffe", normalize_matches=False)
    model.load_weights(tmp_path / "old.weights.h5")
    np.testing.assert_allclose(_theta(model, expected), expected["theta"], rtol=0, atol=1e-5)


def test_load_stages_and_export_take_v0_1_files(tmp_path):
    first, second = load_stages(os.path.join(FOLDER, "affine_small.keras"),
                                os.path.join(FOLDER, "tps_small_caffe_plain.keras"))
    assert (first.geometric_model, second.geometric_model) == ("affine", "tps")
    # export_model takes an old in-memory model too, and writes the current layout.
    old = keras.models.load_model(os.path.join(FOLDER, "affine_small.keras"))
    export.export_model(old, tmp_path / "export")
    exported = keras.models.load_model(tmp_path / "export" / "model.keras")
    _assert_describes(exported, EXPECTED["affine_small.keras"])
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert (config["geometric_model"], config["backbone"]) == ("affine", "small")


def test_a_functional_with_another_graph_is_not_upgraded():
    """The same layers wired otherwise (source and target swapped) is caught by θ."""
    base = build_geomatch_model("affine", "small", weights=None, image_size=(88, 88))
    source = keras.Input((88, 88, 3), name=SOURCE_IMAGE)
    target = keras.Input((88, 88, 3), name=TARGET_IMAGE)
    layer = base.get_layer
    pair = layer("pair_batch")([target, source])
    features = layer("feature_l2_norm")(layer("feature_extraction")(layer("preprocess")(pair)))
    correlation = layer("feature_correlation")(*layer("pair_split")(features))
    correlation = layer("match_l2_norm")(layer("match_relu")(correlation))
    theta = layer("feature_regression")(correlation)
    other = keras.Model({SOURCE_IMAGE: source, TARGET_IMAGE: target}, theta)
    assert is_legacy_model(other)
    with pytest.raises(ValueError, match="standard geomatch graph.*θ differs"):
        upgrade_legacy_model(other)
    # A missing or extra layer is named.
    plain = keras.Model({SOURCE_IMAGE: source, TARGET_IMAGE: target},
                        keras.layers.Identity(name="extra")(theta))
    with pytest.raises(ValueError, match=r"layers differ: extra \['extra'\], missing \[\]"):
        upgrade_legacy_model(plain)


def test_a_model_that_is_not_geomatch_is_refused():
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="Expected a geomatch model of keras-geomatch 0.1"):
        upgrade_legacy_model(keras.Model(inputs, keras.layers.Dense(2)(inputs)))


@pytest.mark.parametrize("backbone", ["vgg16", "resnet101_torch"])
def test_the_v0_1_backbone_is_recognised_by_its_layer_names(backbone):
    """The large backbones as a v0.1 model would hold them (a plain functional
    model over the same layers; ResNet without the pair batch)."""
    model = build_geomatch_model("tps", backbone, weights=None, image_size=(176, 192))
    old = keras.Model(model.input, model.output, name="old")
    assert is_legacy_model(old)
    upgraded = upgrade_legacy_model(old)
    assert (upgraded.backbone, upgraded.geometric_model, upgraded.image_size) == (
        backbone, "tps", (176, 192))
    assert upgraded.get_config() == {**model.get_config(), "name": "old"}
