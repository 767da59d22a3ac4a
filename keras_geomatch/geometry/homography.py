"""Homography, in 4-point form (8 values) or matrix form (9 values).

Convention: maps target → source in normalised coordinates.
4-point θ = [x'_1..x'_4, y'_1..y'_4], the source positions of the target
corners `HOMOGRAPHY_CORNERS_X = [-1, -1, 1, 1]`, `HOMOGRAPHY_CORNERS_Y =
[-1, 1, -1, 1]`; identity θ = concat(corners). Matrix θ = H row-major, acting
on homogeneous (x, y, 1); the 4-point form gives H with h33 = 1.
"""

import tensorflow as tf

from keras_geomatch.geometry.geometric_model import GeometricModel
from keras_geomatch.geometry.random_offsets import randomly_offset
from keras_geomatch.geometry.ranges import HomographyRanges

HOMOGRAPHY_CORNERS_X = (-1.0, -1.0, 1.0, 1.0)
HOMOGRAPHY_CORNERS_Y = (-1.0, 1.0, -1.0, 1.0)
HOMOGRAPHY_MATRIX_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def homography_4pt_to_matrix(theta):
    """The 3×3 homography sending the canonical corners to θ's corners.

    Closed form (square → quadrilateral, Heckbert 1989) instead of an 8×8
    solve: no batched LU, so it compiles with XLA everywhere. Pinned against
    OpenCV `getPerspectiveTransform` in the tests.

    Args:
        theta: `(batch, 8)` 4-point parameters.

    Returns:
        `(batch, 3, 3)` matrices with h33 = 1.
    """
    xs, ys = theta[:, 0:4], theta[:, 4:8]
    # Corners of the unit square (0,0), (1,0), (1,1), (0,1) are, in θ's order,
    # the corners with index 0, 2, 3, 1.
    x0, x1, x2, x3 = xs[:, 0], xs[:, 2], xs[:, 3], xs[:, 1]
    y0, y1, y2, y3 = ys[:, 0], ys[:, 2], ys[:, 3], ys[:, 1]
    dx1, dx2, dx3 = x1 - x2, x3 - x2, x0 - x1 + x2 - x3
    dy1, dy2, dy3 = y1 - y2, y3 - y2, y0 - y1 + y2 - y3
    det = dx1 * dy2 - dx2 * dy1
    g = (dx3 * dy2 - dx2 * dy3) / det
    h = (dx1 * dy3 - dx3 * dy1) / det
    one = tf.ones_like(g)
    unit_square_to_quad = tf.reshape(
        tf.stack(
            [
                x1 - x0 + g * x1, x3 - x0 + h * x3, x0,
                y1 - y0 + g * y1, y3 - y0 + h * y3, y0,
                g, h, one,
            ],
            axis=-1,
        ),
        [-1, 3, 3],
    )
    # [-1, 1]² → unit square: u = (x + 1) / 2.
    half = tf.constant(
        [[0.5, 0.0, 0.5], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]], dtype=theta.dtype
    )
    matrix = tf.einsum("bij,jk->bik", unit_square_to_quad, half)
    return matrix / matrix[:, 2:3, 2:3]


def homography_map_points(matrix, points):
    """Maps points by a homography.

    Args:
        matrix: `(batch, 3, 3)`, or `(batch, 9)` row-major.
        points: `(batch, n, 2)` normalised `(x, y)`, or `(n, 2)` shared by
            the whole batch.

    Returns:
        `(batch, n, 2)` mapped points (homogeneous division included).
    """
    matrix = tf.reshape(matrix, [-1, 3, 3])
    points = tf.convert_to_tensor(points)
    homogeneous = tf.concat([points, tf.ones_like(points[..., :1])], axis=-1)
    if points.shape.rank == 2:
        mapped = tf.einsum("bij,nj->bni", matrix, homogeneous)
    else:
        mapped = tf.einsum("bij,bnj->bni", matrix, homogeneous)
    return mapped[..., :2] / mapped[..., 2:3]


def homography_4pt_map_points(theta, points):
    """Maps points by a 4-point θ `(batch, 8)`; as `homography_map_points`."""
    return homography_map_points(homography_4pt_to_matrix(theta), points)


def random_homography_4pt_theta(seed, ranges):
    """A random 4-point θgt: the corners plus U(±max_offset) on each value (SPEC §3).

    Args:
        seed: `(2,)` ints (int32 or int64 tensor, or a pair), the stateless seed.
        ranges: a `HomographyRanges`.

    Returns:
        `(8,)` float32.
    """
    return randomly_offset(HOMOGRAPHY_CORNERS_X + HOMOGRAPHY_CORNERS_Y, seed, ranges.max_offset)


def random_homography_matrix_theta(seed, ranges):
    """The homography of `random_homography_4pt_theta` (same seed) as its
    3×3 matrix, row-major, `(9,)` float32 with h33 = 1."""
    theta = random_homography_4pt_theta(seed, ranges)
    return tf.reshape(homography_4pt_to_matrix(theta[None]), [9])


HOMOGRAPHY_4PT = GeometricModel(
    name="hom",
    num_params=8,
    identity=HOMOGRAPHY_CORNERS_X + HOMOGRAPHY_CORNERS_Y,
    map_points=homography_4pt_map_points,
    random_theta=random_homography_4pt_theta,
    ranges=HomographyRanges,
)

HOMOGRAPHY_MATRIX = GeometricModel(
    name="hom_matrix",
    num_params=9,
    identity=HOMOGRAPHY_MATRIX_IDENTITY,
    map_points=homography_map_points,
    random_theta=random_homography_matrix_theta,
    ranges=HomographyRanges,
)
