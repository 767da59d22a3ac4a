"""BilinearSampler with the grid generators: identity, θ's direction, gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch.geometry import identity_theta
from keras_geomatch.geometry import pixel_to_normalized
from keras_geomatch.layers import BilinearSampler
from keras_geomatch.layers import make_grid_gen
from tests.geometry import reference_maps
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip

MODELS = ("affine", "hom", "hom_matrix", "tps")


def _smooth_image(height, width, batch=1):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack(
        [np.sin(xx / 2.5) * np.cos(yy / 3.5), np.cos((xx + yy) / 4.0), xx * yy / (height * width)],
        axis=-1,
    )
    return np.tile(image[None], (batch, 1, 1, 1)).astype(np.float32)


@pytest.mark.parametrize("geometric_model", MODELS)
def test_identity_theta_leaves_the_image_unchanged(geometric_model):
    image = np.random.default_rng(0).uniform(size=(2, 9, 14, 3)).astype(np.float32)
    grid = make_grid_gen(geometric_model, (9, 14))(identity_theta(geometric_model, 2))
    warped = keras.ops.convert_to_numpy(BilinearSampler()(image, grid))
    np.testing.assert_allclose(warped, image, atol=1e-5)


@pytest.mark.parametrize("geometric_model", MODELS)
def test_convention_theta_maps_target_to_source(geometric_model):
    # Source: a bright dot at pixel s. For a random θ and the target pixel t
    # nearest to T_θ⁻¹(s), the warped image is bright at t iff T_θ(t) ≈ s.
    height, width = 41, 41
    rng = np.random.default_rng(1)
    theta = reference_maps.random_theta(geometric_model, rng, 1, scale=0.15)
    t = np.array([[23.0, 15.0]])  # target pixel (x, y)
    s_normalised = reference_maps.map_points(
        theta[0], pixel_to_normalized(t, (height, width)).numpy(), geometric_model
    )
    s = (s_normalised[0] + 1) / 2 * (width - 1)  # (height == width)
    source = np.zeros((1, height, width, 1), np.float32)
    # Put the dot exactly at the (sub-pixel) source position: bilinear splat.
    x0, y0 = int(np.floor(s[0])), int(np.floor(s[1]))
    fx, fy = s[0] - x0, s[1] - y0
    for dx, wx in ((0, 1 - fx), (1, fx)):
        for dy, wy in ((0, 1 - fy), (1, fy)):
            source[0, y0 + dy, x0 + dx, 0] = wx * wy
    grid = make_grid_gen(geometric_model, (height, width))(theta)
    warped = keras.ops.convert_to_numpy(BilinearSampler()(source, grid))[0, ..., 0]
    row, col = np.unravel_index(np.argmax(warped), warped.shape)
    assert (col, row) == (23, 15)
    # Sampling exactly at s reads back the splat's own weight there.
    expected = sum(w**2 for w in ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy))
    np.testing.assert_allclose(warped[15, 23], expected, atol=1e-4)


@pytest.mark.parametrize("geometric_model", MODELS)
def test_warped_image_loss_gradient_matches_finite_difference(geometric_model):
    height, width = 24, 28
    rng = np.random.default_rng(2)
    source = _smooth_image(height, width)
    target = np.roll(source, 2, axis=2)
    theta0 = reference_maps.random_theta(geometric_model, rng, 1, scale=0.1).astype(np.float64)
    grid_gen = make_grid_gen(geometric_model, (height, width))
    sampler = BilinearSampler()

    def loss(theta):
        warped = sampler(source, grid_gen(tf.cast(theta, tf.float32)))
        return tf.reduce_mean(tf.square(warped - target))

    theta_t = tf.Variable(theta0.astype(np.float32))
    with tf.GradientTape() as tape:
        value = loss(theta_t)
    analytic = tape.gradient(value, theta_t).numpy()[0]
    assert np.all(np.isfinite(analytic)) and np.abs(analytic).max() > 1e-4

    eps = 1e-3
    numeric = np.zeros_like(analytic)
    for i in range(theta0.shape[1]):
        plus, minus = theta0.copy(), theta0.copy()
        plus[0, i] += eps
        minus[0, i] -= eps
        numeric[i] = (float(loss(plus)) - float(loss(minus))) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=0.02, atol=0.01 * np.abs(numeric).max())


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"image of rank 4.*Received: shape=\(None, 5, 5\)"):
        BilinearSampler()(keras.Input((5, 5)), keras.Input((5, 5, 2)))
    with pytest.raises(ValueError, match=r"grid of shape \(batch, height, width, 2\).*Received: shape=\(None, 5, 5, 3\)"):
        BilinearSampler()(keras.Input((5, 5, 1)), keras.Input((5, 5, 3)))
    with pytest.raises(ValueError, match=r"Received: shape=\(None, 25, 2\)"):
        BilinearSampler()(keras.Input((5, 5, 1)), keras.Input((25, 2)))


def test_output_shape_follows_the_grid():
    out = BilinearSampler()(keras.Input((20, 30, 3)), keras.Input((7, 9, 2)))
    assert out.shape == (None, 7, 9, 3)


def test_config_round_trip():
    assert_config_round_trip(BilinearSampler(name="sampler"))


def test_saved_model_round_trip(tmp_path):
    image, theta = keras.Input((10, 12, 3)), keras.Input((18,))
    grid = make_grid_gen("tps", (8, 8))(theta)
    model = keras.Model([image, theta], BilinearSampler()(image, grid))
    inputs = [
        np.random.default_rng(3).uniform(size=(2, 10, 12, 3)).astype(np.float32),
        reference_maps.random_theta("tps", np.random.default_rng(4), 2),
    ]
    assert_saved_model_round_trip(model, inputs, tmp_path)


def test_samples_in_float32_under_mixed_precision_policy():
    # An autocast float16 grid is off by up to 1/16 pixel on a 240-pixel side.
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 255, size=(1, 240, 240, 3)).astype(np.float32)
    grid = rng.uniform(-1, 1, size=(1, 30, 30, 2)).astype(np.float32)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        sampler = BilinearSampler()
        out = sampler(image, grid)
        symbolic = sampler(keras.Input((240, 240, 3)), keras.Input((30, 30, 2)))
    finally:
        keras.config.set_dtype_policy(policy)
    assert keras.backend.standardize_dtype(out.dtype) == symbolic.dtype == "float32"
    expected = reference_maps.bilinear_sample(
        image[0], (grid[0, ..., 0] + 1) / 2 * 239, (grid[0, ..., 1] + 1) / 2 * 239
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out)[0], expected, atol=1e-3)
