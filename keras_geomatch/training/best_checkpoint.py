"""The best-by-validation checkpoint of a run.

`keras.callbacks.ModelCheckpoint(save_best_only=True)` decides when a value
is a new best (starting from the restored best, `initial_value_threshold`);
two things are ours, because the library does not do them: its write goes
in place to the final path (a kill mid-write leaves a torn file, and with one
path no previous best), and it forgets the best value when the process ends.

Each new best is a folder `best-epoch-NNNN/` (0-based epoch) holding
`model.weights.h5` and `best.json` (`{"epoch", "monitor", "value"}`),
published with `export.atomic_dir.atomic_directory`; the previous best folder
is deleted afterwards. A resumed run reads the best value back from the
folder. Staging folders a killed run left are removed when a
`BestCheckpoint` is made (the start of training), not only at the next best.
"""

import json
import logging
import os
import re
import shutil

import keras

from keras_geomatch.export import atomic_dir

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.weights.h5"
INFO_FILE = "best.json"
_BEST_NAME = re.compile(r"best-epoch-(\d{4,})")


def latest_best(directory):
    """`(path, info)` of the best checkpoint in `directory`, or None."""
    if not os.path.isdir(directory):
        return None
    found = []
    for name in os.listdir(directory):
        match = _BEST_NAME.fullmatch(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    for _, path in sorted(found, reverse=True):
        try:
            with open(os.path.join(path, INFO_FILE), encoding="utf-8") as f:
                return path, json.load(f)
        except (OSError, ValueError) as error:
            logger.warning("Ignoring the unreadable best checkpoint %s: %s", path, error)
    return None


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """Saves the model's weights when `monitor` reaches a new minimum.

    Args:
        directory: folder of the checkpoint (created on the first save).
            Staging folders a killed run left there are deleted at once.
        monitor: a key of the epoch logs, e.g. 'val_loss' (lower is better).

    Attributes:
        best: the best value so far (None if none), including the ones of an
            earlier, interrupted run in the same directory.
        best_epoch: its 0-based epoch, or None.
    """

    def __init__(self, directory, monitor="val_loss"):
        self.directory = os.fspath(directory)
        stale = atomic_dir.recover_all(self.directory, _BEST_NAME)
        if stale:
            logger.info("Removed the staging folders of a killed run from %s (%s).",
                        self.directory, ", ".join(stale))
        previous = latest_best(self.directory)
        super().__init__(
            os.path.join(self.directory, WEIGHTS_FILE),  # checked by Keras; see _save_model
            monitor=monitor,
            mode="min",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=None if previous is None else float(previous[1]["value"]),
        )
        self.best_epoch = None if previous is None else int(previous[1]["epoch"])

    @property
    def weights_path(self):
        """The best weights file, or None if nothing was saved yet."""
        found = latest_best(self.directory)
        return None if found is None else os.path.join(found[0], WEIGHTS_FILE)

    def on_epoch_end(self, epoch, logs=None):
        # ModelCheckpoint only warns (and saves) without the monitored value.
        if (logs or {}).get(self.monitor) is None:
            raise ValueError(
                f"BestCheckpoint monitors {self.monitor!r}, missing from the epoch logs. "
                f"Received: keys={sorted(logs or {})}"
            )
        super().on_epoch_end(epoch, logs)

    def update(self, epoch, value):
        """Saves the weights if `value` beats the best; returns whether it did.

        For loops without `fit` (`custom_loop`)."""
        before = (self.best, self.best_epoch)
        self.on_epoch_end(epoch, {self.monitor: float(value)})
        return (self.best, self.best_epoch) != before

    def _save_model(self, epoch, batch, logs):
        # Replaces ModelCheckpoint's in-place write; its decision is kept.
        if not self._should_save_model(epoch, batch, logs, self.directory):
            return
        self.best = float(self.best)
        name = f"best-epoch-{int(epoch):04d}"
        with atomic_dir.atomic_directory(os.path.join(self.directory, name)) as staging:
            self.model.save_weights(os.path.join(staging, WEIGHTS_FILE))
            with open(os.path.join(staging, INFO_FILE), "w", encoding="utf-8") as f:
                json.dump({"epoch": int(epoch), "monitor": self.monitor, "value": self.best}, f)
        for entry in os.listdir(self.directory):
            if entry != name and _BEST_NAME.fullmatch(entry):
                shutil.rmtree(os.path.join(self.directory, entry), ignore_errors=True)
        self.best_epoch = int(epoch)
