import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch.inference import Alignment
from keras_geomatch.inference import transfer_points
from tests.inference.tiny_models import normalised_to_pixels
from tests.inference.tiny_models import numpy_affine_map
from tests.inference.tiny_models import numpy_tps_map
from tests.inference.tiny_models import pixels_to_normalised

TARGET_SIZE = (21, 41)  # (height, width)
SOURCE_SIZE = (41, 81)
AFFINE = np.array([0.9, 0.2, -0.1, -0.1, 1.1, 0.05])


def test_identity_rescales_between_image_sizes_corner_to_corner():
    points = [[0, 0], [40, 20], [20, 10], [10, 5]]
    # (W_A - 1) / (W_B - 1) = 80 / 40 = 2 and (H_A - 1) / (H_B - 1) = 40 / 20 = 2.
    np.testing.assert_allclose(
        transfer_points(points, [], TARGET_SIZE, SOURCE_SIZE),
        [[0, 0], [80, 40], [40, 20], [20, 10]],
        atol=1e-4,
    )


def test_affine_normalises_with_the_target_and_unnormalises_with_the_source():
    theta = np.array([0.9, 0.2, -0.1, -0.1, 1.1, 0.05])
    points = np.array([[3.0, 4.0], [40.0, 0.0], [12.5, 19.0]])
    expected = normalised_to_pixels(
        numpy_affine_map(theta, pixels_to_normalised(points, TARGET_SIZE)), SOURCE_SIZE
    )
    np.testing.assert_allclose(
        transfer_points(points, [("affine", theta)], TARGET_SIZE, SOURCE_SIZE), expected, atol=1e-3
    )
    # A hand-checked point: the target centre (20, 10) maps to normalised (tx, ty).
    np.testing.assert_allclose(
        transfer_points([[20, 10]], [("affine", theta)], TARGET_SIZE, SOURCE_SIZE),
        [[(-0.1 + 1) * 40, (0.05 + 1) * 20]],
        atol=1e-4,
    )


def test_two_stages_map_through_the_second_then_the_first():
    rng = np.random.default_rng(0)
    theta1 = np.array([1.1, 0.1, 0.05, -0.05, 0.9, -0.1])
    theta2 = np.concatenate([np.repeat([-1.0, 0, 1], 3), np.tile([-1.0, 0, 1], 3)])
    theta2 = theta2 + rng.uniform(-0.15, 0.15, 18)
    points = rng.uniform(0, 20, (6, 2))
    normalised = pixels_to_normalised(points, TARGET_SIZE)
    expected = normalised_to_pixels(
        numpy_affine_map(theta1, numpy_tps_map(theta2, normalised)), SOURCE_SIZE
    )
    received = transfer_points(
        points, [("affine", theta1), ("tps", theta2)], TARGET_SIZE, SOURCE_SIZE
    )
    np.testing.assert_allclose(received, expected, atol=1e-3)
    assert received.dtype == np.float64 and received.shape == (6, 2)


def test_empty_and_bad_points():
    assert transfer_points(np.zeros((0, 2)), [], TARGET_SIZE, SOURCE_SIZE).shape == (0, 2)
    with pytest.raises(ValueError, match=r"shape \(N, 2\).*Received: shape=\(3,\)"):
        transfer_points([1, 2, 3], [], TARGET_SIZE, SOURCE_SIZE)


@pytest.mark.parametrize(
    "bad", [[np.nan, 3.0], [4.0, np.inf], [-np.inf, -np.inf]], ids=["nan", "inf", "-inf"]
)
def test_non_finite_points_are_refused_naming_the_point(bad):
    points = [[1.0, 2.0], bad, [5.0, 6.0]]
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"Expected target_points of finite \(x, y\) pixels\. Received: target_points\[1\]",
    ):
        transfer_points(points, [("affine", AFFINE)], TARGET_SIZE, SOURCE_SIZE)


@pytest.mark.parametrize("huge", [3e38, -3e38, 1e39], ids=["3e38", "-3e38", "beyond_float32"])
def test_points_whose_mapping_overflows_are_refused(huge):
    # 3e38 is a finite float32, but 2 * x / (W - 1) already overflows.
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"map to finite source pixels.*Received: target_points\[0\]=\[",
    ):
        transfer_points([[huge, 1.0]], [], TARGET_SIZE, SOURCE_SIZE)


def test_non_finite_theta_is_refused_not_returned():
    theta = np.array([np.nan, 0, 0, 0, 1, 0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="or θ is not finite"):
        transfer_points([[1.0, 2.0]], [("affine", theta)], TARGET_SIZE, SOURCE_SIZE)


def test_points_outside_the_target_are_mapped_like_any_other():
    # Documented: no clipping; the results lie outside the source.
    points = [[-10.0, -5.0], [50.0, 25.0], [1e6, -1e6]]
    np.testing.assert_allclose(
        transfer_points(points, [], TARGET_SIZE, SOURCE_SIZE),
        [[-20.0, -10.0], [100.0, 50.0], [2e6, -2e6]],
        rtol=1e-6,
    )


def test_alignment_map_points_refuses_non_finite_points():
    result = Alignment(
        stages=[("affine", AFFINE)],
        warped_source=np.zeros((21, 41, 3), np.float32),
        source_size=SOURCE_SIZE,
        target_size=TARGET_SIZE,
    )
    assert np.all(np.isfinite(result.map_points([[3.0, 4.0]])))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"target_points\[0\]=\[nan, 4.0\]"):
        result.map_points([[np.nan, 4.0]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="map to finite source pixels"):
        result.map_points([[3e38, 4.0]])
