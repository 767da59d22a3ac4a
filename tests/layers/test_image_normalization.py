"""ImageNormalization (SPEC §3) against Keras preprocess_input and the formula."""

import keras
import numpy as np
import pytest

from keras_geomatch.layers import ImageNormalization
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip


def _images(seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(2, 5, 6, 3)).astype(np.float32)


def test_caffe_equals_keras_vgg16_preprocess_input():
    images = _images()
    expected = keras.applications.vgg16.preprocess_input(images.copy())
    out = keras.ops.convert_to_numpy(ImageNormalization("caffe")(images))
    np.testing.assert_allclose(out, expected, atol=1e-4)
    resnet = keras.applications.resnet.preprocess_input(images.copy())
    np.testing.assert_allclose(out, resnet, atol=1e-4)


def test_torch_equals_the_spec_formula():
    images = _images(1)
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    expected = (images / 255.0 - mean) / std
    out = keras.ops.convert_to_numpy(ImageNormalization("torch")(images))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_unit_divides_by_255():
    images = _images(2)
    out = keras.ops.convert_to_numpy(ImageNormalization("unit")(images))
    np.testing.assert_allclose(out, images / 255.0, atol=1e-6)


def test_integer_images_are_accepted():
    images = np.full((1, 2, 2, 3), 255, np.uint8)
    out = keras.ops.convert_to_numpy(ImageNormalization("unit")(images))
    np.testing.assert_allclose(out, 1.0)


def test_bad_arguments_and_inputs_raise():
    with pytest.raises(ValueError, match=r"Expected one of \('caffe', 'torch', 'unit'\). Received: mode='tf'"):
        ImageNormalization("tf")
    with pytest.raises(ValueError, match=r"\(batch, height, width, 3\). Received: shape=\(None, 5, 3\)"):
        ImageNormalization()(keras.Input((5, 3)))
    with pytest.raises(ValueError, match=r"Received: shape=\(None, 5, 5, 1\)"):
        ImageNormalization()(keras.Input((5, 5, 1)))


@pytest.mark.parametrize("mode", ["caffe", "torch", "unit"])
def test_config_round_trip(mode):
    assert ImageNormalization.from_config(ImageNormalization(mode).get_config()).mode == mode
    assert_config_round_trip(ImageNormalization(mode))


def test_saved_model_round_trip(tmp_path):
    inputs = keras.Input((5, 6, 3))
    model = keras.Model(inputs, ImageNormalization("torch")(inputs))
    loaded = assert_saved_model_round_trip(model, _images(3), tmp_path)
    assert loaded.layers[-1].mode == "torch"
