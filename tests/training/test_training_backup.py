"""TrainingBackup and BackupCallback: atomic step backups and restoring them."""

import json
import os

import keras
import numpy as np
import pytest

from keras_geomatch.training import BackupCallback
from keras_geomatch.training import TrainingBackup
from keras_geomatch.export import atomic_dir
from keras_geomatch.training.training_backup import read_step_counter


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    return model


def fit_steps(model, steps, callbacks=(), epochs=1):
    x = np.arange(3 * 2 * steps, dtype="float32").reshape(2 * steps, 3) / 10
    y = np.ones((2 * steps, 2), "float32")
    model.fit(x, y, batch_size=2, epochs=epochs, callbacks=list(callbacks), verbose=0,
              shuffle=False)


def test_restore_without_backup_is_none(tmp_path):
    assert TrainingBackup(tmp_path / "backup").restore(tiny_model()) is None


def test_round_trip_weights_optimizer_and_step(tmp_path):
    model = tiny_model()
    fit_steps(model, 3)
    backup = TrainingBackup(tmp_path / "backup")
    path = backup.save(model, {"epoch": 1})
    assert os.path.basename(path) == "step-0000000003"

    restored = tiny_model(seed=1)
    state = backup.restore(restored)
    assert state == {"epoch": 1, "global_step": 3}
    assert read_step_counter(restored.optimizer.iterations) == 3
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_restored_training_continues_like_uninterrupted(tmp_path):
    straight = tiny_model()
    fit_steps(straight, 4)
    fit_steps(straight, 4)

    first = tiny_model()
    fit_steps(first, 4)
    backup = TrainingBackup(tmp_path / "backup")
    backup.save(first)
    second = tiny_model(seed=5)
    backup.restore(second)
    fit_steps(second, 4)
    for a, b in zip(straight.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_keeps_the_latest_backups_and_ignores_staging_folders(tmp_path):
    model = tiny_model()
    backup = TrainingBackup(tmp_path / "backup", keep=2)
    for _ in range(3):
        fit_steps(model, 1)
        backup.save(model)
    assert [step for step, _ in backup.list()] == [2, 3]
    # A staging folder left by a killed run is neither listed nor restored.
    os.makedirs(tmp_path / "backup" / ".step-0000000009.tmp-0123456789ab")
    assert [step for step, _ in backup.list()] == [2, 3]
    assert backup.restore(tiny_model())["global_step"] == 3


def test_a_torn_latest_backup_falls_back_to_the_previous_one(tmp_path):
    model = tiny_model()
    backup = TrainingBackup(tmp_path / "backup")
    fit_steps(model, 1)
    backup.save(model)
    fit_steps(model, 1)
    latest = backup.save(model)
    with open(os.path.join(latest, "state.weights.h5"), "wb") as f:
        f.write(b"torn")
    assert backup.restore(tiny_model())["global_step"] == 1


def test_no_loadable_backup_raises(tmp_path):
    model = tiny_model()
    fit_steps(model, 1)
    backup = TrainingBackup(tmp_path / "backup", keep=1)
    path = backup.save(model)
    with open(os.path.join(path, "state.json"), "w") as f:
        f.write("{")
    with pytest.raises(ValueError, match="No backup could be restored"):
        backup.restore(tiny_model())


def test_saving_the_same_step_twice_keeps_one(tmp_path):
    model = tiny_model()
    fit_steps(model, 1)
    backup = TrainingBackup(tmp_path / "backup")
    assert backup.save(model) == backup.save(model)
    assert len(backup.list()) == 1


def test_callback_saves_every_n_steps_and_at_epoch_ends(tmp_path):
    model = tiny_model()
    backup = TrainingBackup(tmp_path / "backup", keep=100)
    callback = BackupCallback(backup, steps_per_epoch=5, every_steps=2,
                              state_fn=lambda: {"note": "x"})
    fit_steps(model, 5, [callback], epochs=2)
    # Steps 2, 4 | epoch end 5 | 6, 8 | epoch end 10; step 10 is not saved twice.
    assert [step for step, _ in backup.list()] == [2, 4, 5, 6, 8, 10]
    with open(os.path.join(backup.list()[3][1], "state.json")) as f:
        assert json.load(f) == {"epoch": 1, "step_in_epoch": 1, "note": "x", "global_step": 6}


def test_callback_skips_the_last_step_of_an_epoch_until_its_end(tmp_path):
    model = tiny_model()
    backup = TrainingBackup(tmp_path / "backup", keep=100)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([step for step, _ in backup.list()])

    # Spy runs before the backup's on_epoch_end: step 4 is not there yet.
    fit_steps(model, 4, [Spy(), BackupCallback(backup, steps_per_epoch=4, every_steps=2)])
    assert seen == [[2]]
    assert [step for step, _ in backup.list()] == [2, 4]


def test_callback_never_backs_up_a_diverged_state(tmp_path):
    model = tiny_model()
    backup = TrainingBackup(tmp_path / "backup", keep=100)
    x = np.ones((8, 3), "float32")
    y = np.array([[1.0, 1.0]] * 3 + [[np.nan, 0.0]] * 5, "float32")
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False, callbacks=[
        keras.callbacks.TerminateOnNaN(),
        BackupCallback(backup, steps_per_epoch=4, every_steps=1)])
    assert [step for step, _ in backup.list()] == [1]


def test_the_next_backup_first_removes_a_killed_runs_staging_folders_only(tmp_path, monkeypatch):
    directory = tmp_path / "backup"
    model = tiny_model()
    backup = TrainingBackup(directory)
    fit_steps(model, 1)
    backup.save(model)
    stale = [
        os.path.basename(atomic_dir._sibling(directory / "step-0000000002", "tmp")),
        ".step-0000000005.tmp-abcdef012345",
    ]
    unrelated = [".tmp-notes", ".best-epoch-0001.tmp-0123456789ab", "step-notes",
                 ".step-0000000002.tmp-mine"]
    for name in stale + unrelated:
        os.makedirs(directory / name, exist_ok=True)
        (directory / name / "state.weights.h5").write_text("half written")

    # Every worker makes a TrainingBackup and restores; only the chief writes.
    resumed = TrainingBackup(directory)
    assert resumed.restore(tiny_model())["global_step"] == 1
    assert all((directory / name).is_dir() for name in stale)

    left_when_staging = []
    atomic_directory = atomic_dir.atomic_directory

    def look_then_stage(*args):
        left_when_staging.append([name for name in stale if (directory / name).exists()])
        return atomic_directory(*args)

    monkeypatch.setattr(atomic_dir, "atomic_directory", look_then_stage)
    fit_steps(model, 1)
    resumed.save(model)
    assert left_when_staging == [[]]
    assert sorted(os.listdir(directory)) == sorted(
        ["step-0000000001", "step-0000000002"] + unrelated
    )
