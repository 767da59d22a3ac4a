"""Homography: 4-point form → matrix, and the matrix map (SPEC §2)."""

import cv2
import numpy as np
import pytest

from keras_geomatch.geometry import homography_4pt_to_matrix
from keras_geomatch.geometry import homography_map_points
from keras_geomatch.geometry import map_points
from keras_geomatch.geometry.homography import HOMOGRAPHY_CORNERS_X
from keras_geomatch.geometry.homography import HOMOGRAPHY_CORNERS_Y
from keras_geomatch.geometry.homography import HOMOGRAPHY_MATRIX_IDENTITY
from tests.geometry import reference_maps


def test_convention_homography_corner_order():
    assert HOMOGRAPHY_CORNERS_X == (-1.0, -1.0, 1.0, 1.0)
    assert HOMOGRAPHY_CORNERS_Y == (-1.0, 1.0, -1.0, 1.0)
    # θ[i], θ[4 + i] is where corner i = (CORNERS_X[i], CORNERS_Y[i]) goes.
    theta = np.array([[-0.9, -1.1, 0.8, 1.2, -1.05, 0.95, -0.85, 1.1]], np.float32)
    corners = np.stack([HOMOGRAPHY_CORNERS_X, HOMOGRAPHY_CORNERS_Y], axis=1)[None]
    matrix = homography_4pt_to_matrix(theta)
    mapped = homography_map_points(matrix, corners.astype(np.float32)).numpy()[0]
    np.testing.assert_allclose(mapped[:, 0], theta[0, :4], atol=1e-5)
    np.testing.assert_allclose(mapped[:, 1], theta[0, 4:], atol=1e-5)


def test_identity_4pt_gives_identity_matrix():
    theta = np.array([HOMOGRAPHY_CORNERS_X + HOMOGRAPHY_CORNERS_Y], np.float32)
    np.testing.assert_allclose(
        homography_4pt_to_matrix(theta).numpy()[0], np.eye(3), atol=1e-6
    )
    assert np.allclose(np.reshape(HOMOGRAPHY_MATRIX_IDENTITY, (3, 3)), np.eye(3))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_4pt_to_matrix_matches_cv2_get_perspective_transform(dtype):
    rng = np.random.default_rng(0)
    theta = reference_maps.random_theta("hom", rng, 8, scale=0.4).astype(dtype)
    ours = homography_4pt_to_matrix(theta).numpy()
    corners = np.stack([HOMOGRAPHY_CORNERS_X, HOMOGRAPHY_CORNERS_Y], axis=1).astype(np.float32)
    tolerance = 1e-9 if dtype == np.float64 else 2e-5
    for b in range(len(theta)):
        destination = np.stack([theta[b, :4], theta[b, 4:]], axis=1).astype(np.float32)
        # The target corners go to θ's corners: H maps target → source.
        expected = cv2.getPerspectiveTransform(corners, destination)
        np.testing.assert_allclose(ours[b], expected / expected[2, 2], atol=tolerance * 10)
        np.testing.assert_allclose(ours[b, 2, 2], 1.0)


def test_4pt_to_matrix_matches_spec_8x8_solve():
    rng = np.random.default_rng(1)
    theta = reference_maps.random_theta("hom", rng, 5, scale=0.4).astype(np.float64)
    ours = homography_4pt_to_matrix(theta).numpy()
    for b in range(len(theta)):
        np.testing.assert_allclose(
            ours[b], reference_maps.homography_from_4pt(theta[b]), atol=1e-10
        )


def test_matrix_map_matches_numpy_and_accepts_flat_form():
    rng = np.random.default_rng(2)
    theta = reference_maps.random_theta("hom_matrix", rng, 3)
    points = rng.uniform(-1, 1, size=(3, 40, 2)).astype(np.float32)
    flat = homography_map_points(theta, points).numpy()
    square = homography_map_points(theta.reshape(3, 3, 3), points).numpy()
    np.testing.assert_array_equal(flat, square)
    for b in range(3):
        np.testing.assert_allclose(
            flat[b], reference_maps.homography_map(theta[b], points[b]), atol=1e-5
        )


def test_matrix_form_maps_like_4pt_form():
    rng = np.random.default_rng(3)
    theta_4pt = reference_maps.random_theta("hom", rng, 4, scale=0.4)
    matrix = homography_4pt_to_matrix(theta_4pt).numpy().reshape(4, 9)
    points = rng.uniform(-1, 1, size=(64, 2)).astype(np.float32)
    np.testing.assert_allclose(
        map_points(matrix, points, "hom_matrix").numpy(),
        map_points(theta_4pt, points, "hom").numpy(),
        atol=1e-5,
    )
    # The matrix form is scale-invariant: 2·H maps the same points.
    np.testing.assert_allclose(
        map_points(2.0 * matrix, points, "hom_matrix").numpy(),
        map_points(theta_4pt, points, "hom").numpy(),
        atol=1e-5,
    )
