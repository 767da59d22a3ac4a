"""Bilinear sampling against OpenCV and a numpy reference (SPEC §2).

OpenCV 5's `cv2.remap` with float32 maps on float32 images interpolates in
floating point (no 1/32-pixel fixed-point rounding for this combination), and
with `BORDER_CONSTANT` 0 it reads 0 for every neighbour outside the image,
like our sampler and PyTorch `grid_sample(zeros, align_corners=True)`. The
tests below check both claims, the border band included, against a numpy
reference written from the definition.
"""

import cv2
import numpy as np
import tensorflow as tf

from keras_geomatch.geometry import bilinear_sample
from keras_geomatch.geometry import identity_grid
from keras_geomatch.geometry import normalized_to_pixel
from tests.geometry import reference_maps


def _random_case(rng, height=9, width=13, channels=3, out=(11, 7), spread=1.3):
    image = rng.uniform(0, 1, size=(2, height, width, channels)).astype(np.float32)
    grid = rng.uniform(-spread, spread, size=(2, *out, 2)).astype(np.float32)
    return image, grid


def _cv2_remap(image, grid):
    """Our normalised grid → pixel maps → cv2.remap, per sample and channel."""
    height, width = image.shape[1:3]
    pixels = normalized_to_pixel(grid, (height, width)).numpy().astype(np.float32)
    out = []
    for b in range(len(image)):
        channels = [
            cv2.remap(
                np.ascontiguousarray(image[b, ..., c]),
                pixels[b, ..., 0],
                pixels[b, ..., 1],
                interpolation=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            for c in range(image.shape[-1])
        ]
        out.append(np.stack(channels, axis=-1))
    return np.stack(out), pixels


def test_identity_grid_returns_the_image():
    image = np.random.default_rng(0).uniform(size=(2, 5, 8, 3)).astype(np.float32)
    grid = np.tile(identity_grid(5, 8).numpy()[None], (2, 1, 1, 1))
    np.testing.assert_allclose(bilinear_sample(image, grid).numpy(), image, atol=1e-6)


def test_matches_numpy_reference_with_points_outside():
    rng = np.random.default_rng(1)
    image, grid = _random_case(rng)
    out = bilinear_sample(image, grid).numpy()
    pixels = normalized_to_pixel(grid, image.shape[1:3]).numpy()
    for b in range(len(image)):
        expected = reference_maps.bilinear_sample(image[b], pixels[b, ..., 0], pixels[b, ..., 1])
        np.testing.assert_allclose(out[b], expected, atol=1e-5)


def test_matches_cv2_remap_interior_and_border_band():
    rng = np.random.default_rng(2)
    image, grid = _random_case(rng, height=17, width=23, out=(40, 30), spread=1.25)
    ours = bilinear_sample(image, grid).numpy()
    theirs, pixels = _cv2_remap(image, grid)
    height, width = image.shape[1:3]
    x, y = pixels[..., 0], pixels[..., 1]
    interior = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    band = ~interior & (x > -1) & (x < width) & (y > -1) & (y < height)
    far = ~interior & ~band
    # The random grid does exercise all three regions.
    assert interior.sum() > 100 and band.sum() > 20 and far.sum() > 20
    np.testing.assert_allclose(ours[interior], theirs[interior], atol=1e-4)
    np.testing.assert_allclose(ours[band], theirs[band], atol=1e-4)
    np.testing.assert_array_equal(ours[far], 0.0)
    # In the band the result is a partial (zero-padded) interpolation, not 0.
    assert np.abs(ours[band]).max() > 0.1


def test_convention_border_band_reads_zero_per_neighbour():
    image = np.ones((1, 4, 4, 1), np.float32)
    # Half a pixel left of the first column: only the inside neighbour counts.
    x = -1.0 - 0.5 * 2 / 3
    out = bilinear_sample(image, np.array([[[[x, 0.0]]]], np.float32)).numpy()
    np.testing.assert_allclose(out, 0.5, atol=1e-6)


def test_gradients_reach_image_and_grid():
    rng = np.random.default_rng(3)
    image, grid = _random_case(rng, spread=0.9)
    image, grid = tf.constant(image), tf.constant(grid)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([image, grid])
        total = tf.reduce_sum(tf.square(bilinear_sample(image, grid)))
    for grad in tape.gradient(total, [image, grid]):
        assert np.all(np.isfinite(grad.numpy()))
        assert np.abs(grad.numpy()).max() > 0


def test_grid_gradient_matches_finite_difference():
    rng = np.random.default_rng(4)
    image = rng.uniform(size=(1, 6, 6, 2)).astype(np.float64)
    # Points away from pixel centres, where the bilinear map is smooth.
    pixels = rng.integers(0, 4, size=(1, 5, 5, 2)) + rng.uniform(0.2, 0.8, size=(1, 5, 5, 2))
    grid = (pixels / 5.0 * 2 - 1).astype(np.float32)
    weights = tf.constant(rng.normal(size=(1, 5, 5, 2)), tf.float32)
    grid_t = tf.constant(grid)
    with tf.GradientTape() as tape:
        tape.watch(grid_t)
        total = tf.reduce_sum(bilinear_sample(image.astype(np.float32), grid_t) * weights)
    analytic = tape.gradient(total, grid_t).numpy()

    def value(g):
        out = bilinear_sample(image.astype(np.float32), g).numpy().astype(np.float64)
        return float(np.sum(out * weights.numpy()))

    eps = 1e-2
    numeric = np.zeros_like(analytic)
    for index in np.ndindex(grid.shape):
        plus, minus = grid.copy(), grid.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (value(plus) - value(minus)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, atol=2e-3)


def test_xla_compiled_matches_eager():
    rng = np.random.default_rng(5)
    image, grid = _random_case(rng)
    compiled = tf.function(bilinear_sample, jit_compile=True)
    np.testing.assert_allclose(
        compiled(image, grid).numpy(), bilinear_sample(image, grid).numpy(), atol=1e-6
    )


def test_keeps_the_image_dtype():
    rng = np.random.default_rng(6)
    image, grid = _random_case(rng)
    out = bilinear_sample(tf.constant(image, tf.float16), grid)
    assert out.dtype == tf.float16
    np.testing.assert_allclose(
        out.numpy().astype(np.float32), bilinear_sample(image, grid).numpy(), atol=2e-3
    )
