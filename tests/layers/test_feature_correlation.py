"""FeatureCorrelation (SPEC §1.3) against a plain numpy loop."""

import keras
import numpy as np
import pytest

from keras_geomatch.layers import FeatureCorrelation
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip


def _numpy_correlation(features_a, features_b):
    """out[b, iB, jB, rowA + h·colA] = <fA[b, rowA, colA], fB[b, iB, jB]>."""
    batch, height, width, _ = features_a.shape
    out = np.zeros((batch, height, width, height * width))
    for b in range(batch):
        for i_b in range(height):
            for j_b in range(width):
                for row_a in range(height):
                    for col_a in range(width):
                        out[b, i_b, j_b, row_a + height * col_a] = np.dot(
                            features_a[b, row_a, col_a], features_b[b, i_b, j_b]
                        )
    return out


@pytest.mark.parametrize("size", [(4, 4), (3, 5), (6, 2)])
def test_matches_numpy_loop(size):
    rng = np.random.default_rng(0)
    features_a = rng.normal(size=(2, *size, 7)).astype(np.float32)
    features_b = rng.normal(size=(2, *size, 7)).astype(np.float32)
    out = keras.ops.convert_to_numpy(FeatureCorrelation()(features_a, features_b))
    assert out.shape == (2, *size, size[0] * size[1])
    np.testing.assert_allclose(out, _numpy_correlation(features_a, features_b), atol=1e-5)


def test_channel_order_is_column_major_over_a():
    # A one-hot A at (rowA, colA) = (1, 2) of a 3×4 map lights channel 1 + 3·2 = 7.
    features_a = np.zeros((1, 3, 4, 1), np.float32)
    features_a[0, 1, 2, 0] = 1.0
    features_b = np.ones((1, 3, 4, 1), np.float32)
    out = keras.ops.convert_to_numpy(FeatureCorrelation()(features_a, features_b))
    assert np.all(out[0, :, :, 7] == 1.0)
    assert np.count_nonzero(out) == 12


def test_symbolic_and_computed_output_shape():
    a, b = keras.Input((3, 5, 8)), keras.Input((3, 5, 8))
    assert FeatureCorrelation()(a, b).shape == (None, 3, 5, 15)
    assert FeatureCorrelation().compute_output_shape((None, 15, 15, 4), (None, 15, 15, 4)) == (
        None, 15, 15, 225,
    )


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"features_a of rank 4.*Received: shape=\(2, 5, 8\)"):
        FeatureCorrelation()(np.zeros((2, 5, 8), np.float32), np.zeros((2, 5, 8), np.float32))
    with pytest.raises(ValueError, match=r"features_b of rank 4.*Received: shape=\(2, 4, 4\)"):
        FeatureCorrelation()(np.zeros((2, 4, 4, 8), np.float32), np.zeros((2, 4, 4), np.float32))
    with pytest.raises(
        ValueError, match=r"same.*features_a shape=\(1, 4, 4, 8\).*features_b shape=\(1, 4, 5, 8\)"
    ):
        FeatureCorrelation()(np.zeros((1, 4, 4, 8), np.float32), np.zeros((1, 4, 5, 8), np.float32))
    with pytest.raises(ValueError, match="same"):
        FeatureCorrelation()(np.zeros((1, 4, 4, 8), np.float32), np.zeros((1, 4, 4, 6), np.float32))


def test_config_round_trip():
    assert_config_round_trip(FeatureCorrelation(name="corr"))


def test_saved_model_round_trip(tmp_path):
    a, b = keras.Input((3, 4, 6)), keras.Input((3, 4, 6))
    model = keras.Model([a, b], FeatureCorrelation()(a, b))
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(2, 3, 4, 6)).astype(np.float32) for _ in range(2)]
    assert_saved_model_round_trip(model, inputs, tmp_path)
