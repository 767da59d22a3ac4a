"""TensorBoard scalars written without the tensorboard package."""

import glob

import keras
import numpy as np
import tensorflow as tf

from keras_geomatch.training.tensorboard_scalars import ScalarWriter
from keras_geomatch.training.tensorboard_scalars import TensorBoardScalars


def read_scalars(folder):
    values = {}
    for path in glob.glob(f"{folder}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                assert value.metadata.plugin_data.plugin_name == "scalars"
                number = float(tf.make_ndarray(value.tensor))
                values.setdefault(value.tag, []).append((event.step, number))
    return values


def test_writer_splits_train_and_validation(tmp_path):
    writer = ScalarWriter(tmp_path)
    writer.write_epoch(0, {"loss": 2.0, "val_loss": 1.5, "note": "text"})
    writer.write_epoch(1, {"loss": 1.0, "val_loss": 0.5})
    writer.close()
    assert read_scalars(tmp_path / "train") == {"epoch_loss": [(0, 2.0), (1, 1.0)]}
    assert read_scalars(tmp_path / "validation") == {"epoch_loss": [(0, 1.5), (1, 0.5)]}


def test_callback_logs_the_learning_rate(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.125), "mse")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[TensorBoardScalars(tmp_path)])
    scalars = read_scalars(tmp_path / "train")
    assert [step for step, _ in scalars["epoch_loss"]] == [0, 1]
    assert scalars["epoch_learning_rate"] == [(0, 0.125), (1, 0.125)]
