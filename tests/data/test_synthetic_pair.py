"""A synthetic pair: the source/target geometry and the mirror padding (SPEC §3)."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import data
from keras_geomatch import geometry
from tests.data.image_fixtures import smooth_rgb


def _padded_pixels(grid, config):
    """The reference's coordinates: grid · grid_scale on the padded image, in
    0-based pixels of the *unpadded* image (written out independently)."""
    (height, width), (pad_h, pad_w) = config.resize_size, config.padding
    padded_h, padded_w = height + 2 * pad_h, width + 2 * pad_w
    scaled = config.grid_scale * np.asarray(grid, np.float64)
    x = (scaled[..., 0] + 1) / 2 * (padded_w - 1) - pad_w
    y = (scaled[..., 1] + 1) / 2 * (padded_h - 1) - pad_h
    return x, y


def test_fold_equals_sampling_the_symmetrically_padded_image():
    config = data.PairConfig(resize_size=(12, 16))
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, size=(1, 12, 16, 3)).astype(np.float32)
    padded = tf.pad(image, [[0, 0], [6, 6], [8, 8], [0, 0]], mode="SYMMETRIC")
    # Points all over the padded image (|grid_scale · q| <= 0.99).
    grid = rng.uniform(-0.99, 0.99, size=(1, 40, 50, 2)).astype(np.float32) / config.grid_scale
    expected = geometry.bilinear_sample(padded, config.grid_scale * grid)
    folded = data.crop_grid_to_image_grid(grid, config)
    assert np.abs(folded.numpy()).max() <= 1.0
    np.testing.assert_allclose(geometry.bilinear_sample(image, folded), expected, atol=1e-3)


def test_fold_matches_opencv_border_reflect_far_outside_too():
    config = data.PairConfig(resize_size=(12, 16))
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, size=(12, 16)).astype(np.float32)
    grid = rng.uniform(-9, 9, size=(30, 40, 2)).astype(np.float32)
    map_x, map_y = _padded_pixels(grid, config)
    # BORDER_REFLECT is "fedcba|abcdefgh|hgfedcba", i.e. symmetric padding,
    # repeated as far as needed.
    expected = cv2.remap(
        image, map_x.astype(np.float32), map_y.astype(np.float32),
        interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT,
    )
    folded = data.crop_grid_to_image_grid(grid[None], config)
    ours = geometry.bilinear_sample(image[None, ..., None], folded)[0, ..., 0]
    np.testing.assert_allclose(ours, expected, atol=1e-2)


def test_identity_theta_gives_target_equal_to_source():
    config = data.PairConfig("tps", image_size=(24, 20), resize_size=(30, 40))
    image = smooth_rgb(30, 40)[None]
    theta = geometry.identity_theta("tps", batch_size=1)
    source, target = data.make_synthetic_pairs(image, theta, config)
    assert source.shape == (1, 24, 20, 3) and source.dtype == tf.float32
    np.testing.assert_allclose(source, target, atol=1e-3)


def test_source_is_the_central_crop():
    config = data.PairConfig(image_size=(9, 9), resize_size=(60, 80))
    image = smooth_rgb(60, 80)
    source, _ = data.make_synthetic_pairs(image[None], geometry.identity_theta("affine", 1), config)
    grid = geometry.identity_grid(9, 9).numpy()
    map_x, map_y = _padded_pixels(grid, config)
    # The crop lies inside the image: no border rule is involved.
    assert map_x.min() > 0 and map_x.max() < 79 and map_y.min() > 0 and map_y.max() < 59
    # Centred, 9/16 of the width and height.
    assert map_x[0, 0] + map_x[0, -1] == pytest.approx(79.0)
    assert (map_x[0, -1] - map_x[0, 0]) / 80 == pytest.approx(9 / 16, rel=0.01)
    assert (map_y[-1, 0] - map_y[0, 0]) / 60 == pytest.approx(9 / 16, rel=0.01)
    expected = cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR)
    np.testing.assert_allclose(source[0], expected, atol=1e-2)


@pytest.mark.parametrize("model", ["affine", "hom", "tps"])
def test_target_is_source_sampled_at_theta_of_target_points(model):
    """θgt maps target → source: target(p) = source(T_θ(p)) inside the source."""
    config = data.PairConfig(model, image_size=(64, 64), resize_size=(120, 160))
    images = np.stack([smooth_rgb(120, 160, seed=s) for s in range(4)])
    theta = tf.stack([data.random_theta(model, (7, i), config) for i in range(4)])
    source, target = data.make_synthetic_pairs(images, theta, config)
    grid = geometry.transform_grid(theta, model, 64, 64)
    resampled = geometry.bilinear_sample(source, grid).numpy()
    inside = np.all(np.abs(grid.numpy()) <= 0.98, axis=-1)
    assert inside.mean() > 0.3
    error = np.abs(resampled - target.numpy())[inside]
    # Interpolating the source between its pixels: small on a smooth image.
    assert error.max() < 2.0 and error.mean() < 0.3
    # And the property is not trivially true: the target differs from the source.
    assert np.abs(target.numpy() - source.numpy()).mean() > 5.0


def test_no_black_pixels_even_for_extreme_theta():
    config = data.PairConfig("affine", image_size=(48, 48), resize_size=(60, 80))
    image = smooth_rgb(60, 80)  # values >= 20
    c, s = np.cos(0.7), np.sin(0.7)
    theta = np.array([[3 * c, -3 * s, 0.9, 3 * s, 3 * c, -0.8]], np.float32)
    grid = geometry.transform_grid(theta, "affine", 48, 48).numpy()
    # Far beyond the padded image, where the reference would read zeros.
    assert np.abs(config.grid_scale * grid).max() > 1.2
    _, target = data.make_synthetic_pairs(image[None], theta, config)
    assert target.numpy().min() >= image.min() - 1e-3
    assert target.numpy().max() <= image.max() + 1e-3


def test_uint8_images_give_float_pairs():
    config = data.PairConfig(image_size=(8, 8), resize_size=(20, 30))
    images = np.full((2, 20, 30, 3), 200, np.uint8)
    source, target = data.make_synthetic_pairs(images, geometry.identity_theta("affine", 2), config)
    assert source.dtype == tf.float32 and target.dtype == tf.float32
    np.testing.assert_allclose(target, 200.0, atol=1e-3)


def test_single_pair_helper():
    config = data.PairConfig(image_size=(8, 8), resize_size=(20, 30))
    image = smooth_rgb(20, 30)
    theta = data.random_theta("affine", (0, 0), config)
    source, target = data.make_synthetic_pair(tf.constant(image), theta, config)
    batch_source, batch_target = data.make_synthetic_pairs(image[None], theta[None], config)
    assert source.shape == (8, 8, 3)
    np.testing.assert_allclose(target, batch_target[0])
