"""Affine transformation θ = [a11, a12, tx, a21, a22, ty] (row-major 2×3).

Convention: maps target → source in normalised coordinates;
identity θ = [1, 0, 0, 0, 1, 0].
"""

import tensorflow as tf

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
