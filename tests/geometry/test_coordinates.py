"""Pixel ↔ normalised coordinates and the identity grid (SPEC §2)."""

import numpy as np

from keras_geomatch.geometry import identity_grid
from keras_geomatch.geometry import normalized_to_pixel
from keras_geomatch.geometry import pixel_to_normalized


def test_identity_grid_values_non_square():
    grid = identity_grid(4, 7).numpy()
    assert grid.shape == (4, 7, 2)
    xs, ys = np.linspace(-1, 1, 7), np.linspace(-1, 1, 4)
    for i in range(4):
        for j in range(7):
            np.testing.assert_allclose(grid[i, j], [xs[j], ys[i]], atol=1e-6)


def test_identity_grid_size_one_sits_at_the_centre():
    grid = identity_grid(1, 3).numpy()
    np.testing.assert_allclose(grid[0, :, 1], 0.0)
    np.testing.assert_allclose(grid[0, :, 0], [-1, 0, 1], atol=1e-6)


def test_convention_x_along_width():
    # x (channel 0) changes along the columns, y (channel 1) along the rows.
    grid = identity_grid(3, 5).numpy()
    assert np.all(np.diff(grid[..., 0], axis=1) > 0)
    assert np.all(np.diff(grid[..., 0], axis=0) == 0)
    assert np.all(np.diff(grid[..., 1], axis=0) > 0)
    assert np.all(np.diff(grid[..., 1], axis=1) == 0)
    # A point (x, y) = (column, row): pixel column 4 of a 5-wide image is x = +1.
    np.testing.assert_allclose(
        pixel_to_normalized(np.array([[4.0, 0.0]]), (3, 5)).numpy(), [[1.0, -1.0]]
    )


def test_convention_corner_aligned():
    height, width = 6, 9
    corners_px = np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]], float)
    corners_n = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], float)
    np.testing.assert_allclose(pixel_to_normalized(corners_px, (height, width)).numpy(), corners_n)
    np.testing.assert_allclose(normalized_to_pixel(corners_n, (height, width)).numpy(), corners_px)
    # The centre pixel of an odd-sized side is 0, not half a pixel off.
    np.testing.assert_allclose(
        pixel_to_normalized(np.array([[4.0, 2.5]]), (height, width)).numpy(), [[0.0, 0.0]]
    )


def test_convention_spec_formula_zero_based():
    rng = np.random.default_rng(0)
    height, width = 37, 53
    points = rng.uniform(-5, 60, size=(100, 2))
    expected = np.stack(
        [2 * points[:, 0] / (width - 1) - 1, 2 * points[:, 1] / (height - 1) - 1], axis=1
    )
    np.testing.assert_allclose(
        pixel_to_normalized(points, (height, width)).numpy(), expected, atol=1e-12
    )


def test_convention_spec_formula_one_based():
    # The reference's point code takes 1-based pixels: x_n = (x - 1 - (W-1)/2)·2/(W-1).
    rng = np.random.default_rng(1)
    height, width = 240, 320
    one_based = rng.uniform(1, 320, size=(50, 2))
    expected = np.stack(
        [
            (one_based[:, 0] - 1 - (width - 1) / 2) * 2 / (width - 1),
            (one_based[:, 1] - 1 - (height - 1) / 2) * 2 / (height - 1),
        ],
        axis=1,
    )
    np.testing.assert_allclose(
        pixel_to_normalized(one_based - 1, (height, width)).numpy(), expected, atol=1e-12
    )


def test_pixel_normalized_round_trip():
    rng = np.random.default_rng(2)
    size = (31, 47)
    points = rng.uniform(-10, 60, size=(3, 20, 2)).astype(np.float32)
    back = normalized_to_pixel(pixel_to_normalized(points, size), size).numpy()
    np.testing.assert_allclose(back, points, atol=1e-4)
    normalised = rng.uniform(-1.5, 1.5, size=(20, 2))
    again = pixel_to_normalized(normalized_to_pixel(normalised, size), size).numpy()
    np.testing.assert_allclose(again, normalised, atol=1e-12)


def test_image_size_broadcasts_per_sample():
    # One size per sample (e.g. a batch of pairs of different sizes).
    points = np.array([[[10.0, 5.0]], [[10.0, 5.0]]])
    sizes = (np.array([[11.0], [21.0]]), np.array([[21.0], [41.0]]))
    out = pixel_to_normalized(points, sizes).numpy()
    np.testing.assert_allclose(out[0, 0], [0.0, 0.0])
    np.testing.assert_allclose(out[1, 0], [-0.5, -0.5])
