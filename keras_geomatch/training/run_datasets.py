"""The image files and `tf.data` pipelines of a training run.

Training pairs: `data.make_pair_dataset(training=True)` keys every pair on
its index in an endless stream, so the stream of a run is fixed by its seed
and a resumed run starts it at `global_step · batch_size` (`start=`): the
pairs after a restart are the ones an uninterrupted run would have used.

Training images are augmented (`data.ViewAugmentation`) when the config says
`augment`; validation images never are.

Validation pairs: the validation images go through the same pipeline with
their own seed, and the first `validation_steps` batches are kept, a finite
data set that gives the same pairs at every epoch and on every run. (The
`training=False` mode would give one fixed pair per image, too few with a
handful of validation images.)
"""

import tensorflow as tf

from keras_geomatch import data

# Keeps the validation pairs' random stream apart from the training pairs'
# even when the same images are used for both.
VALIDATION_SEED_OFFSET = 104_729
# Separates the streams of the workers of a multi-worker run.
WORKER_SEED_STRIDE = 1_000_003


def resolve_files(config):
    """`(train_files, val_files)` of a `TrainConfig`; `val_files` is None
    without validation.

    Raises:
        FileNotFoundError / ValueError: from `data` for a missing folder or
            list, or one without images.
    """
    if config.builtin_samples:
        return data.builtin_sample_images()
    if config.train_dir:
        train_files = data.list_image_files(config.train_dir)
    else:
        train_files = data.read_image_list(config.train_list)
    if config.val_dir:
        val_files = data.list_image_files(config.val_dir)
    elif config.val_list:
        val_files = data.read_image_list(config.val_list)
    else:
        val_files = None
    return train_files, val_files


def training_dataset(config, files, start_step, num_steps, batch_size=None, seed_offset=0):
    """`num_steps` training batches, from global step `start_step` on.

    Args:
        config: a resolved `TrainConfig`.
        files: training image paths.
        start_step: index of the first batch in the run's stream.
        num_steps: number of batches.
        batch_size: batch size of this input pipeline (default: the config's).
        seed_offset: added to the seed (a multi-worker run's worker index).

    Returns:
        A finite `tf.data.Dataset` of `(inputs, theta_gt)`.
    """
    batch_size = int(batch_size or config.batch_size)
    dataset = data.make_pair_dataset(
        files,
        config.pair_config(),
        batch_size=batch_size,
        training=True,
        seed=config.seed + WORKER_SEED_STRIDE * int(seed_offset),
        repeat=True,
        start=int(start_step) * batch_size,
        augment=data.ViewAugmentation() if config.augment else None,
    )
    return _exactly(dataset, num_steps)


def validation_dataset(config, files):
    """The fixed validation pairs: `validation_steps` batches."""
    dataset = data.make_pair_dataset(
        files,
        config.pair_config(),
        batch_size=config.batch_size,
        training=True,
        seed=config.seed + VALIDATION_SEED_OFFSET,
        repeat=True,
    )
    return _exactly(dataset, config.validation_steps)


def _exactly(endless, num_batches):
    """The first `num_batches` of an endless data set, with a known length.

    The pair pipeline drops unreadable images (`ignore_errors`), which hides
    its length; stating it lets Keras end a validation pass without probing
    for the end.
    """
    num_batches = int(num_batches)
    return endless.take(num_batches).apply(tf.data.experimental.assert_cardinality(num_batches))
