"""BestCheckpoint: saves on improvement only, atomically, and remembers."""

import os

import keras
import numpy as np
import pytest

from keras_geomatch.training import BestCheckpoint


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    return model


def test_saves_only_improvements(tmp_path):
    model = tiny_model()
    best = BestCheckpoint(tmp_path / "ckpt")
    best.set_model(model)
    assert best.weights_path is None
    best.on_epoch_end(0, {"val_loss": 2.0})
    saved = model.get_weights()
    model.set_weights([w + 1 for w in saved])
    best.on_epoch_end(1, {"val_loss": 3.0})  # worse: not saved
    assert best.best == 2.0 and best.best_epoch == 0
    assert os.path.basename(os.path.dirname(best.weights_path)) == "best-epoch-0000"
    best.on_epoch_end(2, {"val_loss": 1.0})
    assert best.best_epoch == 2
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["best-epoch-0002"]

    restored = tiny_model()
    restored.load_weights(best.weights_path)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_new_instance_remembers_the_best(tmp_path):
    model = tiny_model()
    first = BestCheckpoint(tmp_path / "ckpt")
    first.set_model(model)
    first.on_epoch_end(3, {"val_loss": 0.5})
    second = BestCheckpoint(tmp_path / "ckpt")
    assert (second.best, second.best_epoch) == (0.5, 3)
    second.set_model(model)
    assert not second.update(4, 0.6)


def test_missing_monitor_is_an_error(tmp_path):
    best = BestCheckpoint(tmp_path / "ckpt")
    best.set_model(tiny_model())
    with pytest.raises(ValueError, match="val_loss"):
        best.on_epoch_end(0, {"loss": 1.0})
