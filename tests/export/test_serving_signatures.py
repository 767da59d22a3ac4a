"""The exported signatures, loaded back, against the Keras models and numpy references."""

import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import export
from tests.export.conftest import IMAGE_SIZE
from tests.export.conftest import random_images
from tests.geometry import reference_maps


def keras_theta(model, source, target):
    """θ of the Keras model on images resized (as documented) to its input size."""
    inputs = {
        "source_image": export.resize_images(source, IMAGE_SIZE),
        "target_image": export.resize_images(target, IMAGE_SIZE),
    }
    return model(inputs, training=False).numpy()


def pixel_to_normalized(points, height, width):
    points = np.asarray(points, np.float64)
    x = 2 * points[..., 0] / (width - 1) - 1
    y = 2 * points[..., 1] / (height - 1) - 1
    return np.stack([x, y], -1)


def normalized_to_pixel(points, height, width):
    return np.stack(
        [(points[..., 0] + 1) / 2 * (width - 1), (points[..., 1] + 1) / 2 * (height - 1)], -1
    )


def reference_map_pixels(stages, thetas, points, target_size, source_size):
    """Target pixels → source pixels through the chain T_θ1(T_θ2(p)), in numpy."""
    mapped = pixel_to_normalized(points, *target_size)
    for geometric_model, theta in reversed(list(zip(stages, thetas))):
        mapped = reference_maps.map_points(theta, mapped, geometric_model)
    return normalized_to_pixel(mapped, *source_size)


def reference_warp(source, stages, thetas, target_size):
    """The source warped onto a target of `target_size` by the chain, in numpy."""
    height, width = target_size
    ys, xs = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel()], -1)
    mapped = reference_map_pixels(stages, thetas, points, target_size, source.shape[:2])
    sampled = reference_maps.bilinear_sample(source, mapped[:, 0], mapped[:, 1])
    return sampled.reshape(height, width, source.shape[-1])


def test_resize_images_matches_corner_aligned_reference():
    rng = np.random.default_rng(0)
    image = random_images(rng, 1, 37, 53)
    resized = export.resize_images(image, (20, 30)).numpy()[0]
    ys, xs = np.meshgrid(np.linspace(0, 36, 20), np.linspace(0, 52, 30), indexing="ij")
    expected = reference_maps.bilinear_sample(image[0], xs, ys)
    np.testing.assert_allclose(resized, expected, atol=1e-3)
    same = export.resize_images(image, (37, 53)).numpy()
    np.testing.assert_allclose(same, image.astype(np.float32), atol=1e-3)


def test_signature_names_and_outputs(single_signatures, two_stage_signatures):
    assert set(single_signatures) == {"serving_default", "map_points"}
    assert set(two_stage_signatures) == {"serving_default", "map_points"}
    outputs = single_signatures["serving_default"].structured_outputs
    assert set(outputs) == {"theta", "warped_image"}
    assert outputs["theta"].shape.as_list() == [None, 6]
    assert outputs["warped_image"].dtype == tf.uint8
    outputs = two_stage_signatures["map_points"].structured_outputs
    assert set(outputs) == {"theta_stage1", "theta_stage2", "source_points"}
    assert outputs["theta_stage2"].shape.as_list() == [None, 18]


def test_theta_equals_keras_model_at_its_input_size(single_signatures, affine_model):
    rng = np.random.default_rng(1)
    source, target = random_images(rng, 2, *IMAGE_SIZE), random_images(rng, 2, *IMAGE_SIZE)
    served = single_signatures["serving_default"](source_image=source, target_image=target)
    direct = affine_model(
        {"source_image": source.astype("float32"), "target_image": target.astype("float32")}
    )
    np.testing.assert_allclose(served["theta"].numpy(), direct.numpy(), atol=1e-4)


@pytest.mark.parametrize("source_size, target_size", [((60, 100), (120, 90)), ((88, 88), (45, 61))])
def test_theta_equals_keras_model_on_resized_images(
    single_signatures, affine_model, source_size, target_size
):
    rng = np.random.default_rng(2)
    source, target = random_images(rng, 2, *source_size), random_images(rng, 2, *target_size)
    served = single_signatures["serving_default"](source_image=source, target_image=target)
    np.testing.assert_allclose(
        served["theta"].numpy(), keras_theta(affine_model, source, target), atol=1e-4
    )
    swapped = single_signatures["serving_default"](source_image=target, target_image=source)
    assert np.abs(swapped["theta"].numpy() - served["theta"].numpy()).max() > 1e-3


def test_warped_image_is_source_warped_onto_target_size(single_signatures):
    rng = np.random.default_rng(3)
    source, target = random_images(rng, 1, 50, 64), random_images(rng, 1, 24, 36)
    served = single_signatures["serving_default"](source_image=source, target_image=target)
    warped = served["warped_image"].numpy()
    assert warped.shape == (1, 24, 36, 3) and warped.dtype == np.uint8
    theta = served["theta"].numpy()
    expected = reference_warp(source[0], ["affine"], [theta[0]], (24, 36))
    assert np.abs(warped[0].astype(np.float64) - expected).max() <= 0.51


def test_map_points_in_pixels(single_signatures):
    rng = np.random.default_rng(4)
    source, target = random_images(rng, 2, 70, 50), random_images(rng, 2, 40, 90)
    points = np.array([[[0, 0], [89, 39], [45.5, 20.25]], [[10, 5], [3, 30], [60, 1]]], np.float32)
    served = single_signatures["map_points"](
        source_image=source, target_image=target, points=points
    )
    assert served["source_points"].shape == (2, 3, 2)
    for b in range(2):
        expected = reference_map_pixels(
            ["affine"], [served["theta"].numpy()[b]], points[b], (40, 90), (70, 50)
        )
        np.testing.assert_allclose(served["source_points"].numpy()[b], expected, atol=1e-3)


def test_two_stage_thetas_follow_spec(two_stage_signatures, affine_model, tps_model):
    """θ1 = m_aff(A, B); A1 = warp(A, θ1) at the input size; θ2 = m_tps(A1, B)."""
    rng = np.random.default_rng(5)
    source, target = random_images(rng, 1, 64, 80), random_images(rng, 1, 96, 72)
    served = two_stage_signatures["serving_default"](source_image=source, target_image=target)
    theta1 = served["theta_stage1"].numpy()
    np.testing.assert_allclose(theta1, keras_theta(affine_model, source, target), atol=1e-4)
    source_small = export.resize_images(source, IMAGE_SIZE).numpy()
    target_small = export.resize_images(target, IMAGE_SIZE).numpy()
    warped_small = reference_warp(source_small[0], ["affine"], [theta1[0]], IMAGE_SIZE)
    theta2 = tps_model(
        {"source_image": warped_small[None].astype("float32"), "target_image": target_small}
    ).numpy()
    np.testing.assert_allclose(served["theta_stage2"].numpy(), theta2, atol=1e-3)


def test_two_stage_points_and_warp_compose_stages(two_stage_signatures):
    """A target point p maps to T_θ1(T_θ2(p)); the warp samples the source there."""
    rng = np.random.default_rng(6)
    source, target = random_images(rng, 1, 64, 80), random_images(rng, 1, 30, 26)
    points = np.array([[[0, 0], [25, 29], [13.5, 7.0], [20, 3]]], np.float32)
    served = two_stage_signatures["map_points"](
        source_image=source, target_image=target, points=points
    )
    thetas = [served["theta_stage1"].numpy()[0], served["theta_stage2"].numpy()[0]]
    expected = reference_map_pixels(["affine", "tps"], thetas, points[0], (30, 26), (64, 80))
    np.testing.assert_allclose(served["source_points"].numpy()[0], expected, atol=1e-3)
    warped = two_stage_signatures["serving_default"](source_image=source, target_image=target)
    np.testing.assert_allclose(warped["theta_stage2"].numpy()[0], thetas[1], atol=1e-5)
    expected_warp = reference_warp(source[0], ["affine", "tps"], thetas, (30, 26))
    served_warp = warped["warped_image"].numpy()[0].astype(np.float64)
    assert np.abs(served_warp - expected_warp).max() <= 0.51


def test_batch_items_are_independent(single_signatures):
    rng = np.random.default_rng(7)
    source, target = random_images(rng, 3, 40, 40), random_images(rng, 3, 50, 30)
    batch = single_signatures["serving_default"](source_image=source, target_image=target)
    for b in range(3):
        one = single_signatures["serving_default"](
            source_image=source[b : b + 1], target_image=target[b : b + 1]
        )
        np.testing.assert_allclose(one["theta"].numpy()[0], batch["theta"].numpy()[b], atol=1e-5)


def _call(signature, **inputs):
    return signature(**{k: tf.constant(v) for k, v in inputs.items()})


def test_float_image_is_rejected_by_the_signature(single_signatures):
    image = np.zeros((1, 40, 40, 3), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="uint8"):
        _call(single_signatures["serving_default"], source_image=image,
              target_image=image.astype(np.uint8))


@pytest.mark.parametrize(
    "bad_shape, message",
    [
        ((1, 40, 40, 4), r"source_image: expected a uint8 image batch of shape "
                         r"\[batch, height, width, 3\]"),
        ((1, 40, 40, 1), r"source_image: expected a uint8 image batch"),
        ((40, 40, 3), r"source_image.*\[\?,\?,\?,3\]"),
        ((1, 1, 40, 40, 3), r"source_image.*\[\?,\?,\?,3\]"),
        ((1, 1, 40, 3), r"source_image: expected height and width of at least 2"),
    ],
)
def test_wrong_image_shape_is_a_clear_error(single_signatures, bad_shape, message):
    good = np.zeros((1, 40, 40, 3), np.uint8)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        _call(single_signatures["serving_default"], source_image=np.zeros(bad_shape, np.uint8),
              target_image=good)


def test_mismatched_batches_and_bad_points_are_clear_errors(single_signatures):
    one, two = np.zeros((1, 40, 40, 3), np.uint8), np.zeros((2, 40, 40, 3), np.uint8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        _call(single_signatures["serving_default"], source_image=one, target_image=two)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"points: expected pixel coordinates"):
        _call(single_signatures["map_points"], source_image=one, target_image=one,
              points=np.zeros((1, 5, 3), np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        _call(single_signatures["map_points"], source_image=one, target_image=one,
              points=np.zeros((2, 5, 2), np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_points_are_refused(single_signatures, bad):
    image = np.zeros((1, 40, 40, 3), np.uint8)
    points = np.array([[[1, 2], [3, bad]]], np.float32)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"points: expected finite pixel coordinates \(x, y\)\. Received a non-finite value",
    ):
        _call(single_signatures["map_points"], source_image=image, target_image=image,
              points=points)


def test_points_whose_mapping_overflows_are_refused(single_signatures):
    # 3e38 is a finite float32, but its normalised coordinate 2 * x / (W - 1) is not.
    image = np.zeros((1, 40, 40, 3), np.uint8)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"points: expected points that map to finite"
    ):
        _call(single_signatures["map_points"], source_image=image, target_image=image,
              points=np.array([[[3e38, 1.0]]], np.float32))


def test_points_outside_the_target_are_mapped_not_clipped(single_signatures):
    rng = np.random.default_rng(5)
    source, target = random_images(rng, 1, 30, 20), random_images(rng, 1, 40, 50)
    points = np.array([[[-100, -50], [500, 400], [1e6, -1e6]]], np.float32)
    served = single_signatures["map_points"](
        source_image=source, target_image=target, points=points
    )
    expected = reference_map_pixels(
        ["affine"], [served["theta"].numpy()[0]], points[0], (40, 50), (30, 20)
    )
    received = served["source_points"].numpy()[0]
    np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-2)
    assert np.all(np.abs(received) > 30)  # outside the 30×20 source
