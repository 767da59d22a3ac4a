"""Affine point map (SPEC §2) against numpy."""

import numpy as np

from keras_geomatch.geometry import affine_map_points
from keras_geomatch.geometry.affine import AFFINE_IDENTITY
from tests.geometry import reference_maps


def test_identity_constant_is_spec():
    assert AFFINE_IDENTITY == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def test_identity_maps_points_to_themselves():
    points = np.random.default_rng(0).uniform(-1, 1, size=(2, 30, 2)).astype(np.float32)
    theta = np.tile(np.array(AFFINE_IDENTITY, np.float32), (2, 1))
    np.testing.assert_allclose(affine_map_points(theta, points).numpy(), points, atol=1e-7)


def test_matches_numpy_row_major_layout():
    rng = np.random.default_rng(1)
    theta = reference_maps.random_theta("affine", rng, 4, scale=0.5)
    points = rng.uniform(-1.2, 1.2, size=(4, 25, 2)).astype(np.float32)
    out = affine_map_points(theta, points).numpy()
    for b in range(4):
        np.testing.assert_allclose(
            out[b], reference_maps.affine_map(theta[b], points[b]), atol=1e-6
        )


def test_translation_moves_x_by_tx():
    theta = np.array([[1, 0, 0.25, 0, 1, -0.5]], np.float32)
    out = affine_map_points(theta, np.zeros((1, 1, 2), np.float32)).numpy()
    np.testing.assert_allclose(out[0, 0], [0.25, -0.5])
