"""FeatureRegression (SPEC §1.4): structure, shapes, errors, serialisation."""

import keras
import numpy as np
import pytest

from keras_geomatch.layers import FeatureRegression
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip


def test_paper_structure_for_a_15x15_correlation():
    layer = FeatureRegression(6)
    out = layer(np.random.default_rng(0).normal(size=(2, 15, 15, 225)).astype(np.float32))
    assert out.shape == (2, 6)
    assert layer.conv1.kernel.shape == (7, 7, 225, 128)
    assert layer.conv2.kernel.shape == (5, 5, 128, 64)
    assert layer.linear.kernel.shape == (64 * 5 * 5, 6)  # 1600 features
    assert layer.conv1.padding == layer.conv2.padding == "valid"
    # PyTorch BatchNorm defaults (eps 1e-5, momentum 0.1) for converted weights.
    assert layer.bn1.epsilon == layer.bn2.epsilon == 1e-5
    assert layer.bn1.momentum == layer.bn2.momentum == 0.9
    assert len(layer.trainable_weights) == 10


@pytest.mark.parametrize("output_dim", [6, 8, 9, 18])
def test_output_is_float32_of_size_p(output_dim):
    inputs = keras.Input((11, 13, 143))
    out = FeatureRegression(output_dim)(inputs)
    assert out.shape == (None, output_dim)
    assert FeatureRegression(output_dim).compute_output_shape((4, 11, 11, 121)) == (4, output_dim)


def test_output_stays_float32_under_mixed_precision():
    layer = FeatureRegression(6, dtype="mixed_float16")
    out = layer(np.zeros((1, 11, 11, 121), np.float32))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_bad_arguments_and_inputs_raise():
    with pytest.raises(ValueError, match="output_dim >= 1. Received: output_dim=0"):
        FeatureRegression(0)
    with pytest.raises(ValueError, match="two conv_filters and two kernel_sizes"):
        FeatureRegression(6, conv_filters=(1, 2, 3))
    with pytest.raises(ValueError, match=r"rank 4.*Received: input_shape=\(None, 225\)"):
        FeatureRegression(6)(keras.Input((225,)))
    with pytest.raises(ValueError, match="at least 11×11.*Received: 10×15"):
        FeatureRegression(6)(keras.Input((10, 15, 150)))


def test_config_round_trip():
    clone = assert_config_round_trip(
        FeatureRegression(18, conv_filters=(16, 8), kernel_sizes=(3, 3), name="reg")
    )
    assert clone.conv_filters == (16, 8) and clone.kernel_sizes == (3, 3)


def test_saved_model_round_trip(tmp_path):
    inputs = keras.Input((11, 11, 121))
    model = keras.Model(inputs, FeatureRegression(9, conv_filters=(8, 4))(inputs))
    # A training step moves the BatchNorm statistics off their initial values.
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    correlation = rng.uniform(size=(4, 11, 11, 121)).astype(np.float32)
    model.fit(correlation, rng.normal(size=(4, 9)), epochs=1, verbose=0)
    assert_saved_model_round_trip(model, correlation, tmp_path)


def test_initial_theta_sets_the_dense_bias():
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    layer = FeatureRegression(6, initial_theta=identity)
    layer.build((None, 11, 11, 121))
    np.testing.assert_array_equal(layer.linear.bias.numpy(), np.asarray(identity, "float32"))
    assert FeatureRegression.from_config(layer.get_config()).initial_theta == identity


def test_initial_theta_of_the_wrong_size_is_rejected():
    with pytest.raises(ValueError, match="Expected initial_theta of 6 values. Received: 3"):
        FeatureRegression(6, initial_theta=(1.0, 0.0, 0.0))


@pytest.mark.parametrize("kernel_sizes, smallest", [((7, 5), 11), ((3, 3), 5), ((1, 1), 1)])
def test_smallest_input_is_what_the_valid_convolutions_accept(kernel_sizes, smallest):
    layer = FeatureRegression(6, conv_filters=(4, 2), kernel_sizes=kernel_sizes)
    assert layer.smallest_input == smallest
    # The smallest input reduces to one position; one less is refused.
    assert layer(np.zeros((1, smallest, smallest + 2, smallest * (smallest + 2)))).shape == (1, 6)
    if smallest > 1:
        with pytest.raises(ValueError, match=f"at least {smallest}×{smallest}"):
            FeatureRegression(6, kernel_sizes=kernel_sizes)(
                keras.Input((smallest - 1, smallest, 9))
            )
