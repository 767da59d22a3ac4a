"""Affine transformation θ = [a11, a12, tx, a21, a22, ty] (row-major 2×3).

Convention: maps target → source in normalised coordinates;
identity θ = [1, 0, 0, 0, 1, 0].
"""

import tensorflow as tf

from keras_geomatch.geometry.geometric_model import GeometricModel
from keras_geomatch.geometry.ranges import AffineRanges

AFFINE_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def affine_map_points(theta, points):
    """Maps points by affine θ: `p' = A·p + t`.

    Args:
        theta: `(batch, 6)`.
        points: `(batch, n, 2)` normalised `(x, y)`, or `(n, 2)` shared by
            the whole batch.

    Returns:
        `(batch, n, 2)` mapped points.
    """
    x, y = points[..., 0], points[..., 1]
    a11, a12, tx, a21, a22, ty = [theta[:, i : i + 1] for i in range(6)]
    return tf.stack([a11 * x + a12 * y + tx, a21 * x + a22 * y + ty], axis=-1)


def _rotation(angle):
    """`(2, 2)` rotation matrix R(angle) = [[cos, -sin], [sin, cos]]."""
    c, s = tf.cos(angle), tf.sin(angle)
    return tf.reshape(tf.stack([c, -s, s, c]), [2, 2])


def random_affine_theta(seed, ranges):
    """A random affine θgt: `A = R(α)·R(-φ)·diag(λ1, λ2)·R(φ)` and t (SPEC §3).

    Args:
        seed: `(2,)` ints (int32 or int64 tensor, or a pair), the stateless seed.
        ranges: an `AffineRanges`.

    Returns:
        `(6,)` float32. One stateless draw u ~ U(-1, 1)⁶ gives, in this
        order, α, φ, λ1, λ2, tx, ty (scaled to their ranges).
    """
    u = tf.random.stateless_uniform([6], seed=seed, minval=-1.0, maxval=1.0)
    alpha = u[0] * ranges.max_rotation
    phi = u[1] * ranges.max_shear_angle
    low, high = ranges.scale_range
    scales = low + (u[2:4] + 1.0) * 0.5 * (high - low)
    translation = u[4:6] * ranges.max_translation
    r_phi = _rotation(phi)
    a = _rotation(alpha) @ tf.transpose(r_phi) @ tf.linalg.diag(scales) @ r_phi
    return tf.stack([a[0, 0], a[0, 1], translation[0], a[1, 0], a[1, 1], translation[1]])


AFFINE = GeometricModel(
    name="affine",
    num_params=6,
    identity=AFFINE_IDENTITY,
    map_points=affine_map_points,
    random_theta=random_affine_theta,
    ranges=AffineRanges,
)
