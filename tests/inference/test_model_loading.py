import keras
import numpy as np
import pytest

from keras_geomatch.inference import find_geomatch_model
from keras_geomatch.inference import load_geomatch_model
from keras_geomatch.inference.model_loading import describe_geomatch_model
from keras_geomatch.models import GeomatchModel
from keras_geomatch.models import add_warped_image_output
from tests.inference.tiny_models import tiny_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    model = tiny_model("tps", image_size=(88, 96))
    model.save(folder / "tps.keras")
    add_warped_image_output(model).save(folder / "wrapped.keras")
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    other.save(folder / "other.keras")
    (folder / "notes.keras").write_text("this is not a model\n")
    (folder / "notes.txt").write_text("this is not a model either\n")
    return folder, model


def test_loads_a_saved_geomatch_model(saved):
    folder, model = saved
    loaded = load_geomatch_model(str(folder / "tps.keras"))
    assert type(loaded) is GeomatchModel and loaded.get_config() == model.get_config()
    assert loaded.image_size == (88, 96)
    assert describe_geomatch_model(loaded) == f"tps, 88×96 input ({model.name})"
    inputs = {
        "source_image": np.random.default_rng(0).uniform(0, 255, (1, 88, 96, 3)),
        "target_image": np.random.default_rng(1).uniform(0, 255, (1, 88, 96, 3)),
    }
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-6)


def test_finds_the_geomatch_model_inside_a_wrapper(saved):
    folder, model = saved
    wrapped = keras.models.load_model(folder / "wrapped.keras", compile=False)
    assert "feature_regression" not in [layer.name for layer in wrapped.layers]
    inner = load_geomatch_model(folder / "wrapped.keras")
    assert type(inner) is GeomatchModel and inner.geometric_model == "tps"
    assert inner.get_layer("feature_regression").output_dim == 18
    assert find_geomatch_model(model) is model


def test_missing_file_and_directory(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        load_geomatch_model(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="Received a directory"):
        load_geomatch_model(str(tmp_path))


@pytest.mark.parametrize("name", ["notes.keras", "notes.txt"])
def test_a_text_file_is_a_value_error(saved, name):
    folder, _ = saved
    with pytest.raises(
        ValueError, match=r"Cannot load .* as a Keras model: expected a \.keras file"
    ):
        load_geomatch_model(str(folder / name))


def test_a_keras_model_that_is_not_geomatch_is_a_value_error(saved):
    folder, _ = saved
    with pytest.raises(ValueError, match=r"Expected a geomatch model .*without \['preprocess'"):
        load_geomatch_model(str(folder / "other.keras"))
    with pytest.raises(ValueError, match="Received: str"):
        find_geomatch_model("model.keras")
