"""FeatureL2Norm (SPEC §1.2) against numpy."""

import keras
import numpy as np
import pytest

from keras_geomatch.layers import FeatureL2Norm
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip


def _numpy_l2_norm(features, epsilon=1e-6):
    features = features.astype(np.float64)
    return features / np.sqrt(np.sum(features**2, axis=-1, keepdims=True) + epsilon)


def test_matches_numpy():
    features = np.random.default_rng(0).normal(size=(2, 5, 4, 16)).astype(np.float32)
    out = keras.ops.convert_to_numpy(FeatureL2Norm()(features))
    np.testing.assert_allclose(out, _numpy_l2_norm(features), atol=1e-6)
    np.testing.assert_allclose(np.sum(out**2, axis=-1), 1.0, atol=1e-5)


def test_epsilon_is_inside_the_square_root():
    # |f| = 1e-3: inside → 1e-3 / sqrt(1e-6 + 1e-6); outside would give ≈ 1/(1+1e-3).
    features = np.array([[1e-3, 0.0]], np.float32)
    out = keras.ops.convert_to_numpy(FeatureL2Norm()(features))
    np.testing.assert_allclose(out[0, 0], 1e-3 / np.sqrt(2e-6), rtol=1e-4)
    zeros = keras.ops.convert_to_numpy(FeatureL2Norm(epsilon=0.5)(np.zeros((1, 3), np.float32)))
    np.testing.assert_array_equal(zeros, 0.0)
    custom = keras.ops.convert_to_numpy(FeatureL2Norm(epsilon=0.5)(np.ones((1, 2), np.float32)))
    np.testing.assert_allclose(custom, 1 / np.sqrt(2.5), rtol=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="epsilon > 0. Received: epsilon=0"):
        FeatureL2Norm(epsilon=0)
    with pytest.raises(ValueError, match=r"rank >= 2.*Received: input_shape=\(5,\)"):
        FeatureL2Norm().build((5,))


def test_config_round_trip():
    clone = assert_config_round_trip(FeatureL2Norm(epsilon=1e-3, name="norm"))
    assert clone.epsilon == 1e-3


def test_saved_model_round_trip(tmp_path):
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, FeatureL2Norm(epsilon=1e-4)(inputs))
    features = np.random.default_rng(1).normal(size=(2, 4, 4, 8)).astype(np.float32)
    loaded = assert_saved_model_round_trip(model, features, tmp_path)
    assert loaded.layers[-1].epsilon == 1e-4
