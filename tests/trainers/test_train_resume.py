"""A run killed with SIGKILL and started again with the same command resumes.

The first run is killed as soon as its first step backup exists (mid-epoch);
the second, identical command must say where it resumes, finish the
interrupted epoch and the others, and end in the state of a run that was
never interrupted: same number of steps, same weights.
"""

import json
import os
import re
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from tests.trainers.cli import REPO
from tests.trainers.cli import TINY_FLAGS
from tests.trainers.cli import environment
from tests.trainers.cli import run_train
from tests.trainers.cli import train_command

STEPS_PER_EPOCH = 6
EPOCHS = 2


def flags(workdir):
    return [
        *TINY_FLAGS, f"--epochs={EPOCHS}", f"--steps_per_epoch={STEPS_PER_EPOCH}",
        "--validation_steps=1", "--backup_every_steps=1", "--noexport_at_end",
        f"--workdir={workdir}",
    ]


def backup_steps(workdir):
    folder = os.path.join(workdir, "backup")
    if not os.path.isdir(folder):
        return []
    return sorted(int(n[5:]) for n in os.listdir(folder) if re.fullmatch(r"step-\d{10}", n))


def final_weights(workdir):
    path = os.path.join(workdir, "backup", f"step-{EPOCHS * STEPS_PER_EPOCH:010d}",
                        "state.weights.h5")
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.mark.slow
def test_sigkill_then_same_command_resumes(tmp_path):
    workdir = tmp_path / "killed"
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(train_command(*flags(workdir)), cwd=REPO,
                                   env=environment(), stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 240
            while not backup_steps(workdir):
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.time() < deadline, "no backup appeared"
                time.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == -signal.SIGKILL
    killed_at = max(backup_steps(workdir))
    print(f"killed after the backup of step {killed_at}")
    assert 0 < killed_at < EPOCHS * STEPS_PER_EPOCH
    assert not os.path.exists(workdir / "metrics.json")

    resumed = run_train(*flags(workdir))
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    output = resumed.stdout + resumed.stderr
    epoch, step = divmod(killed_at, STEPS_PER_EPOCH)
    assert (
        f"epoch {epoch + 1}/{EPOCHS}, step {step}/{STEPS_PER_EPOCH} "
        f"(global step {killed_at} of {EPOCHS * STEPS_PER_EPOCH})"
    ) in output
    # The interrupted epoch runs only its remaining steps.
    if step:
        assert f"{STEPS_PER_EPOCH - step}/{STEPS_PER_EPOCH - step} - " in output
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["global_step"] == EPOCHS * STEPS_PER_EPOCH

    straight = tmp_path / "straight"
    uninterrupted = run_train(*flags(straight))
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-4000:]
    expected = final_weights(straight)
    got = final_weights(workdir)
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-4, atol=1e-6,
                                   err_msg=name)
    straight_metrics = json.loads((straight / "metrics.json").read_text())
    assert straight_metrics["best_epoch"] == metrics["best_epoch"]
    for key in ("pck@0.05", "pck@0.1"):
        assert straight_metrics["synthetic_pck"][key] == pytest.approx(
            metrics["synthetic_pck"][key], abs=0.02)
