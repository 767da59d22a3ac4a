"""The best-by-validation checkpoint of a run.

Each improvement is written as a folder `best-epoch-NNNN/` holding
`model.weights.h5` and `best.json` (`{"epoch", "monitor", "value"}`), filled
under a hidden name (`.tmp-best-epoch-NNNN-<random>`, from
`atomic_files.make_staging_dir`) and renamed into place; the previous best
folder is deleted afterwards. The best value so far is read back from the
folder, so a resumed run keeps comparing against it. Staging folders a killed
run left are deleted when a `BestCheckpoint` is made (the start of training),
not only at the next new best.
"""

import json
import logging
import math
import os
import re
import shutil

import keras

from keras_geomatch.training import atomic_files

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.weights.h5"
INFO_FILE = "best.json"
_BEST_NAME = re.compile(r"best-epoch-(\d{4,})")
# `atomic_files.make_staging_dir(directory, "best-epoch-NNNN")`: mkdtemp's suffix.
_STAGING_NAME = re.compile(r"\.tmp-best-epoch-\d{4,}-[A-Za-z0-9_]+")


def remove_stale_staging(directory):
    """Deletes the staging folders of best checkpoints in `directory`.

    Only names of that form are touched (not other `.tmp-` files or folders).
    Call it only where no `BestCheckpoint` of `directory` is saving.

    Returns:
        The names removed.
    """
    if not os.path.isdir(directory):
        return []
    stale = sorted(n for n in os.listdir(directory) if _STAGING_NAME.fullmatch(n))
    for name in stale:
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    return stale


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


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model's weights when `monitor` reaches a new minimum.

    Args:
        directory: folder of the checkpoint (created on the first save).
            Staging folders a killed run left there are deleted at once.
        monitor: a key of the epoch logs, e.g. 'val_loss' (lower is better).

    Attributes:
        best: the best value so far (inf if none), including the ones of an
            earlier, interrupted run in the same directory.
        best_epoch: its 0-based epoch, or None.
    """

    def __init__(self, directory, monitor="val_loss"):
        super().__init__()
        self.directory = os.fspath(directory)
        self.monitor = monitor
        self.best = math.inf
        self.best_epoch = None
        stale = remove_stale_staging(self.directory)
        if stale:
            logger.info("Removed %d staging folder(s) of a killed run from %s: %s",
                        len(stale), self.directory, ", ".join(stale))
        previous = latest_best(self.directory)
        if previous is not None:
            self.best = float(previous[1]["value"])
            self.best_epoch = int(previous[1]["epoch"])

    @property
    def weights_path(self):
        """The best weights file, or None if nothing was saved yet."""
        found = latest_best(self.directory)
        return None if found is None else os.path.join(found[0], WEIGHTS_FILE)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"BestCheckpoint monitors {self.monitor!r}, missing from the epoch logs. "
                f"Received: keys={sorted(logs or {})}"
            )
        self.update(epoch, float(value))

    def update(self, epoch, value):
        """Saves the weights if `value` beats the best; returns whether it did."""
        if not value < self.best:
            return False
        name = f"best-epoch-{int(epoch):04d}"
        final = os.path.join(self.directory, name)
        staging = atomic_files.make_staging_dir(self.directory, name)
        try:
            self.model.save_weights(os.path.join(staging, WEIGHTS_FILE))
            with open(os.path.join(staging, INFO_FILE), "w", encoding="utf-8") as f:
                json.dump({"epoch": int(epoch), "monitor": self.monitor, "value": value}, f)
            if os.path.isdir(final):  # the same epoch, redone after a resume
                shutil.rmtree(final)
            atomic_files.publish_dir(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for entry in os.listdir(self.directory):
            if entry != name and _BEST_NAME.fullmatch(entry):
                shutil.rmtree(os.path.join(self.directory, entry), ignore_errors=True)
        remove_stale_staging(self.directory)
        self.best, self.best_epoch = value, int(epoch)
        return True
