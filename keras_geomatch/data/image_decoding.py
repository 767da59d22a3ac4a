"""Decoding an image file into an RGB tensor of a fixed size (tf ops).

Any of JPEG, PNG, BMP, GIF (first frame), any size and channel count:
grayscale is repeated to RGB, an alpha channel is dropped.

A JPEG much larger than the size it is wanted at is decoded at 1/2, 1/4 or
1/8 scale by libjpeg's DCT scaling, which skips part of the decoding work and
is itself a low-pass filter; the resize then starts from a smaller image
(the saving is measured by `benchmarks/pipeline_throughput.py --jpeg-size`,
figures in benchmarks/RESULTS.md). The pixels stay
within about half a grey level on average of a whole decode (PSNR 45 dB, see
tests/data/test_image_decoding.py).
"""

import tensorflow as tf

# libjpeg decodes at these fractions of the full size: the `ratio` of
# `tf.io.decode_jpeg`.
JPEG_RATIOS = (1, 2, 4, 8)


def jpeg_ratio_index(height, width, min_size):
    """Which of `JPEG_RATIOS` to decode a JPEG of this size at.

    Args:
        height, width: int32 tensors (or ints), the image's full size.
        min_size: `(min_height, min_width)`, Python ints.

    Returns:
        int32 tensor: the index of the largest ratio r for which the image
        decoded at `1/r` scale is still at least `min_size` in both sides
        (0, ratio 1, when even 1/2 scale would be smaller).
    """
    min_height, min_width = (int(s) for s in min_size)
    index = tf.constant(0, tf.int32)
    # The condition holds for every ratio below the largest that fits.
    for ratio in JPEG_RATIOS[1:]:
        fits = (height // ratio >= min_height) & (width // ratio >= min_width)
        index += tf.cast(fits, tf.int32)
    return index


def _decode_jpeg_at_least(contents, min_size):
    shape = tf.io.extract_jpeg_shape(contents)
    # decode_jpeg's ratio is an attribute, not a tensor: one branch per value.
    branches = [
        lambda ratio=ratio: tf.io.decode_jpeg(contents, channels=0, ratio=ratio)
        for ratio in JPEG_RATIOS
    ]
    return tf.switch_case(jpeg_ratio_index(shape[0], shape[1], min_size), branches)


def decode_rgb(contents, min_size=None):
    """Decodes encoded image bytes to RGB.

    Args:
        contents: scalar string tensor, the bytes of a JPEG, PNG, BMP or GIF
            file (the format is detected from the bytes, not a file name).
        min_size: optional `(min_height, min_width)`: a JPEG at least twice
            that size in both sides is decoded at the smallest of 1/2, 1/4,
            1/8 scale that keeps it at least `min_size`. Other formats, and
            JPEGs without `min_size`, are decoded whole.

    Returns:
        `(height, width, 3)` uint8 tensor. For a GIF, its first frame.

    Raises:
        tf.errors.InvalidArgumentError: when run on bytes that do not decode
            (corrupt, truncated or not an image).
    """
    def decode_whole():
        return tf.io.decode_image(contents, channels=0, dtype=tf.uint8, expand_animations=False)

    if min_size is None:
        image = decode_whole()
    else:
        image = tf.cond(
            tf.io.is_jpeg(contents), lambda: _decode_jpeg_at_least(contents, min_size), decode_whole
        )
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

    A JPEG at least twice `size` is first decoded at a reduced scale that
    stays at least `size` (see `decode_rgb`). The resize is bilinear (the
    aspect ratio is not kept), with antialiasing when the image shrinks in
    either direction (for pure enlargement it would give the same pixels at
    three times the cost); the result is rounded back to uint8, so an image
    costs the same memory whether or not it is cached, and cached and
    uncached pipelines give the same pairs.

    Args:
        path: scalar string tensor, the file's path.
        size: `(height, width)` of the result.

    Returns:
        `(height, width, 3)` uint8 tensor.
    """
    image = decode_rgb(tf.io.read_file(path), min_size=size)
    shape = tf.shape(image)
    shrinks = (shape[0] > size[0]) | (shape[1] > size[1])
    resized = tf.cond(
        shrinks,
        lambda: tf.image.resize(image, size, method="bilinear", antialias=True),
        lambda: tf.image.resize(image, size, method="bilinear", antialias=False),
    )
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
