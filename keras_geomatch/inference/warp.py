"""Warping and resizing images with one or more estimated transformations.

A *stage* is a pair `(geometric_model, θ)` with θ `(batch, P)` (or `(P,)`
for a single image). A list of stages maps a target point p to the source
as `T_θ1(T_θ2(...(p)))` (see `geometry.compose_map_points`); the empty list
is the identity, so resizing an image is warping it with no stage.

Convention: corner-aligned normalised coordinates, θ maps target → source,
zeros outside the source (see `keras_geomatch.geometry`). Resizing this way
is what the reference does before the network (an identity warp at the
network's size, aspect ratio not kept).
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
    band) so that full-resolution photographs fit in memory; each band is
    `geometry.bilinear_sample(images, mapped identity grid)`, exactly what
    `geometry.transform_grid` + `bilinear_sample` compute for a single stage.

    Args:
        images: `(batch, H, W, C)` source images (any float values).
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
    images = tf.convert_to_tensor(np.asarray(images, dtype=np.float32))
    if images.shape.rank != 4:
        raise ValueError(
            f"Expected images of shape (batch, H, W, C). Received: shape={tuple(images.shape)}"
        )
    batch_size = int(images.shape[0])
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
    grid = geometry.identity_grid(height, width)
    rows_per_band = max(1, int(max_grid_points) // max(1, width * batch_size))
    bands = []
    for start in range(0, height, rows_per_band):
        stop = min(height, start + rows_per_band)
        points = tf.reshape(grid[start:stop], [-1, 2])
        mapped = geometry.compose_map_points(points, stages)
        mapped = tf.broadcast_to(mapped, [batch_size, (stop - start) * width, 2])
        mapped = tf.reshape(mapped, [batch_size, stop - start, width, 2])
        bands.append(geometry.bilinear_sample(images, mapped))
    return tf.concat(bands, axis=1).numpy()


def resize_images(images, output_size):
    """Bilinear, corner-aligned resize of `(batch, H, W, C)` images (aspect ratio not kept).

    `geometry.resize_images` as a float32 numpy array.
    """
    return geometry.resize_images(np.asarray(images), output_size).numpy()


def resize_image(image, output_size):
    """`resize_images` for one `(H, W, C)` image."""
    return resize_images(np.asarray(image)[None], output_size)[0]
