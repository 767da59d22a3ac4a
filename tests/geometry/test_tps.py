"""Thin-plate spline on the 3×3 control grid (SPEC §2) against independent fits."""

import numpy as np
import pytest
import tensorflow as tf
from skimage.transform import ThinPlateSplineTransform

from keras_geomatch.geometry import TPS_CONTROL_X
from keras_geomatch.geometry import TPS_CONTROL_Y
from keras_geomatch.geometry import tps_coefficients
from keras_geomatch.geometry import tps_map_points
from keras_geomatch.geometry.tps import tps_system_inverse
from tests.geometry import reference_maps


def test_convention_tps_control_point_order():
    # x varies slowest: the points run down the first column (x = -1) first.
    assert TPS_CONTROL_X == (-1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0)
    assert TPS_CONTROL_Y == (-1.0, 0.0, 1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0)
    # θ[i], θ[9 + i] is the image of control point i: moving only point 5
    # (x=0, y=1) moves the map there and nowhere else among the control points.
    theta = np.array([TPS_CONTROL_X + TPS_CONTROL_Y], np.float32)
    theta[0, 5] += 0.2
    theta[0, 9 + 5] -= 0.1
    control = np.stack([TPS_CONTROL_X, TPS_CONTROL_Y], axis=1)[None].astype(np.float32)
    mapped = tps_map_points(theta, control).numpy()[0]
    expected = control[0].copy()
    expected[5] += [0.2, -0.1]
    np.testing.assert_allclose(mapped, expected, atol=1e-5)


def test_identity_maps_points_to_themselves():
    points = np.random.default_rng(0).uniform(-1.3, 1.3, size=(2, 50, 2)).astype(np.float32)
    theta = np.tile(np.array(TPS_CONTROL_X + TPS_CONTROL_Y, np.float32), (2, 1))
    np.testing.assert_allclose(tps_map_points(theta, points).numpy(), points, atol=1e-5)


@pytest.mark.parametrize("reg_factor", [0.0, 0.1, 1.0])
def test_matches_numpy_solve_of_the_spec_system(reg_factor):
    rng = np.random.default_rng(1)
    theta = reference_maps.random_theta("tps", rng, 4, scale=0.4)
    points = rng.uniform(-1.2, 1.2, size=(4, 60, 2)).astype(np.float32)
    out = tps_map_points(theta, points, reg_factor=reg_factor).numpy()
    for b in range(4):
        expected = reference_maps.tps_map(theta[b], points[b], reg_factor)
        np.testing.assert_allclose(out[b], expected, atol=1e-5)


def test_regularisation_changes_the_map():
    rng = np.random.default_rng(2)
    theta = reference_maps.random_theta("tps", rng, 1, scale=0.4)
    points = rng.uniform(-1, 1, size=(1, 30, 2)).astype(np.float32)
    plain = tps_map_points(theta, points).numpy()
    smooth = tps_map_points(theta, points, reg_factor=1.0).numpy()
    assert np.abs(plain - smooth).max() > 1e-3


def test_matches_scikit_image_thin_plate_spline():
    # skimage's kernel is r²·log(r) = U/2; an exact interpolant does not
    # depend on the kernel's scale, so the maps agree.
    rng = np.random.default_rng(3)
    theta = reference_maps.random_theta("tps", rng, 5, scale=0.4)
    points = rng.uniform(-1.2, 1.2, size=(5, 80, 2)).astype(np.float32)
    out = tps_map_points(theta, points).numpy()
    control = np.stack([TPS_CONTROL_X, TPS_CONTROL_Y], axis=1)
    for b in range(5):
        moved = np.stack([theta[b, :9], theta[b, 9:]], axis=1).astype(np.float64)
        spline = ThinPlateSplineTransform.from_estimate(control, moved)
        assert spline
        np.testing.assert_allclose(out[b], spline(points[b].astype(np.float64)), atol=1e-5)


def test_affine_only_tps_has_zero_kernel_weights():
    rng = np.random.default_rng(4)
    affine = reference_maps.random_theta("affine", rng, 3, scale=0.4).astype(np.float64)
    control = np.stack([TPS_CONTROL_X, TPS_CONTROL_Y], axis=1)
    theta = np.stack(
        [reference_maps.affine_map(a, control).T.reshape(18) for a in affine]
    ).astype(np.float32)
    coef_x, coef_y = (c.numpy() for c in tps_coefficients(theta))
    np.testing.assert_allclose(coef_x[:, :9], 0.0, atol=1e-5)
    np.testing.assert_allclose(coef_y[:, :9], 0.0, atol=1e-5)
    # The affine part [a0, ax, ay] is [tx, a11, a12] and [ty, a21, a22].
    np.testing.assert_allclose(coef_x[:, 9:], affine[:, [2, 0, 1]], atol=1e-5)
    np.testing.assert_allclose(coef_y[:, 9:], affine[:, [5, 3, 4]], atol=1e-5)


def test_coefficients_match_numpy_solve():
    rng = np.random.default_rng(5)
    theta = reference_maps.random_theta("tps", rng, 2, scale=0.4)
    coef_x, coef_y = (c.numpy() for c in tps_coefficients(theta, reg_factor=0.5))
    for b in range(2):
        expected_x, expected_y = reference_maps.tps_solve(theta[b], reg_factor=0.5)
        np.testing.assert_allclose(coef_x[b], expected_x, atol=1e-5)
        np.testing.assert_allclose(coef_y[b], expected_y, atol=1e-5)


def test_system_inverse_is_computed_once_per_reg_factor():
    assert tps_system_inverse(0.0) is tps_system_inverse(0.0)
    assert tps_system_inverse(0.0) is not tps_system_inverse(0.5)
    assert not tps_system_inverse(0.0).flags.writeable


def test_gradient_is_finite_at_the_control_points():
    # U(0) = 0 must not give a NaN gradient where a point sits on a control point.
    theta = tf.constant([TPS_CONTROL_X + TPS_CONTROL_Y], tf.float32)
    points = tf.constant(
        np.stack([TPS_CONTROL_X, TPS_CONTROL_Y], axis=1)[None], tf.float32
    )
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([theta, points])
        mapped = tps_map_points(theta * 1.1, points)
        total = tf.reduce_sum(tf.square(mapped))
    for grad in tape.gradient(total, [theta, points]):
        assert np.all(np.isfinite(grad.numpy()))
        assert np.abs(grad.numpy()).max() > 0
