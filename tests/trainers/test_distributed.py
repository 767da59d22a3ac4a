"""Distributed training: MirroredStrategy over 2 logical CPUs, and
MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from tests.trainers.cli import REPO
from tests.trainers.cli import TINY_FLAGS
from tests.trainers.cli import environment
from tests.trainers.cli import train_command

# Splits the CPU into two logical devices before TensorFlow starts, then
# trains with the library.
MIRRORED_SCRIPT = textwrap.dedent("""
    import json, logging, sys
    import tensorflow as tf
    logging.basicConfig(level=logging.INFO)
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_geomatch import training
    config = training.TrainConfig.from_dict(dict(
        backbone="small", weights="none", train_backbone=True, image_size=(88, 88),
        resize_size=(120, 160), builtin_samples=True, epochs=2, steps_per_epoch=2,
        validation_steps=1, batch_size=int(sys.argv[2]), backup_every_steps=1,
        strategy="mirrored", verbose=2, export_at_end=False))
    try:
        result = training.train(config, workdir=sys.argv[1])
    except ValueError as error:
        print("ERROR", error)
        sys.exit(3)
    print("RESULT", json.dumps({"global_step": result["metrics"]["global_step"],
                                "logical_cpus": len(tf.config.list_logical_devices("CPU"))}))
""")


def run_mirrored(workdir, batch_size):
    return subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(workdir), str(batch_size)],
        cwd=REPO, env=environment(), capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus(tmp_path):
    result = run_mirrored(tmp_path / "work", batch_size=4)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Strategy 'mirrored' (MirroredStrategy) with 2 replica(s)." in output
    line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")][0]
    assert json.loads(line[7:]) == {"global_step": 4, "logical_cpus": 2}
    assert sorted(os.listdir(tmp_path / "work" / "backup")) == [
        "step-0000000003", "step-0000000004"]


@pytest.mark.slow
def test_mirrored_batch_must_split_over_the_replicas(tmp_path):
    result = run_mirrored(tmp_path / "work", batch_size=3)
    assert result.returncode == 3
    assert "Expected batch_size divisible by the number of replicas (2)" in result.stdout


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_workers(flags, workers, tmp_path, run):
    processes = []
    for index in range(len(workers)):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        with open(tmp_path / f"run{run}_worker{index}.log", "w") as log:
            processes.append(subprocess.Popen(
                train_command(*flags), cwd=REPO,
                env=environment(TF_CONFIG=json.dumps(tf_config)),
                stdout=log, stderr=subprocess.STDOUT))
    return processes


def backup_steps(workdir):
    folder = workdir / "backup"
    return sorted(int(n[5:]) for n in os.listdir(folder)
                  if n.startswith("step-")) if folder.is_dir() else []


@pytest.mark.slow
def test_multi_worker_two_processes_killed_and_resumed(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    workdir, export_dir = tmp_path / "work", tmp_path / "export"
    flags = [*TINY_FLAGS, "--strategy=multi_worker", "--batch_size=4", "--epochs=2",
             "--steps_per_epoch=3", "--validation_steps=1", "--backup_every_steps=1",
             f"--workdir={workdir}", f"--export_dir={export_dir}"]

    # First run: both workers are killed once the chief has a backup.
    processes = start_workers(flags, workers, tmp_path, run=1)
    try:
        deadline = time.time() + 240
        while not backup_steps(workdir):
            assert all(p.poll() is None for p in processes), (
                tmp_path / "run1_worker0.log").read_text()[-3000:]
            assert time.time() < deadline, "no backup appeared"
            time.sleep(0.02)
    finally:
        for process in processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    killed_at = max(backup_steps(workdir))
    assert 0 < killed_at < 6

    # Same command, same cluster: both restore the chief's backup.
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = start_workers(flags, workers, tmp_path, run=2)
    try:
        for process in processes:
            process.wait(timeout=400)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    outputs = [(tmp_path / f"run2_worker{i}.log").read_text() for i in range(2)]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-4000:]
        assert f"(global step {killed_at} of 6)" in output
    assert "Strategy 'multi_worker' (CollectiveAllReduceStrategy) with 2 replica(s)." in outputs[0]
    assert "(not the chief: this worker writes no files)" in outputs[1]
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["global_step"] == 6 and metrics["synthetic_pck"]["num_pairs"] == 4
    assert backup_steps(workdir) == [5, 6]
    assert os.path.isfile(export_dir / "model.keras")
    assert os.path.isdir(export_dir / "serving" / "1")
    assert "Synthetic PCK" in outputs[0] and "Synthetic PCK" not in outputs[1]
