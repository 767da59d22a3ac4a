"""Warping and resizing images with one or more estimated transformations.

A *stage* is a pair `(geometric_model, θ)` with θ `(batch, P)` (or `(P,)`
for a single image). A list of stages maps a target point p to the source
as `T_θ1(T_θ2(...(p)))` (see `geometry.compose_map_points`); the empty list
is the identity, so resizing an image is warping it with no stage.

Convention: corner-aligned normalised coordinates, θ maps target → source,
zeros outside the source (see `keras_geomatch.geometry`). Resizing this way
is what the reference does before the network (an identity warp at the
network's size, aspect ratio not kept).

Memory: the source is read where it lies (uint8 photographs stay uint8) and
the result is filled band by band, so warping or resizing a large photograph
costs the float32 result plus one band of `max_grid_points` points.
"""

import numpy as np
import tensorflow as tf

from keras_geomatch import geometry

# Grid points mapped per call: bounds memory for large photographs (a TPS map
# holds several (points, 12) float32 arrays at once).
DEFAULT_MAX_GRID_POINTS = 1 << 20


def as_stages(stages, batch_size=None):
    """Normalises stages to `[(name, float32 θ (batch, P))]`.

    Args:
        stages: sequence of `(geometric_model, theta)`; θ `(P,)` or `(batch, P)`.
        batch_size: if given, a `(P,)` θ is tiled to this batch.
    """
    normalised = []
    for geometric_model, theta in stages:
        spec = geometry.get_geometric_model(geometric_model)
        theta = np.asarray(theta, dtype=np.float32)
        if theta.ndim == 1:
            theta = theta[None]
            if batch_size is not None:
                theta = np.repeat(theta, batch_size, axis=0)
        if theta.ndim != 2 or theta.shape[1] != spec.num_params:
            raise ValueError(
                f"Expected theta of shape (batch, {spec.num_params}) or ({spec.num_params},) "
                f"for geometric_model={spec.name!r}. Received: shape={theta.shape}"
            )
        normalised.append((spec.name, theta))
    return normalised


def warp_images(images, stages, output_size, max_grid_points=DEFAULT_MAX_GRID_POINTS):
    """Samples each source image on the target grid mapped through `stages`.

    The grid is mapped in bands of rows (at most `max_grid_points` points per
    band; `geometry.compose_map_points`, as `geometry.transform_grid` does
    for one stage) and each band is sampled from the source and written into
    the preallocated result, so the memory beyond the images themselves is
    one band's. The source is never copied whole: an integer source (uint8
    photographs) is read as it is, not as a float32 copy 4× its size, and it
    never becomes a TensorFlow tensor, which would copy it (see
    `_sample_band`, the numpy twin of `geometry.bilinear_sample`).

    Args:
        images: `(batch, H, W, C)` source images: uint8 (or any integer
            dtype) or float values; other float dtypes are converted to
            float32 first.
        stages: sequence of `(geometric_model, θ (batch, P) or (P,))`; empty
            for a plain resize.
        output_size: `(height, width)` of the target grid.
        max_grid_points: the most grid points mapped at once.

    Returns:
        float32 numpy array `(batch, height, width, C)`.

    Example:
        >>> warp_images(images, [], (240, 240))  # resize, corners aligned
        >>> warp_images(images, [("affine", theta)], images.shape[1:3])
    """
    images = _as_source(images)
    if images.ndim != 4:
        raise ValueError(f"Expected images of shape (batch, H, W, C). Received: shape={images.shape}")
    batch_size = images.shape[0]
    stages = as_stages(stages, batch_size)
    for name, theta in stages:
        if theta.shape[0] != batch_size:
            raise ValueError(
                f"Expected theta with one row per image ({batch_size}) for stage {name!r}. "
                f"Received: shape={theta.shape}"
            )
    height, width = (int(s) for s in output_size)
    if min(height, width) < 1:
        raise ValueError(f"Expected a positive output_size. Received: output_size={output_size}")
    if min(images.shape[1:3]) < 1:
        raise ValueError(f"Expected non-empty images. Received: shape={images.shape}")
    # The identity grid's coordinates along each axis; a band's grid is made
    # from them (the whole grid would be 8 bytes per target pixel).
    xs = geometry.identity_grid(1, width)[0, :, 0]
    ys = geometry.identity_grid(height, 1)[:, 0, 1]
    output = np.empty((batch_size, height, width, images.shape[-1]), np.float32)
    rows_per_band = max(1, int(max_grid_points) // max(1, width * batch_size))
    for start in range(0, height, rows_per_band):
        stop = min(height, start + rows_per_band)
        grid_x, grid_y = tf.meshgrid(xs, ys[start:stop])
        points = tf.reshape(tf.stack([grid_x, grid_y], axis=-1), [-1, 2])
        mapped = geometry.compose_map_points(points, stages)
        mapped = tf.broadcast_to(mapped, [batch_size, (stop - start) * width, 2]).numpy()
        for index in range(batch_size):
            output[index, start:stop] = _sample_band(images[index], mapped[index]).reshape(
                stop - start, width, -1
            )
    return output


def _as_source(images):
    """`images` as a C-contiguous numpy array: integer or float32 ones are not copied."""
    if hasattr(images, "numpy") and not isinstance(images, np.ndarray):
        images = images.numpy()
    images = np.asarray(images)
    if images.dtype != np.float32 and not np.issubdtype(images.dtype, np.integer):
        images = images.astype(np.float32)
    return np.ascontiguousarray(images)


def _sample_band(image, points):
    """Bilinear samples of one `(H, W, C)` image at normalised `(N, 2)` points, float32 `(N, C)`.

    The same float32 arithmetic as `geometry.bilinear_sample` (corner-aligned,
    each neighbour outside the image contributes zero), in numpy so that a
    large source is read in place rather than copied into a tensor
    (`tf.convert_to_tensor` copies a numpy array). A test pins the two equal.
    """
    height, width, channels = image.shape
    flat = image.reshape(height * width, channels)  # a view: the image is contiguous here
    one, half = np.float32(1.0), np.float32(0.5)
    width_f, height_f = np.float32(width), np.float32(height)
    x = (points[:, 0] + one) * half * (width_f - one)
    y = (points[:, 1] + one) * half * (height_f - one)
    x0, y0 = np.floor(x), np.floor(y)
    wx1, wy1 = x - x0, y - y0
    wx0, wy0 = one - wx1, one - wy1
    sampled = None
    for cx, cy, weight in (
        (x0, y0, wx0 * wy0),
        (x0 + one, y0, wx1 * wy0),
        (x0, y0 + one, wx0 * wy1),
        (x0 + one, y0 + one, wx1 * wy1),
    ):
        inside = (cx >= 0) & (cx <= width_f - one) & (cy >= 0) & (cy <= height_f - one)
        ix = np.clip(cx, 0, width_f - one).astype(np.int64)
        iy = np.clip(cy, 0, height_f - one).astype(np.int64)
        values = flat[iy * width + ix].astype(np.float32)
        values *= np.where(inside, weight, np.float32(0.0))[:, None]
        sampled = values if sampled is None else sampled + values
    return sampled


def resize_images(images, output_size):
    """Bilinear, corner-aligned resize of `(batch, H, W, C)` images (aspect ratio not kept).

    The values of `geometry.resize_images` (sampling on the identity grid),
    as a float32 numpy array, computed by `warp_images` with no stage: a
    large (uint8) photograph is read in place, not copied whole.
    """
    return warp_images(images, [], output_size)


def resize_image(image, output_size):
    """`resize_images` for one `(H, W, C)` image."""
    return resize_images(np.asarray(image)[None], output_size)[0]
