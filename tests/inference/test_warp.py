import numpy as np
import pytest
from scipy import ndimage

from keras_geomatch import geometry
from keras_geomatch.inference import resize_image
from keras_geomatch.inference import warp_images
from keras_geomatch.inference.warp import resize_images
from tests.inference.tiny_models import normalised_to_pixels
from tests.inference.tiny_models import numpy_affine_map
from tests.inference.tiny_models import pixels_to_normalised


def _numpy_bilinear(image, xs, ys):
    """Bilinear sampling at pixel positions (inside the image), float64."""
    height, width = image.shape[:2]
    x0 = np.clip(np.floor(xs).astype(int), 0, width - 2)
    y0 = np.clip(np.floor(ys).astype(int), 0, height - 2)
    fx, fy = (xs - x0)[..., None], (ys - y0)[..., None]
    return (
        image[y0, x0] * (1 - fx) * (1 - fy)
        + image[y0, x0 + 1] * fx * (1 - fy)
        + image[y0 + 1, x0] * (1 - fx) * fy
        + image[y0 + 1, x0 + 1] * fx * fy
    )


def test_resize_is_corner_aligned_bilinear():
    image = np.random.default_rng(0).uniform(0, 255, (7, 9, 3))
    resized = resize_image(image, (5, 13))
    # Output pixel j samples input x = j * (W - 1) / (w - 1): corners land on corners.
    ys, xs = np.meshgrid(np.arange(5) * 6 / 4, np.arange(13) * 8 / 12, indexing="ij")
    np.testing.assert_allclose(resized, _numpy_bilinear(image, xs, ys), atol=1e-3)
    np.testing.assert_allclose(
        resized[[0, 0, -1, -1], [0, -1, 0, -1]], image[[0, 0, -1, -1], [0, -1, 0, -1]], atol=1e-4
    )


def test_resize_to_the_same_size_is_the_identity():
    image = np.random.default_rng(1).uniform(0, 255, (6, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(resize_image(image, (6, 8)), image, atol=1e-4)


def test_affine_warp_matches_scipy_map_coordinates():
    rng = np.random.default_rng(2)
    source = rng.uniform(0, 255, (30, 40, 1))
    theta = np.array([0.8, 0.1, 0.05, -0.1, 0.7, -0.1])  # keeps the grid inside the source
    out_size = (21, 17)
    warped = warp_images(source[None], [("affine", theta)], out_size)[0]

    ys, xs = np.meshgrid(np.arange(21), np.arange(17), indexing="ij")
    target_pixels = np.stack([xs.ravel(), ys.ravel()], 1)
    source_pixels = normalised_to_pixels(
        numpy_affine_map(theta, pixels_to_normalised(target_pixels, out_size)), (30, 40)
    )
    expected = ndimage.map_coordinates(
        source[..., 0], [source_pixels[:, 1], source_pixels[:, 0]], order=1
    ).reshape(out_size)
    np.testing.assert_allclose(warped[..., 0], expected, atol=1e-2)


def test_two_affine_stages_compose_as_theta1_of_theta2():
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, (2, 12, 10, 3))
    theta1 = np.array([[0.9, 0.1, 0.1, 0.0, 1.1, -0.2], [1.0, 0.0, 0.3, 0.2, 0.8, 0.0]])
    theta2 = np.array([[1.0, -0.2, 0.0, 0.1, 0.9, 0.1], [0.7, 0.0, 0.0, 0.0, 0.7, 0.1]])
    # T_θ1(T_θ2(p)) = A1 (A2 p + t2) + t1
    composed = []
    for t1, t2 in zip(theta1, theta2):
        m1 = np.vstack([t1.reshape(2, 3), [0, 0, 1]])
        m2 = np.vstack([t2.reshape(2, 3), [0, 0, 1]])
        composed.append((m1 @ m2)[:2].ravel())
    two_stages = warp_images(images, [("affine", theta1), ("affine", theta2)], (8, 9))
    one_stage = warp_images(images, [("affine", np.array(composed))], (8, 9))
    np.testing.assert_allclose(two_stages, one_stage, atol=1e-3)
    reversed_order = warp_images(images, [("affine", theta2), ("affine", theta1)], (8, 9))
    assert np.abs(reversed_order - one_stage).max() > 1.0


def test_banding_gives_the_same_result_as_one_pass():
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 255, (2, 15, 11, 3))
    theta = np.tile(np.concatenate([np.repeat([-1.0, 0, 1], 3), np.tile([-1.0, 0, 1], 3)]), (2, 1))
    theta += rng.uniform(-0.2, 0.2, theta.shape)
    whole = warp_images(images, [("tps", theta)], (13, 7))
    banded = warp_images(images, [("tps", theta)], (13, 7), max_grid_points=20)
    # Not bit-exact: the TPS kernel matmul of a band may be blocked and
    # vectorised differently from the whole grid's (seen on AVX2 CPUs, 2e-4
    # on values up to 255). A wrong band would be off by whole pixels.
    np.testing.assert_allclose(whole, banded, rtol=1e-5, atol=1e-3)


def test_a_single_theta_is_used_for_the_whole_batch():
    images = np.random.default_rng(5).uniform(0, 255, (3, 6, 6, 1))
    theta = np.array([0.5, 0.0, 0.0, 0.0, 0.5, 0.0])
    batched = warp_images(images, [("affine", np.tile(theta, (3, 1)))], (6, 6))
    np.testing.assert_array_equal(warp_images(images, [("affine", theta)], (6, 6)), batched)


def test_outside_the_source_reads_zeros():
    images = np.full((1, 5, 5, 3), 200.0)
    shifted = warp_images(images, [("affine", [1, 0, 3.0, 0, 1, 0])], (5, 5))  # x + 3: all outside
    np.testing.assert_array_equal(shifted, 0.0)


def test_bad_theta_shapes_are_value_errors():
    images = np.zeros((2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"Expected theta of shape \(batch, 6\)"):
        warp_images(images, [("affine", np.zeros(5))], (4, 4))
    with pytest.raises(ValueError, match=r"one row per image \(2\)"):
        warp_images(images, [("affine", np.zeros((3, 6)))], (4, 4))
    with pytest.raises(ValueError, match="Unknown geometric_model"):
        warp_images(images, [("similarity", np.zeros(4))], (4, 4))


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("geometric_model", ["affine", "tps"])
def test_banded_warp_is_geometry_bilinear_sample_bit_for_bit(dtype, geometric_model):
    """The numpy sampling of the bands is `geometry.bilinear_sample`'s arithmetic."""
    rng = np.random.default_rng(6)
    source = rng.integers(0, 256, (2, 23, 31, 3)).astype(dtype)
    theta = np.array(geometry.identity_theta(geometric_model, 2), np.float32)
    theta += rng.uniform(-0.3, 0.3, theta.shape).astype(np.float32)  # some points fall outside
    expected = geometry.bilinear_sample(
        source.astype(np.float32), geometry.transform_grid(theta, geometric_model, 17, 19)
    ).numpy()
    # Bands of one row, and of a row and a half across the batch.
    for max_grid_points in (1, 57):
        warped = warp_images(source, [(geometric_model, theta)], (17, 19), max_grid_points)
        assert warped.dtype == np.float32
        if geometric_model == "affine":
            np.testing.assert_array_equal(warped, expected)
        else:  # the TPS map of a band may differ from the whole grid's in the last bit
            np.testing.assert_allclose(warped, expected, rtol=1e-5, atol=1e-3)
    assert np.any(expected == 0.0) and expected.max() > 200


def test_resize_is_geometry_resize_images_for_uint8_and_float():
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (1, 41, 29, 3), dtype=np.uint8)
    for images in (pixels, pixels.astype(np.float32) + 0.25, pixels.astype(np.float64)):
        np.testing.assert_array_equal(
            resize_images(images, (13, 17)), geometry.resize_images(images, (13, 17)).numpy()
        )
    np.testing.assert_array_equal(resize_images(pixels, (13, 17)), resize_images(pixels.astype(np.float32), (13, 17)))


def test_a_uint8_source_is_sampled_in_place_without_a_float_copy():
    import tracemalloc

    source = np.random.default_rng(8).integers(0, 256, (1, 600, 400, 3), dtype=np.uint8)
    theta = np.array([0.9, 0.1, 0.0, -0.1, 0.9, 0.0], np.float32)
    tracemalloc.start()
    try:
        warped = warp_images(source, [("affine", theta)], (30, 20), max_grid_points=100)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert warped.shape == (1, 30, 20, 3)
    # A float32 copy of the source would be 4× its size; a band is a few kB.
    assert peak < source.nbytes / 4, peak


def test_non_contiguous_and_tensor_sources():
    import tensorflow as tf

    images = np.random.default_rng(9).uniform(0, 255, (1, 8, 10, 4)).astype(np.float32)
    rgb = images[..., :3]  # a strided view
    expected = warp_images(np.ascontiguousarray(rgb), [], (5, 6))
    np.testing.assert_array_equal(warp_images(rgb, [], (5, 6)), expected)
    np.testing.assert_array_equal(warp_images(tf.constant(rgb), [], (5, 6)), expected)
