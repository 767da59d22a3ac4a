"""TpsGridGen: identity, affine-only TPS, numpy fit with regularisation, serialisation."""

import keras
import numpy as np
import pytest

from keras_geomatch.geometry import TPS_CONTROL_X
from keras_geomatch.geometry import TPS_CONTROL_Y
from keras_geomatch.geometry import identity_grid
from keras_geomatch.layers import AffineGridGen
from keras_geomatch.layers import TpsGridGen
from tests.geometry import reference_maps
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip

IDENTITY = np.array([TPS_CONTROL_X + TPS_CONTROL_Y], np.float32)


def test_identity_theta_gives_identity_grid():
    grid = keras.ops.convert_to_numpy(TpsGridGen((9, 6))(IDENTITY))
    np.testing.assert_allclose(grid[0], identity_grid(9, 6).numpy(), atol=1e-5)


def test_identity_tps_grid_equals_identity_affine_grid():
    tps = keras.ops.convert_to_numpy(TpsGridGen((10, 13))(IDENTITY))
    affine = keras.ops.convert_to_numpy(
        AffineGridGen((10, 13))(np.array([[1, 0, 0, 0, 1, 0]], np.float32))
    )
    np.testing.assert_allclose(tps, affine, atol=1e-5)


@pytest.mark.parametrize("reg_factor", [0.0, 0.3])
def test_affine_only_tps_grid_equals_affine_grid(reg_factor):
    # An affine TPS target is reproduced exactly, with or without smoothing.
    rng = np.random.default_rng(0)
    affine = reference_maps.random_theta("affine", rng, 3, scale=0.4)
    control = np.stack([TPS_CONTROL_X, TPS_CONTROL_Y], axis=1)
    theta = np.stack([reference_maps.affine_map(a, control).T.reshape(18) for a in affine])
    tps = keras.ops.convert_to_numpy(TpsGridGen((8, 11), reg_factor=reg_factor)(theta.astype(np.float32)))
    expected = keras.ops.convert_to_numpy(AffineGridGen((8, 11))(affine))
    np.testing.assert_allclose(tps, expected, atol=1e-5)


@pytest.mark.parametrize("reg_factor", [0.0, 0.2])
def test_grid_matches_numpy_fit(reg_factor):
    rng = np.random.default_rng(1)
    theta = reference_maps.random_theta("tps", rng, 2, scale=0.4)
    grid = keras.ops.convert_to_numpy(TpsGridGen((7, 5), reg_factor=reg_factor)(theta))
    points = identity_grid(7, 5).numpy().reshape(-1, 2)
    for b in range(2):
        expected = reference_maps.tps_map(theta[b], points, reg_factor).reshape(7, 5, 2)
        np.testing.assert_allclose(grid[b], expected, atol=1e-5)


def test_bad_theta_and_arguments_raise():
    with pytest.raises(ValueError, match=r"\(batch, 18\).*Received: shape=\(None, 6\)"):
        TpsGridGen((4, 4))(keras.Input((6,)))
    with pytest.raises(ValueError, match=r"\(batch, 18\).*Received: shape=\(None, 2, 9\)"):
        TpsGridGen((4, 4))(keras.Input((2, 9)))
    with pytest.raises(ValueError, match="reg_factor >= 0. Received: reg_factor=-1"):
        TpsGridGen((4, 4), reg_factor=-1)


def test_config_round_trip():
    clone = assert_config_round_trip(TpsGridGen((12, 20), reg_factor=0.25, name="tps"))
    assert clone.reg_factor == 0.25 and clone.output_size == (12, 20)


def test_saved_model_round_trip(tmp_path):
    inputs = keras.Input((18,))
    model = keras.Model(inputs, TpsGridGen((7, 9), reg_factor=0.1)(inputs))
    theta = reference_maps.random_theta("tps", np.random.default_rng(2), 2)
    loaded = assert_saved_model_round_trip(model, theta, tmp_path)
    assert loaded.layers[-1].reg_factor == 0.1
