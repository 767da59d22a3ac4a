"""A custom training loop for `MultiWorkerMirroredStrategy`.

Keras 3.15's `fit` fails under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585: the distributed batches reach the model as
`PerReplica` values). This loop does what `fit` does for a run of this
project, with `strategy.run`:

* every worker reads its own pipeline (`distribute_datasets_from_function`):
  all training images, its own seed (`seed + worker · stride`), per-replica
  batches of `batch_size / replicas`; the loss of each replica is scaled by
  the global batch size and the gradients are summed across replicas by the
  optimizer (an all-reduce), as in `fit`;
* the chief alone validates, keeps the best checkpoint, writes backups,
  TensorBoard logs and (in `trainer`) the metrics and the export; the other
  workers wait for it in the next step's all-reduce. Every worker restores
  the chief's backup when the run restarts, so the backup folder must be
  visible to all of them (one machine, or a shared filesystem);
* XLA is off (`jit_compile='true'` is refused by `TrainConfig.validate`):
  XLA's collective ops are reported not to be implemented on CPU, and this
  loop is only tested without XLA.

Limits: BatchNorm moving statistics are updated per replica and not
averaged (the chief's are saved and exported); the chief's progress bar
shows the global (all-reduced) loss of each step; no loss scaling, so
`mixed_float16` is refused; tested with 2 CPU workers on one machine
(`tests/trainers/test_distributed.py`), not on several machines or GPUs.
"""

import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_geomatch.training import run_datasets
from keras_geomatch.training.training_backup import read_step_counter

logger = logging.getLogger(__name__)


def run_custom_loop(
    model,
    loss,
    config,
    strategy,
    train_files,
    start_step,
    chief,
    val_dataset=None,
    backup=None,
    best=None,
    log_dir=None,
    state_fn=None,
):
    """Trains `model` from `start_step` to `epochs · steps_per_epoch`.

    Args:
        model: compiled model built under `strategy.scope()`; its optimizer
            is used.
        loss: the loss, with reduction 'none' (per example).
        config: the resolved `TrainConfig`.
        strategy: the `tf.distribute.Strategy`.
        train_files: training image paths.
        start_step: global step to start from (the restored backup's).
        chief: whether this process writes files and validates.
        val_dataset: validation batches (chief only), or None.
        backup: `TrainingBackup` (chief only), or None.
        best: `BestCheckpoint` (chief only), or None.
        log_dir: TensorBoard folder (chief only), or None.
        state_fn: returns extra JSON state stored with each backup.

    Returns:
        The history: `{"loss": [...], "val_loss": [...]}` per epoch run.
    """
    steps_per_epoch = config.steps_per_epoch
    total_steps = config.epochs * steps_per_epoch
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(
            f"Expected batch_size divisible by the {replicas} replicas of the strategy. "
            f"Received: batch_size={config.batch_size}"
        )

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(config.batch_size)
        local_replicas = replicas // context.num_input_pipelines
        return run_datasets.training_dataset(
            config,
            train_files,
            start_step=start_step * local_replicas,
            num_steps=(total_steps - start_step) * local_replicas,
            batch_size=per_replica,
            seed_offset=context.input_pipeline_id,
        )

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    optimizer = model.optimizer

    @tf.function
    def train_step(iterator):
        def replica_step(inputs, theta_gt):
            with tf.GradientTape() as tape:
                theta = model(inputs, training=True)
                per_example = loss(theta_gt, theta)
                scaled = tf.nn.compute_average_loss(
                    tf.cast(per_example, "float32"), global_batch_size=config.batch_size
                )
            gradients = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return scaled

        inputs, theta_gt = next(iterator)
        per_replica = strategy.run(replica_step, args=(inputs, theta_gt))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    writer = EpochScalars(log_dir) if chief and log_dir else None
    if best is not None:
        best.set_model(model)
    history = {"loss": [], "val_loss": []}
    step = start_step
    while step < total_steps:
        epoch, first = divmod(step, steps_per_epoch)
        if chief and config.verbose:
            print(f"Epoch {epoch + 1}/{config.epochs}", flush=True)
        progbar = keras.utils.Progbar(steps_per_epoch, verbose=config.verbose if chief else 0)
        progbar.update(first)
        losses = []
        started = time.time()
        for _ in range(first, steps_per_epoch):
            value = float(train_step(iterator))
            if not math.isfinite(value):
                raise FloatingPointError(f"Training loss is {value} at global step {step}.")
            losses.append(value)
            step += 1
            in_epoch = step - epoch * steps_per_epoch
            progbar.update(in_epoch, [("loss", value)], finalize=False)
            every = config.backup_every_steps
            if backup is not None and every and step % every == 0 and in_epoch != steps_per_epoch:
                _save(backup, model, steps_per_epoch, state_fn)
        logs = {"loss": float(np.mean(losses))}
        if chief and val_dataset is not None:
            logs["val_loss"] = evaluate_loss(model, loss, val_dataset)
            if best is not None:
                best.update(epoch, logs["val_loss"])
        progbar.update(steps_per_epoch, list(logs.items()), finalize=True)
        if writer is not None:
            learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            writer.write(epoch, {**logs, "learning_rate": learning_rate})
        if backup is not None:
            _save(backup, model, steps_per_epoch, state_fn)
        for key in history:
            if key in logs:
                history[key].append(logs[key])
        logger.info(
            "Epoch %d/%d done in %.1f s: %s", epoch + 1, config.epochs, time.time() - started, logs
        )
    if writer is not None:
        writer.close()
    return history


class EpochScalars:
    """Epoch scalars as `keras.callbacks.TensorBoard` writes them.

    `log_dir/train/` and `log_dir/validation/`, tags `epoch_<name>` (the
    `val_` prefix dropped in `validation/`), step = epoch.
    """

    def __init__(self, log_dir):
        self._writers = {
            split: tf.summary.create_file_writer(os.path.join(log_dir, split))
            for split in ("train", "validation")
        }

    def write(self, epoch, logs):
        for key, value in logs.items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writers[split].as_default():
                tf.summary.scalar(f"epoch_{name}", value, step=int(epoch))
        for writer in self._writers.values():
            writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()


def evaluate_loss(model, loss, dataset):
    """Mean per-pair loss of `model` on `dataset` (run locally, undistributed)."""

    @tf.function
    def batch_loss(inputs, theta_gt):
        return tf.cast(loss(theta_gt, model(inputs, training=False)), "float32")

    values = [batch_loss(inputs, theta_gt).numpy() for inputs, theta_gt in dataset]
    return float(np.mean(np.concatenate(values)))


def _save(backup, model, steps_per_epoch, state_fn):
    step = read_step_counter(model.optimizer.iterations)
    epoch, step_in_epoch = divmod(step, steps_per_epoch)
    state = {"epoch": epoch, "step_in_epoch": step_in_epoch}
    if state_fn is not None:
        state.update(state_fn())
    backup.save(model, state)
