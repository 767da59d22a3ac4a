"""HomographyGridGen in both forms: identity, agreement, numpy, serialisation."""

import keras
import numpy as np
import pytest

from keras_geomatch.geometry import homography_4pt_to_matrix
from keras_geomatch.geometry import identity_grid
from keras_geomatch.geometry import identity_theta
from keras_geomatch.layers import HomographyGridGen
from tests.geometry import reference_maps
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip


@pytest.mark.parametrize("matrix_form", [False, True])
def test_identity_theta_gives_identity_grid(matrix_form):
    theta = identity_theta("hom_matrix" if matrix_form else "hom", 2)
    grid = keras.ops.convert_to_numpy(HomographyGridGen((6, 9), matrix_form=matrix_form)(theta))
    np.testing.assert_allclose(grid[0], identity_grid(6, 9).numpy(), atol=1e-6)


def test_matrix_form_grid_equals_4pt_grid():
    rng = np.random.default_rng(0)
    theta = reference_maps.random_theta("hom", rng, 3, scale=0.4)
    matrix = homography_4pt_to_matrix(theta).numpy().reshape(3, 9)
    four_point = keras.ops.convert_to_numpy(HomographyGridGen((8, 5))(theta))
    from_matrix = keras.ops.convert_to_numpy(HomographyGridGen((8, 5), matrix_form=True)(matrix))
    np.testing.assert_allclose(from_matrix, four_point, atol=1e-5)


def test_4pt_grid_matches_numpy():
    rng = np.random.default_rng(1)
    theta = reference_maps.random_theta("hom", rng, 2, scale=0.4)
    grid = keras.ops.convert_to_numpy(HomographyGridGen((5, 7))(theta))
    points = identity_grid(5, 7).numpy().reshape(-1, 2)
    for b in range(2):
        expected = reference_maps.map_points(theta[b], points, "hom").reshape(5, 7, 2)
        np.testing.assert_allclose(grid[b], expected, atol=1e-5)


def test_bad_theta_raises():
    with pytest.raises(ValueError, match=r"\(batch, 8\).*'hom'.*Received: shape=\(None, 9\)"):
        HomographyGridGen((4, 4))(keras.Input((9,)))
    with pytest.raises(ValueError, match=r"\(batch, 9\).*'hom_matrix'.*Received: shape=\(None, 8\)"):
        HomographyGridGen((4, 4), matrix_form=True)(keras.Input((8,)))
    with pytest.raises(ValueError, match=r"Received: shape=\(None, 3, 3\)"):
        HomographyGridGen((4, 4), matrix_form=True)(keras.Input((3, 3)))


@pytest.mark.parametrize("matrix_form", [False, True])
def test_config_round_trip(matrix_form):
    clone = assert_config_round_trip(HomographyGridGen((12, 20), matrix_form=matrix_form))
    assert clone.matrix_form is matrix_form
    assert clone.geometric_model == ("hom_matrix" if matrix_form else "hom")


@pytest.mark.parametrize("matrix_form", [False, True])
def test_saved_model_round_trip(tmp_path, matrix_form):
    name = "hom_matrix" if matrix_form else "hom"
    inputs = keras.Input((9 if matrix_form else 8,))
    model = keras.Model(inputs, HomographyGridGen((7, 9), matrix_form=matrix_form)(inputs))
    theta = reference_maps.random_theta(name, np.random.default_rng(2), 2)
    loaded = assert_saved_model_round_trip(model, theta, tmp_path)
    assert loaded.layers[-1].matrix_form is matrix_form
