"""Differentiable bilinear sampling of an image at normalised positions.

Convention: corner-aligned normalised coordinates (align_corners=True),
`(x, y)` with x along the width; positions outside the image read zeros
(each of the four neighbours outside the image contributes zero, as with
PyTorch `grid_sample(padding_mode="zeros", align_corners=True)`).
"""

import tensorflow as tf


def bilinear_sample(image, grid):
    """Samples `image` at the positions of `grid`.

    Gradients flow to both the image and the grid (hence to θ). Built from
    gathers only, so it compiles with XLA on CPU and GPU.

    Args:
        image: `(batch, height, width, channels)`.
        grid: `(batch, out_height, out_width, 2)` normalised `(x, y)`.

    Returns:
        `(batch, out_height, out_width, channels)` in the dtype of `image`
        if it is a float type, else float32 (an integer image, e.g. uint8
        pixels, gives unrounded float32 samples); the arithmetic is float32.

    Example:
        >>> image = tf.random.uniform([1, 8, 8, 3])
        >>> grid = identity_grid(8, 8)[None]
        >>> bilinear_sample(image, grid)  # == image
    """
    image = tf.convert_to_tensor(image)
    if image.dtype.is_floating:
        out_dtype = image.dtype
        image = tf.cast(image, "float32")
    else:
        # Integer images (uint8 in the data pipeline) are gathered as they
        # are and only the samples are cast: a quarter of the memory
        # traffic, and no float copy of the whole image.
        out_dtype = tf.float32
    grid = tf.cast(grid, "float32")
    shape = tf.shape(image)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    out_shape = tf.shape(grid)[:3]
    width_f = tf.cast(width, "float32")
    height_f = tf.cast(height, "float32")
    x = (grid[..., 0] + 1.0) * 0.5 * (width_f - 1.0)
    y = (grid[..., 1] + 1.0) * 0.5 * (height_f - 1.0)
    x0 = tf.floor(x)
    y0 = tf.floor(y)
    wx1 = x - x0
    wy1 = y - y0
    wx0 = 1.0 - wx1
    wy0 = 1.0 - wy1
    flat = tf.reshape(image, tf.stack([batch, height * width, channels]))

    def corner(cx, cy, weight):
        inside = (cx >= 0.0) & (cx <= width_f - 1.0) & (cy >= 0.0) & (cy <= height_f - 1.0)
        ix = tf.cast(tf.clip_by_value(cx, 0.0, width_f - 1.0), "int32")
        iy = tf.cast(tf.clip_by_value(cy, 0.0, height_f - 1.0), "int32")
        index = tf.reshape(iy * width + ix, tf.stack([batch, -1]))
        values = tf.cast(tf.gather(flat, index, batch_dims=1), "float32")
        values = tf.reshape(values, tf.concat([out_shape, [channels]], 0))
        weight = tf.where(inside, weight, tf.zeros_like(weight))
        return values * weight[..., None]

    sampled = (
        corner(x0, y0, wx0 * wy0)
        + corner(x0 + 1.0, y0, wx1 * wy0)
        + corner(x0, y0 + 1.0, wx0 * wy1)
        + corner(x0 + 1.0, y0 + 1.0, wx1 * wy1)
    )
    return tf.cast(sampled, out_dtype)
