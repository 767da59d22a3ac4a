"""`make_pair_dataset`: a `tf.data` pipeline of synthetic training pairs (SPEC §3).

Each element of the data set is one image of the file list turned into a
pair by `make_synthetic_pairs` with a random θgt. Randomness is stateless
and keyed on positions, never on what ran before:

* training: element `i` of epoch `e` is file `perm_e[i]`, where `perm_e` is a
  full pseudorandom permutation of the files (`index_shuffle` keyed on
  `(seed, e)`; no shuffle buffer), and its θgt is keyed on `(seed, e, i)`.
  The same seed gives the same stream of pairs on every run.
* validation (`training=False`): element `i` is file `i` with θgt keyed on
  `(seed, i)` only: the same pairs, in the same order, every epoch.

Work per pair: read, decode and resize one image (optionally cached in
memory as uint8), then, per batch, one call of the project's bilinear
sampler for the source and target of the whole batch.
"""

import logging
import os

import numpy as np
import tensorflow as tf

from keras_geomatch.data import image_check
from keras_geomatch.data.augmentation import ViewAugmentation
from keras_geomatch.data.augmentation import apply_colour
from keras_geomatch.data.image_decoding import load_resized_image
from keras_geomatch.data.pair_config import PairConfig
from keras_geomatch.data.random_theta import random_theta
from keras_geomatch.data.synthetic_pair import make_synthetic_pairs
from keras_geomatch.models.geomatch_model import SOURCE_IMAGE
from keras_geomatch.models.geomatch_model import TARGET_IMAGE

logger = logging.getLogger(__name__)

# With cache_decoded=None, decoded images are cached when they fit in this.
AUTO_CACHE_MAX_BYTES = 128 * 2**20

# Salts keep the random streams (order, training θ, validation θ) apart.
_ORDER_SALT = 0x5EED0
_TRAIN_THETA_SALT = 0x5EED1
_VAL_THETA_SALT = 0x5EED2
_AUGMENT_SALT = 0x5EED3


def _seed_pair(seed, salt):
    return tf.constant([int(seed), salt], dtype=tf.int64)


def make_pair_dataset(
    files,
    config=None,
    batch_size=16,
    training=True,
    seed=0,
    repeat=None,
    num_parallel_calls=tf.data.AUTOTUNE,
    cache_decoded=None,
    check_images="decode",
    min_image_side=16,
    skipped=None,
    drop_remainder=None,
    start=0,
    jit_compile=True,
    augment=None,
):
    """A data set of batches of synthetic pairs with their θgt.

    Args:
        files: sequence of image paths (e.g. from `list_image_files`).
        config: a `PairConfig`; the defaults (affine, 240×240) if None.
        batch_size: pairs per batch.
        training: shuffled, fresh θ every epoch if True; fixed validation
            pairs if False (see the module docstring).
        seed: int, the seed of every random choice.
        repeat: repeat forever; defaults to `training`. A validation set that
            repeats gives the same pairs every pass.
        num_parallel_calls: parallelism of the decode and warp maps.
        cache_decoded: keep the decoded, resized images in memory (uint8,
            `3·H·W` bytes each: 0.9 MB at 480×640). None: cache when all of
            them fit in `AUTO_CACHE_MAX_BYTES` (128 MiB, about 145 images).
        check_images: `"decode"`, `"header"` or `"none"`: how the files are
            checked before the pipeline starts (`check_image_files`).
            Unusable files are skipped with a logged warning.
        min_image_side: smaller images are skipped (see `check_image_file`).
        skipped: a `SkippedImages` that receives the skipped files.
        drop_remainder: drop a last incomplete batch; defaults to
            `training`.
        start: index of the first pair of the stream. Pairs are keyed on
            their index, so `start=n` gives the stream without its first n
            pairs at no cost: a resumed training run passes the number of
            pairs it has already used.
        augment: optional training-time image augmentation, keyed like θ (a
            stateless seed of its own per pair, so the stream stays
            reproducible and `start=` still skips for free); θgt is
            unchanged: the pair is cut from the augmented image, so
            `target(p) = source(T_θ(p))` holds. Either
            a `ViewAugmentation` (what `TrainConfig.augment` uses): its view
            is folded into the pair's sampling and its colour applied to the
            crops, at the cost of the pair's size, not the image's; or
            any `fn(image, seed) -> image`, applied to every resized image
            before its pair is cut: `image` is float32 `(H, W, 3)` in
            [0, 255] at `config.resize_size`, `seed` `(2,)` int64; it must
            keep the shape; the result is rounded and clipped to uint8.
        jit_compile: compile the per-batch warp with XLA (several times
            faster on CPU: it fuses the grid arithmetic into the gathers).
            The colour of `ViewAugmentation` is compiled apart.

    Returns:
        A `tf.data.Dataset` of `(inputs, theta_gt)` where `inputs` is
        `{"source_image": (B, h, w, 3), "target_image": (B, h, w, 3)}`,
        float32 RGB in [0, 255], `(h, w) = config.image_size`, and
        `theta_gt` is `(B, P)` float32, P = `config.num_params`. θgt maps
        target → source: warping the source with it gives the target.

    Raises:
        ValueError: bad arguments, or no usable image among `files`.

    Example:
        >>> train_files, val_files = builtin_sample_images()
        >>> config = PairConfig("tps", image_size=(240, 240))
        >>> dataset = make_pair_dataset(train_files, config, batch_size=16, seed=1)
        >>> inputs, theta = next(iter(dataset))
    """
    config = config if config is not None else PairConfig()
    if not isinstance(config, PairConfig):
        raise ValueError(f"Expected config to be a PairConfig. Received: config={config!r}")
    if isinstance(files, (str, bytes, os.PathLike)):
        raise ValueError(
            "Expected files as a list of image paths (see list_image_files / read_image_list). "
            f"Received a single path: files={files!r}"
        )
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"Expected batch_size a positive integer. Received: batch_size={batch_size!r}")
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"Expected seed an integer. Received: seed={seed!r}")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"Expected start a non-negative integer. Received: start={start!r}")
    repeat = training if repeat is None else bool(repeat)
    drop_remainder = training if drop_remainder is None else bool(drop_remainder)
    files = list(files)
    if not files:
        raise ValueError("Expected at least one image file. Received: files=[]")

    skipped = skipped if skipped is not None else image_check.SkippedImages()
    skipped_before = skipped.count
    usable, skipped = image_check.check_image_files(
        files, mode=check_images, min_side=min_image_side, skipped=skipped, log_total=False
    )
    image_bytes = 3 * config.resize_size[0] * config.resize_size[1]
    if cache_decoded is None:
        cache_decoded = len(usable) * image_bytes <= AUTO_CACHE_MAX_BYTES
    if cache_decoded:
        load_image, usable = _cached_loader(usable, config.resize_size, skipped)
    else:
        load_image = _file_loader(usable, config.resize_size)
        if check_images != "decode":
            logger.warning(
                "check_images=%r: a file whose data TensorFlow cannot decode will be left out "
                "of the stream without a count; check_images='decode' finds and counts them "
                "before training.",
                check_images,
            )
    if skipped.count > skipped_before:
        logger.warning(
            "Skipped %d of %d image files.", skipped.count - skipped_before, len(files)
        )
    if not usable:
        reasons = "; ".join(f"{p}: {r}" for p, r in skipped.items[:3])
        raise ValueError(
            f"Expected at least one usable image. Received: {len(files)} files, all skipped "
            f"(first reasons: {reasons})"
        )
    num_files = len(usable)

    order_seed = _seed_pair(seed, _ORDER_SALT)
    theta_seed = _seed_pair(seed, _TRAIN_THETA_SALT if training else _VAL_THETA_SALT)

    def element(k):
        epoch, i = k // num_files, k % num_files
        if training:
            epoch_order_seed = tf.random.experimental.stateless_fold_in(order_seed, epoch)
            index = tf.random.experimental.index_shuffle(
                i, epoch_order_seed, tf.constant(num_files - 1, tf.int64)
            )
            seed_k = tf.random.experimental.stateless_fold_in(
                tf.random.experimental.stateless_fold_in(theta_seed, epoch), i
            )
        else:
            index = i
            seed_k = tf.random.experimental.stateless_fold_in(theta_seed, i)
        theta = random_theta(config.geometric_model, seed_k, config)
        image = load_image(index)
        if augment is None:
            return image, theta
        augment_seed = tf.random.experimental.stateless_fold_in(seed_k, _AUGMENT_SALT)
        if isinstance(augment, ViewAugmentation):
            # One op per pair; the batch's views are made in `pairs`.
            uniforms = tf.random.stateless_uniform([augment.NUM_UNIFORMS], augment_seed)
            return image, theta, uniforms
        augmented = augment(tf.cast(image, tf.float32), augment_seed)
        augmented.set_shape(image.shape)
        return tf.cast(tf.round(tf.clip_by_value(augmented, 0.0, 255.0)), tf.uint8), theta

    @tf.function(jit_compile=bool(jit_compile))
    def cut(images, theta, view_uniforms):
        view, colour = (None, None)
        if view_uniforms is not None:
            view, colour = augment.from_uniforms(view_uniforms)
        source, target = make_synthetic_pairs(images, theta, config, view=view)
        # Bilinear weights may sum to 1 + 1e-7: keep the promised [0, 255].
        return tf.clip_by_value(source, 0.0, 255.0), tf.clip_by_value(target, 0.0, 255.0), colour

    # A cluster of its own: fused with the sampling, XLA would compute the
    # source's gathers twice, for its mean and for its pixels (1.4× the CPU).
    @tf.function(jit_compile=bool(jit_compile))
    def recolour(source, target, colour):
        mean = tf.reduce_mean(source, axis=[1, 2], keepdims=True)
        return apply_colour(source, colour, mean), apply_colour(target, colour, mean)

    def pairs(images, theta, view_uniforms=None):
        source, target, colour = cut(images, theta, view_uniforms)
        if colour is not None:
            source, target = recolour(source, target, colour)
        shape = [None, *config.image_size, 3]
        source.set_shape(shape)
        target.set_shape(shape)
        return {SOURCE_IMAGE: source, TARGET_IMAGE: target}, theta

    if repeat:
        indices = tf.data.Dataset.counter(start=int(start))
    else:
        indices = tf.data.Dataset.range(int(start), num_files)
    dataset = indices.map(element, num_parallel_calls=num_parallel_calls, deterministic=True)
    # The last resort: a file that fails to decode after the check (checked
    # by header only, or changed since) is dropped rather than stopping a
    # long run. TensorFlow's own log line would be its internals.
    dataset = dataset.ignore_errors(log_warning=False)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(pairs, num_parallel_calls=num_parallel_calls, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _file_loader(files, size):
    # Bytes, not str: a file name that is not valid UTF-8 (os.listdir gives
    # it with surrogate escapes) cannot become a tf.string from str.
    paths = tf.constant([os.fsencode(f) for f in files])

    def load(index):
        return load_resized_image(tf.gather(paths, index), size)

    return load


def _cached_loader(files, size, skipped):
    """Decodes every file now; returns a loader indexing the in-memory stack."""
    images, usable = [], []
    for path in files:
        try:
            images.append(load_resized_image(tf.constant(os.fsencode(path)), size).numpy())
            usable.append(path)
        except tf.errors.OpError as error:
            reason = f"TensorFlow could not decode it: {image_check.plain_tf_reason(error.message)}"
            skipped.add(path, reason)
            logger.warning("Skipping image %s: %s", image_check.printable_path(path), reason)
    if not images:
        return None, usable
    stack = tf.constant(np.stack(images))

    def load(index):
        return tf.gather(stack, index)

    return load, usable
