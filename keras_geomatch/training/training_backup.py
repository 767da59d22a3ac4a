"""Backups of the training state, for resuming a killed run where it stopped.

Own code, on the project's directory publishing (`export.atomic_dir`),
because the libraries do not keep the guarantees of a resume:

* `keras.callbacks.BackupAndRestore` (Keras 3.15) restores only the epoch
  number (a backup taken mid-epoch makes the restarted run redo the epoch
  from its first step: more steps than planned, another data position), it
  overwrites `latest.weights.h5` and `training_metadata.json` in place (a
  kill during the write leaves a torn file, or weights and metadata of
  different steps), it works only inside `fit` (not in the multi-worker
  `custom_loop`), and the trainer needs the step before `fit` to position
  the data stream;
* `tf.train.CheckpointManager` publishes atomically (each file under a
  temporary name, then the `checkpoint` index), but under
  `MultiWorkerMirroredStrategy` every worker must take part in each save,
  and the JSON state, falling back to an older checkpoint and removing a
  killed save's temporary files would still be ours.

Here:

* a backup is a folder `step-NNNNNNNNNN/` holding `state.weights.h5` (the
  model's weights and the optimizer's variables, its step counter included)
  and `state.json`, published with `atomic_dir.atomic_directory`, so a
  folder with that name is always complete; the staging folders a killed
  run left are deleted before the next backup is staged (not by
  `TrainingBackup()` itself: every worker of a multi-worker run makes one,
  and only the chief writes);
* the latest `keep` backups are kept (the older ones are deleted after a
  newer one is in place), and one that fails to load falls back to the one
  before;
* restoring gives the global step, from which the epoch, the step within it
  and the position in the (index-keyed) data stream follow.
"""

import json
import logging
import os
import re
import shutil

import keras
import numpy as np

from keras_geomatch.export import atomic_dir

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "state.weights.h5"
STATE_FILE = "state.json"
_BACKUP_NAME = re.compile(r"step-(\d{10})")


def read_step_counter(variable):
    """The integer value of a (possibly distributed) step counter variable."""
    value = getattr(variable, "value", variable)
    if hasattr(value, "read_value"):  # tf.Variable, distributed ones included
        value = value.read_value()
    return int(np.asarray(value).item())


class TrainingBackup:
    """The backups of one run, in `directory`.

    Args:
        directory: folder of the backups (created on the first save).
        keep: number of backups kept (>= 1).

    Example:
        >>> backup = TrainingBackup("workdir/backup")
        >>> state = backup.restore(model)  # None on a fresh start
        >>> backup.save(model, {"epoch": 3})
    """

    def __init__(self, directory, keep=2):
        if int(keep) < 1:
            raise ValueError(f"Expected keep >= 1. Received: keep={keep}")
        self.directory = os.fspath(directory)
        self.keep = int(keep)

    def list(self):
        """`[(global_step, path)]` of the complete backups, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in os.listdir(self.directory):
            match = _BACKUP_NAME.fullmatch(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.directory, name)))
        return sorted(found)

    def save(self, model, state=None):
        """Backs up `model` (compiled: its optimizer is saved too).

        Args:
            model: the model being trained.
            state: JSON-ready dict stored next to the weights.

        Returns:
            The backup's folder.
        """
        step = read_step_counter(model.optimizer.iterations)
        final = os.path.join(self.directory, f"step-{step:010d}")
        if os.path.isdir(final):
            return final  # this exact state is already backed up
        self.remove_stale_staging()  # a killed run's, before a second one takes disk space
        with atomic_dir.atomic_directory(final) as staging:
            model.save_weights(os.path.join(staging, WEIGHTS_FILE))
            with open(os.path.join(staging, STATE_FILE), "w", encoding="utf-8") as f:
                json.dump({**(state or {}), "global_step": step}, f, indent=2)
        self._prune()
        return final

    def _prune(self):
        for _, path in self.list()[: -self.keep]:
            shutil.rmtree(path, ignore_errors=True)

    def remove_stale_staging(self):
        """Deletes the staging folders of backups (left by a killed run).

        Only `atomic_dir`'s names for `step-NNNNNNNNNN` targets are touched.
        Call it only from the process that saves (the chief), never while it
        is saving.

        Returns:
            The names of the backups whose leftovers were removed.
        """
        stale = atomic_dir.recover_all(self.directory, _BACKUP_NAME)
        if stale:
            logger.info("Removed the staging folders of a killed run from %s (backups %s).",
                        self.directory, ", ".join(stale))
        return stale

    def restore(self, model):
        """Loads the latest loadable backup into `model` (compiled).

        Returns:
            The backup's state dict (with 'global_step'), or None if there is
            no backup.

        Raises:
            ValueError: backups exist but none of them loads.
        """
        backups = self.list()
        if not backups:
            return None
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        errors = []
        for step, path in reversed(backups):
            try:
                with open(os.path.join(path, STATE_FILE), encoding="utf-8") as f:
                    state = json.load(f)
                model.load_weights(os.path.join(path, WEIGHTS_FILE))
            except (OSError, ValueError, KeyError) as error:
                logger.warning("Backup %s does not load (%s); trying an older one.", path, error)
                errors.append(f"{path}: {error}")
                continue
            restored = read_step_counter(optimizer.iterations)
            if restored != step or state.get("global_step") != step:
                errors.append(
                    f"{path}: expected global step {step}, the file holds {restored} "
                    f"(state.json says {state.get('global_step')})"
                )
                continue
            return state
        raise ValueError("No backup could be restored:\n  " + "\n  ".join(errors))


class BackupCallback(keras.callbacks.Callback):
    """Backs up the training state every `every_steps` steps and at epoch ends.

    The last step of an epoch is backed up by `on_epoch_end` only, after the
    validation and the best checkpoint of that epoch: a backup at an epoch
    boundary then always means the epoch's end-of-epoch work is done.

    Args:
        backup: a `TrainingBackup`.
        steps_per_epoch: training steps per epoch.
        every_steps: 0 for epoch ends only.
        state_fn: optional callable returning a JSON-ready dict stored with
            each backup.
    """

    def __init__(self, backup, steps_per_epoch, every_steps=0, state_fn=None):
        super().__init__()
        self.backup = backup
        self.steps_per_epoch = int(steps_per_epoch)
        self.every_steps = int(every_steps)
        self.state_fn = state_fn
        self._step = None

    def on_train_begin(self, logs=None):
        self._step = read_step_counter(self.model.optimizer.iterations)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(np.asarray(loss))):
            return  # never back up a diverged state (TerminateOnNaN stops the run)
        if (
            self.every_steps
            and self._step % self.every_steps == 0
            and self._step % self.steps_per_epoch != 0
        ):
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            return  # stopped early (a NaN loss): the last backup stays the latest
        if self._step % self.steps_per_epoch != 0:
            raise RuntimeError(
                f"Epoch {epoch} ended at step {self._step}, not a multiple of "
                f"steps_per_epoch={self.steps_per_epoch}: the data ran out early?"
            )
        self._save()

    def _save(self):
        epoch, step_in_epoch = divmod(self._step, self.steps_per_epoch)
        state = {"epoch": epoch, "step_in_epoch": step_in_epoch}
        if self.state_fn is not None:
            state.update(self.state_fn())
        self.backup.save(self.model, state)
