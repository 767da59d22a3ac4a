"""Thin-plate spline on a 3×3 grid of control points (SPEC §2).

Convention: θ = [x'_1..x'_9, y'_1..y'_9] are the target → source positions of
the control points `(TPS_CONTROL_X[i], TPS_CONTROL_Y[i])`, ordered with x
varying slowest; identity θ = concat(TPS_CONTROL_X, TPS_CONTROL_Y).

A target point p maps to
    x' = a0 + ax·x + ay·y + Σ_i w_i·U(|p - P_i|²),   U(r²) = r²·log(r²), U(0) = 0,
with [w; a] = L⁻¹·[x'; 0] and L = [[K + reg_factor·I, P], [Pᵀ, 0]], P = [1, x, y]
(the same for y). L⁻¹ depends only on the control points and is computed once
per `reg_factor`, in float64.
"""

import functools

import numpy as np
import tensorflow as tf

from keras_geomatch.geometry.geometric_model import GeometricModel
from keras_geomatch.geometry.random_offsets import randomly_offset
from keras_geomatch.geometry.ranges import TpsRanges

TPS_CONTROL_X = (-1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0)
TPS_CONTROL_Y = (-1.0, 0.0, 1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0)
TPS_NUM_CONTROL_POINTS = len(TPS_CONTROL_X)


def _kernel_np(squared_distance):
    safe = np.where(squared_distance > 0, squared_distance, 1.0)
    return safe * np.log(safe)


@functools.lru_cache(maxsize=None)
def tps_system_inverse(reg_factor=0.0):
    """L⁻¹ of the TPS system, `(12, 12)` float64 numpy array (cached)."""
    px = np.asarray(TPS_CONTROL_X, dtype=np.float64)
    py = np.asarray(TPS_CONTROL_Y, dtype=np.float64)
    n = TPS_NUM_CONTROL_POINTS
    squared = (px[:, None] - px[None, :]) ** 2 + (py[:, None] - py[None, :]) ** 2
    k = _kernel_np(squared) + float(reg_factor) * np.eye(n)
    p = np.stack([np.ones(n), px, py], axis=1)
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = k
    system[:n, n:] = p
    system[n:, :n] = p.T
    inverse = np.linalg.inv(system)
    inverse.setflags(write=False)
    return inverse


def tps_coefficients(theta, reg_factor=0.0):
    """Kernel weights and affine part of the TPS given by θ.

    Args:
        theta: `(batch, 18)` TPS parameters.
        reg_factor: regularisation added to the kernel matrix.

    Returns:
        `(coef_x, coef_y)`, each `(batch, 12)` = `[w_1..w_9, a0, ax, ay]`.
    """
    n = TPS_NUM_CONTROL_POINTS
    # Only the first n columns of L⁻¹ matter: the right-hand side is [x'; 0].
    inverse = tf.constant(tps_system_inverse(reg_factor)[:, :n].T, dtype=theta.dtype)
    return tf.matmul(theta[:, :n], inverse), tf.matmul(theta[:, n:], inverse)


def tps_map_points(theta, points, reg_factor=0.0):
    """Maps points by the TPS θ.

    Args:
        theta: `(batch, 18)`.
        points: `(batch, m, 2)` normalised `(x, y)`, or `(m, 2)` shared by
            the whole batch (a sampling grid, the loss grid): the kernel
            values U(|p - P_i|²) are then computed once for all θ, not once
            per batch element.
        reg_factor: regularisation added to the kernel matrix.

    Returns:
        `(batch, m, 2)` mapped points.
    """
    coef_x, coef_y = tps_coefficients(theta, reg_factor)
    points = tf.convert_to_tensor(points)
    x, y = points[..., 0:1], points[..., 1:2]
    control_x = tf.constant(TPS_CONTROL_X, dtype=points.dtype)
    control_y = tf.constant(TPS_CONTROL_Y, dtype=points.dtype)
    squared = tf.square(x - control_x) + tf.square(y - control_y)  # (..., m, n)
    # U(0) = 0 without a NaN gradient at the control points themselves.
    safe = tf.where(squared > 0, squared, tf.ones_like(squared))
    kernel = safe * tf.math.log(safe)
    basis = tf.concat([kernel, tf.ones_like(x), x, y], axis=-1)  # (..., m, n+3)
    coef = tf.stack([coef_x, coef_y], axis=-1)  # (b, n+3, 2)
    if points.shape.rank == 2:
        return tf.einsum("mk,bkc->bmc", basis, coef)
    return tf.einsum("bmk,bkc->bmc", basis, coef)


def tps_map_options(reg_factor=0.0):
    """Checks the options of `tps_map_points`; solves L⁻¹ for them up front.

    Returns:
        `{"reg_factor": float}`.
    """
    try:
        ok = float(reg_factor) >= 0.0 and np.isfinite(float(reg_factor))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"Expected a finite reg_factor >= 0. Received: reg_factor={reg_factor}")
    tps_system_inverse(float(reg_factor))
    return {"reg_factor": float(reg_factor)}


def random_tps_theta(seed, ranges):
    """A random TPS θgt: the identity plus U(±max_offset) on each of the 18 values (SPEC §3).

    Args:
        seed: `(2,)` ints (int32 or int64 tensor, or a pair), the stateless seed.
        ranges: a `TpsRanges`.

    Returns:
        `(18,)` float32.
    """
    return randomly_offset(TPS_CONTROL_X + TPS_CONTROL_Y, seed, ranges.max_offset)


TPS = GeometricModel(
    name="tps",
    num_params=2 * TPS_NUM_CONTROL_POINTS,
    identity=TPS_CONTROL_X + TPS_CONTROL_Y,
    map_points=tps_map_points,
    random_theta=random_tps_theta,
    ranges=TpsRanges,
    map_options=tps_map_options,
)
