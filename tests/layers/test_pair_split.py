"""PairSplit: a batch of [sources; targets] back into its two halves."""

import keras
import numpy as np
import pytest

from keras_geomatch.layers import PairSplit
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip


def test_splits_first_and_second_half():
    pairs = np.arange(6 * 2 * 3, dtype=np.float32).reshape(6, 2, 3)
    first, second = PairSplit()(pairs)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first), pairs[:3])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(second), pairs[3:])


def test_symbolic_shapes_and_float32_under_mixed_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = PairSplit()
        first, second = layer(keras.Input((5, 5, 8)))
    finally:
        keras.config.set_dtype_policy(previous)
    assert tuple(first.shape) == tuple(second.shape) == (None, 5, 5, 8)
    assert layer.compute_dtype == "float32"
    assert layer.compute_output_shape((4, 5, 8)) == ((2, 5, 8), (2, 5, 8))


def test_odd_static_batch_raises():
    with pytest.raises(ValueError, match=r"even batch.*Received: input_shape=\(3, 4\)"):
        PairSplit().build((3, 4))


def test_config_round_trip():
    assert_config_round_trip(PairSplit(name="pair_split"))


def test_saved_model_round_trip(tmp_path):
    inputs = keras.Input((3,))
    first, second = PairSplit()(inputs)
    model = keras.Model(inputs, keras.layers.Subtract()([first, second]))
    pairs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    assert_saved_model_round_trip(model, pairs, tmp_path)
