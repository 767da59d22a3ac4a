"""Cutting a (source, target) pair out of one image with a known θgt (SPEC §3).

The reference (Rocco et al.) resizes the image to 480×640, pads it by mirror
reflection by half its size on each side (960×1280), then samples the padded
image twice at 240×240 with `grid_sample`:

* source: the identity grid scaled by `s = padding_factor · crop_factor`
  (0.5 · 9/16 = 0.28125);
* target: the grid of T_θgt scaled by the same s.

Derivation of what θgt means. Write P(u) for the padded image sampled at
the normalised point u and q, p for normalised points of the source and
target crops. Then `source(q) = P(s·q)` and `target(p) = P(s·T_θ(p))`, hence

    target(p) = source(T_θ(p))

wherever T_θ(p) lies in [-1, 1]² (up to the interpolation of `source`
between its pixels). So θgt maps target points to source points in the
crops' own normalised coordinates, exactly the convention of SPEC §2, and
warping the source with θgt reproduces the target: the network's target.

Mirror padding without the padded image. Symmetric padding continues the
image by its mirror image: padded pixel -1 is pixel 0, -2 is pixel 1, ...
For continuous 0-based pixel coordinates this is the fold
`x → -1 - x` (left) and `x → 2W - 1 - x` (right), repeated with period 2W.
Bilinear interpolation commutes with the fold on every pixel interval that
does not straddle a fold point; the straddling intervals ([-1, 0] and
[W - 1, W]) join a pixel to its own copy, so their value is constant and
clamping the folded coordinate into [0, W - 1] gives it. Hence sampling
the resized image at folded-and-clamped coordinates equals sampling the
padded image, with no 960×1280 copy per pair. Beyond the padded image the
reference reads zeros (black corners for extreme affine θ); the fold keeps
reflecting instead, so a target never has a black border.

All warping is done by `keras_geomatch.geometry` (`transform_grid`,
`bilinear_sample`); this module only changes coordinates.
"""

import functools

import tensorflow as tf

from keras_geomatch.data import augmentation
from keras_geomatch.data.pair_config import PairConfig
from keras_geomatch.geometry import coordinates
from keras_geomatch.geometry import sampler
from keras_geomatch.geometry import transforms


def _fold(x, size):
    """Folds 0-based pixel coordinates into [0, size - 1] by mirror reflection."""
    period = 2.0 * size
    shifted = x + 0.5
    # floor, not tf.math.floormod: XLA on CPU calls fmod once per element,
    # which was half the cost of the whole grid. A rounding error at a period
    # boundary is harmless: the fold is continuous there.
    shifted = shifted - period * tf.floor(shifted * (1.0 / period))
    folded = tf.where(shifted > size, period - shifted, shifted) - 0.5
    return tf.clip_by_value(folded, 0.0, size - 1.0)


def crop_grid_to_image_grid(grid, config):
    """Maps a grid on the crop to the mirror-folded grid on the resized image.

    Args:
        grid: `(..., 2)` normalised `(x, y)` on the crop (the source or target
            image of the pair).
        config: a `PairConfig`.

    Returns:
        `(..., 2)` normalised coordinates on the resized (unpadded) image,
        inside [-1, 1]; sampling there equals sampling the mirror-padded image
        at `config.grid_scale · grid`.
    """
    padded = coordinates.normalized_to_pixel(config.grid_scale * grid, config.padded_size)
    pad_height, pad_width = config.padding
    height, width = config.resize_size
    x = _fold(padded[..., 0] - pad_width, float(width))
    y = _fold(padded[..., 1] - pad_height, float(height))
    return coordinates.pixel_to_normalized(tf.stack([x, y], axis=-1), config.resize_size)


@functools.lru_cache(maxsize=16)
def _source_grid(config):
    """The source's grid on the resized image: the same for every pair, so
    computed once per config (eagerly, also when called while tracing)."""
    height, width = config.image_size
    with tf.init_scope():
        return crop_grid_to_image_grid(coordinates.identity_grid(height, width), config).numpy()


def make_synthetic_pairs(images, theta, config, view=None):
    """Source and target images of a batch of synthetic pairs.

    Args:
        images: `(batch, H, W, channels)` images already resized to
            `config.resize_size` (any real dtype; uint8 is fine).
        theta: `(batch, num_params)` θgt of `config.geometric_model`.
        config: a `PairConfig`.
        view: optional `(batch, 2, 3)` affine maps of normalised coordinates,
            view → resized image (`augmentation.ViewAugmentation`): the pair
            is cut from that view of each image, in the same single sampling.

    Returns:
        `(source, target)`, each `(batch, h, w, channels)` float32 with
        `(h, w) = config.image_size`, in the value range of `images`.
        `target(p) = source(T_θ(p))` (see the module docstring).

    Example:
        >>> config = PairConfig("affine", image_size=(64, 64))
        >>> images = tf.zeros([2, 480, 640, 3], "uint8")
        >>> theta = tf.constant([[1., 0, 0, 0, 1, 0]] * 2)
        >>> source, target = make_synthetic_pairs(images, theta, config)
    """
    height, width = config.image_size
    # Integer pixels stay integer: the sampler gathers them and casts only
    # the samples (the images are 480×640, the pair 2×240×240).
    images = tf.convert_to_tensor(images)
    if images.dtype.is_floating:
        images = tf.cast(images, "float32")
    theta = tf.convert_to_tensor(theta, "float32")
    target_grid = crop_grid_to_image_grid(
        transforms.transform_grid(theta, config.geometric_model, height, width), config
    )
    source_grid = tf.broadcast_to(_source_grid(config)[None], tf.shape(target_grid))
    if view is not None:
        view = tf.convert_to_tensor(view, "float32")
        source_grid = augmentation.apply_view(source_grid, view)
        target_grid = augmentation.apply_view(target_grid, view)
    # One sampling call each. Not one call on the two grids side by side:
    # under XLA on CPU, slicing its result in two cost 1.7× the CPU (the
    # gathers are computed again for each slice).
    source = sampler.bilinear_sample(images, source_grid)
    target = sampler.bilinear_sample(images, target_grid)
    return source, target


def make_synthetic_pair(image, theta, config=None):
    """`make_synthetic_pairs` for one image `(H, W, c)` and θ `(num_params,)`."""
    config = config if config is not None else PairConfig()
    source, target = make_synthetic_pairs(image[None], theta[None], config)
    return source[0], target[0]
