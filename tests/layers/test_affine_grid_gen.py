"""AffineGridGen: identity, numpy map, warp against cv2.warpAffine, serialisation."""

import cv2
import keras
import numpy as np
import pytest

from keras_geomatch.geometry import identity_grid
from keras_geomatch.layers import AffineGridGen
from keras_geomatch.layers import BilinearSampler
from tests.geometry import reference_maps
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip

IDENTITY = np.array([[1, 0, 0, 0, 1, 0]], np.float32)


def test_identity_theta_gives_identity_grid():
    grid = keras.ops.convert_to_numpy(AffineGridGen((5, 8))(np.tile(IDENTITY, (2, 1))))
    assert grid.shape == (2, 5, 8, 2)
    np.testing.assert_allclose(grid[1], identity_grid(5, 8).numpy(), atol=1e-6)


def test_grid_is_the_numpy_map_of_the_identity_grid():
    rng = np.random.default_rng(0)
    theta = reference_maps.random_theta("affine", rng, 3, scale=0.5)
    grid = keras.ops.convert_to_numpy(AffineGridGen((6, 4))(theta))
    points = identity_grid(6, 4).numpy().reshape(-1, 2)
    for b in range(3):
        expected = reference_maps.affine_map(theta[b], points).reshape(6, 4, 2)
        np.testing.assert_allclose(grid[b], expected, atol=1e-6)


def _pixel_matrix(theta, height, width):
    """θ in normalised units → the 2×3 pixel matrix M = S⁻¹·A·S (target px → source px)."""
    to_normalised = np.array(
        [[2 / (width - 1), 0, -1], [0, 2 / (height - 1), -1], [0, 0, 1]], np.float64
    )
    affine = np.vstack([np.asarray(theta, np.float64).reshape(2, 3), [0, 0, 1]])
    return (np.linalg.inv(to_normalised) @ affine @ to_normalised)[:2]


def test_warp_matches_cv2_warp_affine():
    height, width = 31, 45
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack(
        [np.sin(xx / 3.0) * np.cos(yy / 5.0), (xx + 2 * yy) / 100.0, ((xx // 7 + yy // 5) % 2) * 1.0],
        axis=-1,
    ).astype(np.float32)
    theta = np.array([[0.9, 0.15, 0.1, -0.2, 1.1, -0.15]], np.float32)
    grid = AffineGridGen((height, width))(theta)
    ours = keras.ops.convert_to_numpy(BilinearSampler()(image[None], grid))[0]
    matrix = _pixel_matrix(theta[0], height, width)
    expected = np.stack(
        [
            cv2.warpAffine(
                np.ascontiguousarray(image[..., c]),
                matrix,
                (width, height),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            for c in range(3)
        ],
        axis=-1,
    )
    # Part of the target falls outside the source: zeros there on both sides.
    assert np.mean(np.all(expected == 0, axis=-1)) > 0.02
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_bad_theta_and_arguments_raise():
    with pytest.raises(ValueError, match=r"\(batch, 6\).*Received: shape=\(None, 8\)"):
        AffineGridGen((4, 4))(keras.Input((8,)))
    with pytest.raises(ValueError, match=r"\(batch, 6\).*Received: shape=\(None, 2, 3\)"):
        AffineGridGen((4, 4))(keras.Input((2, 3)))
    with pytest.raises(ValueError, match=r"output_size = \(height, width\).*Received: output_size=\(4,\)"):
        AffineGridGen((4,))
    with pytest.raises(ValueError, match=r"Received: output_size=\(0, 4\)"):
        AffineGridGen((0, 4))


def test_config_round_trip():
    clone = assert_config_round_trip(AffineGridGen((12, 20), name="aff"))
    assert clone.output_size == (12, 20)


def test_saved_model_round_trip(tmp_path):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, AffineGridGen((7, 9))(inputs))
    theta = reference_maps.random_theta("affine", np.random.default_rng(1), 2)
    assert_saved_model_round_trip(model, theta, tmp_path)
