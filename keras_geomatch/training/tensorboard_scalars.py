"""TensorBoard scalar logs written with TensorFlow alone.

TensorFlow 2.21 no longer depends on the `tensorboard` package, and without
it `tf.summary.scalar` (and so `keras.callbacks.TensorBoard`) raises
`TBNotInstalledError`. The event files are written here with TensorFlow's
core `tf.summary.write` and the scalar plugin's metadata, the same records
`tf.summary.scalar` writes, so `tensorboard --logdir WORKDIR/logs` shows
them whether or not the package is installed where the training runs.

Layout, as Keras's callback: `logs/train/` and `logs/validation/`, tags
`epoch_<metric>` (`val_` prefixes dropped in `validation/`), step = epoch.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
)


class ScalarWriter:
    """Writes epoch scalars to `log_dir/train` and `log_dir/validation`."""

    def __init__(self, log_dir):
        self.log_dir = os.fspath(log_dir)
        self._writers = {}

    def _writer(self, split):
        if split not in self._writers:
            self._writers[split] = tf.summary.create_file_writer(os.path.join(self.log_dir, split))
        return self._writers[split]

    def write_epoch(self, epoch, logs):
        """Writes every numeric entry of `logs` at step `epoch`."""
        for key, value in logs.items():
            try:
                value = float(np.asarray(value))
            except (TypeError, ValueError):
                continue
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(split).as_default():
                tf.summary.write(
                    f"epoch_{name}",
                    tf.constant(value, tf.float32),
                    step=int(epoch),
                    metadata=_SCALAR_METADATA,
                )
        for writer in self._writers.values():
            writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def current_learning_rate(optimizer):
    """The optimizer's learning rate now (schedules evaluated), as a float."""
    rate = optimizer.learning_rate
    rate = getattr(rate, "value", rate)
    if hasattr(rate, "numpy"):
        rate = rate.numpy()
    return float(np.asarray(rate))


class TensorBoardScalars(keras.callbacks.Callback):
    """Logs the epoch logs and the learning rate with `ScalarWriter`."""

    def __init__(self, log_dir):
        super().__init__()
        self.writer = ScalarWriter(log_dir)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs["learning_rate"] = current_learning_rate(self.model.optimizer)
        self.writer.write_epoch(epoch, logs)

    def on_train_end(self, logs=None):
        self.writer.close()
