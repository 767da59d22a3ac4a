"""Decoding an image file into an RGB tensor of a fixed size (tf ops).

Any of JPEG, PNG, BMP, GIF (first frame), any size and channel count:
grayscale is repeated to RGB, an alpha channel is dropped.
"""

import tensorflow as tf

def decode_rgb(contents):
    """Decodes encoded image bytes to RGB.

    Args:
        contents: scalar string tensor, the bytes of a JPEG, PNG, BMP or GIF
            file (the format is detected from the bytes, not a file name).

    Returns:
        `(height, width, 3)` uint8 tensor. For a GIF, its first frame.

    Raises:
        tf.errors.InvalidArgumentError: when run on bytes that do not decode
            (corrupt, truncated or not an image).
    """
    image = tf.io.decode_image(contents, channels=0, dtype=tf.uint8, expand_animations=False)
    # RGB (the common case) passes through uncopied: a gather over the
    # channel axis would cost twice the JPEG decoding itself.
    image = tf.cond(
        tf.shape(image)[-1] >= 3,
        lambda: image[..., :3],  # RGB, or RGB + alpha
        lambda: tf.tile(image[..., :1], [1, 1, 3]),  # gray, or gray + alpha
    )
    image.set_shape([None, None, 3])
    return image


def load_resized_image(path, size):
    """Reads, decodes and resizes one image file.

    The resize is bilinear (the aspect ratio is not kept), with antialiasing
    when the image shrinks in either direction (for pure enlargement it would
    give the same pixels at three times the cost); the result is rounded back to uint8, so an image costs the same memory
    whether or not it is cached, and cached and uncached pipelines give the
    same pairs.

    Args:
        path: scalar string tensor, the file's path.
        size: `(height, width)` of the result.

    Returns:
        `(height, width, 3)` uint8 tensor.
    """
    image = decode_rgb(tf.io.read_file(path))
    shape = tf.shape(image)
    shrinks = (shape[0] > size[0]) | (shape[1] > size[1])
    resized = tf.cond(
        shrinks,
        lambda: tf.image.resize(image, size, method="bilinear", antialias=True),
        lambda: tf.image.resize(image, size, method="bilinear", antialias=False),
    )
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
