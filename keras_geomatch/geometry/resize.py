"""Resizing images to a model's input size, the way the reference does it.

The reference resizes every evaluation image by sampling it with the identity
grid of the output size (its `GeometricTnf` with no θ "performs bilinear
resizing"). We do the same with `bilinear_sample`, so there is no
second copy of the sampling code and the network sees what it saw in training
(where pairs are also made by grid sampling).

Convention: bilinear, corner-aligned (the first and last pixels of the input
land on the first and last pixels of the output), the aspect ratio is not kept
(SPEC §4), no anti-aliasing.
"""

import tensorflow as tf

from keras_geomatch.geometry.coordinates import identity_grid
from keras_geomatch.geometry.sampler import bilinear_sample


def resize_images(images, size):
    """Resizes a batch of images by bilinear sampling on the identity grid.

    Args:
        images: `(batch, height, width, channels)`, any real or integer dtype;
            height and width may be unknown until run time.
        size: `(out_height, out_width)`, Python ints.

    Returns:
        `(batch, out_height, out_width, channels)` float32 (not re-quantised:
        the network gets the interpolated values).

    Example:
        >>> resize_images(tf.zeros([2, 480, 640, 3], tf.uint8), (240, 240)).shape
        TensorShape([2, 240, 240, 3])
    """
    out_height, out_width = (int(s) for s in size)
    images = tf.cast(images, "float32")
    grid = identity_grid(out_height, out_width)
    grid = tf.broadcast_to(grid[None], tf.stack([tf.shape(images)[0], out_height, out_width, 2]))
    return bilinear_sample(images, grid)
