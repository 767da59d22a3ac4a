"""BestCheckpoint: saves on improvement only, atomically, and remembers."""

import os

import keras
import numpy as np
import pytest

from keras_geomatch.export import atomic_dir
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


def _leftovers(directory, stale_names):
    """A killed run's leftovers (one named by `atomic_dir` itself) and look-alikes."""
    stale = [atomic_dir._sibling(os.path.join(directory, "best-epoch-0003"), "tmp")]
    stale += [os.path.join(directory, name) for name in stale_names]
    for path in stale:
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "model.weights.h5"), "w") as f:
            f.write("half written")
    unrelated = [".tmp-notes", ".step-0000000009.tmp-0123456789ab", "best-epoch-notes", "mine",
                 ".best-epoch-0003.tmp-mine"]
    for name in unrelated:
        os.makedirs(os.path.join(directory, name))
    with open(os.path.join(directory, ".tmp-abc.part"), "w") as f:
        f.write("another writer's temporary file")
    return [os.path.basename(p) for p in stale], unrelated + [".tmp-abc.part"]


def test_making_one_removes_a_killed_runs_staging_folders_only(tmp_path):
    directory = tmp_path / "ckpt"
    model = tiny_model()
    first = BestCheckpoint(directory)
    first.set_model(model)
    first.on_epoch_end(0, {"val_loss": 1.0})
    stale, unrelated = _leftovers(
        directory, [".best-epoch-0004.tmp-0123456789ab", ".best-epoch-0000.old-abcdef012345"]
    )
    assert all(os.path.isdir(directory / name) for name in stale)

    second = BestCheckpoint(directory)  # the start of a resumed run
    assert sorted(os.listdir(directory)) == sorted(["best-epoch-0000"] + unrelated)
    assert (second.best, second.best_epoch) == (1.0, 0)
    second.set_model(model)
    assert second.update(1, 0.5)  # a new best leaves the look-alikes too
    assert sorted(os.listdir(directory)) == sorted(["best-epoch-0001"] + unrelated)


def test_making_one_in_a_missing_directory_creates_nothing(tmp_path):
    BestCheckpoint(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()
