"""Normalised ↔ pixel coordinates and the identity sampling grid.

Convention: corner-aligned normalised coordinates in [-1, 1] (see
`keras_geomatch.geometry`); pixels are 0-based, `(x, y)` = (column, row).
"""

import tensorflow as tf


def identity_grid(height, width, dtype="float32"):
    """The identity sampling grid of an image of `height × width` pixels.

    Args:
        height: number of rows of the grid.
        width: number of columns of the grid.
        dtype: dtype of the result.

    Returns:
        Tensor `(height, width, 2)`; `grid[i, j] = (x_j, y_i)` with
        `x_j = linspace(-1, 1, width)[j]` and `y_i = linspace(-1, 1, height)[i]`.
        A dimension of size 1 sits at 0 (the centre).
    """
    xs = _linspace(width, dtype)
    ys = _linspace(height, dtype)
    grid_x, grid_y = tf.meshgrid(xs, ys)  # 'xy' indexing: (height, width)
    return tf.stack([grid_x, grid_y], axis=-1)


def _linspace(num, dtype):
    # `num` may be a tensor (a size known only at run time, e.g. in an
    # exported serving graph), so the size-1 case is a `tf.where`, not an `if`.
    values = tf.linspace(-1.0, 1.0, num)
    return tf.cast(tf.where(num > 1, values, tf.zeros_like(values)), dtype)


def pixel_to_normalized(points, image_size):
    """0-based pixel `(x, y)` → normalised, corner-aligned coordinates.

    Args:
        points: `(..., 2)` pixel coordinates, x along the width.
        image_size: `(height, width)` of the image the pixels belong to; a
            pair of scalars or of tensors broadcastable against `points[..., 0]`.

    Returns:
        `(..., 2)`, `x_n = 2 * x / (W - 1) - 1`, `y_n = 2 * y / (H - 1) - 1`.
    """
    points = tf.convert_to_tensor(points)
    height, width = _size(image_size, points.dtype)
    x = 2.0 * points[..., 0] / (width - 1.0) - 1.0
    y = 2.0 * points[..., 1] / (height - 1.0) - 1.0
    return tf.stack([x, y], axis=-1)


def normalized_to_pixel(points, image_size):
    """Normalised, corner-aligned `(x, y)` → 0-based pixel coordinates.

    The inverse of `pixel_to_normalized`; same arguments and shapes.
    """
    points = tf.convert_to_tensor(points)
    height, width = _size(image_size, points.dtype)
    x = (points[..., 0] + 1.0) * 0.5 * (width - 1.0)
    y = (points[..., 1] + 1.0) * 0.5 * (height - 1.0)
    return tf.stack([x, y], axis=-1)


def _size(image_size, dtype):
    height, width = image_size[0], image_size[1]
    return tf.cast(height, dtype), tf.cast(width, dtype)
