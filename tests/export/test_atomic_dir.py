"""Atomic replacement of a directory: failures and killed processes leave it whole.

`atomic_dir` needs only the standard library; it is loaded from its file so
that the killed subprocesses start in milliseconds (no TensorFlow import).
"""

import hashlib
import importlib.util
import os
import pathlib
import signal
import subprocess
import sys
import textwrap

import pytest

import keras_geomatch.export.atomic_dir as package_atomic_dir

ATOMIC_DIR_FILE = package_atomic_dir.__file__


def load_atomic_dir():
    spec = importlib.util.spec_from_file_location("atomic_dir_standalone", ATOMIC_DIR_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(path):
    """`{relative path: sha256}` of every file under `path`."""
    path = pathlib.Path(path)
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def siblings(target):
    target = pathlib.Path(target)
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def write_tree(path, content):
    path = pathlib.Path(path)
    (path / "serving" / "1").mkdir(parents=True)
    (path / "model.keras").write_text(f"model {content}")
    (path / "serving" / "1" / "saved_model.pb").write_text(f"graph {content}")


@pytest.fixture
def old_export(tmp_path):
    target = tmp_path / "export"
    write_tree(target, "old")
    return target


def test_replaces_the_directory(old_export):
    atomic_dir = load_atomic_dir()
    with atomic_dir.atomic_directory(old_export) as staging:
        assert pathlib.Path(staging).parent == old_export.parent
        write_tree(staging, "new")
        assert snapshot(old_export)["model.keras"] == hashlib.sha256(b"model old").hexdigest()
    assert (old_export / "model.keras").read_text() == "model new"
    assert siblings(old_export) == []


def test_creates_a_missing_directory_and_its_parent(tmp_path):
    atomic_dir = load_atomic_dir()
    target = tmp_path / "a" / "b"
    with atomic_dir.atomic_directory(target) as staging:
        write_tree(staging, "new")
    assert (target / "serving" / "1" / "saved_model.pb").read_text() == "graph new"


def test_an_exception_leaves_the_old_directory(old_export):
    atomic_dir = load_atomic_dir()
    before = snapshot(old_export)
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_dir.atomic_directory(old_export) as staging:
            write_tree(staging, "new")
            raise RuntimeError("boom")
    assert snapshot(old_export) == before
    assert siblings(old_export) == []


def test_a_failing_second_rename_puts_the_old_directory_back(old_export, monkeypatch):
    atomic_dir = load_atomic_dir()
    before = snapshot(old_export)
    real_rename = os.rename
    calls = []

    def flaky_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError("disk on fire")
        real_rename(src, dst)

    monkeypatch.setattr(atomic_dir.os, "rename", flaky_rename)
    with pytest.raises(OSError, match="disk on fire"):
        with atomic_dir.atomic_directory(old_export) as staging:
            write_tree(staging, "new")
    assert snapshot(old_export) == before
    assert siblings(old_export) == []


KILLED_WRITER = textwrap.dedent(
    """
    import importlib.util, os, signal, sys
    spec = importlib.util.spec_from_file_location("atomic_dir", sys.argv[1])
    atomic_dir = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(atomic_dir)
    target, kill_at = sys.argv[2], sys.argv[3]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_rename = os.rename
    if kill_at == "between_renames":
        renames = []
        def rename(src, dst):
            real_rename(src, dst)
            renames.append(dst)
            if len(renames) == 1:
                die()
        atomic_dir.os.rename = rename
    if kill_at == "before_cleanup":  # new content in place, old not deleted yet
        atomic_dir._remove = lambda path: die()
    with atomic_dir.atomic_directory(target) as staging:
        os.makedirs(os.path.join(staging, "serving", "2"))
        with open(os.path.join(staging, "model.keras"), "w") as f:
            f.write("model new")
        if kill_at == "while_writing":
            die()
        with open(os.path.join(staging, "serving", "2", "saved_model.pb"), "w") as f:
            f.write("graph new")
    """
)


@pytest.mark.parametrize("kill_at", ["while_writing", "between_renames", "before_cleanup"])
def test_a_killed_writer_never_leaves_a_half_written_directory(old_export, tmp_path, kill_at):
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    before = snapshot(old_export)
    result = subprocess.run(
        [sys.executable, str(script), ATOMIC_DIR_FILE, str(old_export), kill_at], timeout=60
    )
    assert result.returncode == -signal.SIGKILL
    assert siblings(old_export), "the killed writer should leave something to clean up"
    atomic_dir = load_atomic_dir()
    if kill_at == "between_renames":
        assert not old_export.exists()  # the only window: old content is in the backup
    atomic_dir.recover(old_export)
    after = snapshot(old_export)
    if kill_at == "before_cleanup":
        assert after == {
            "model.keras": hashlib.sha256(b"model new").hexdigest(),
            "serving/2/saved_model.pb": hashlib.sha256(b"graph new").hexdigest(),
        }
    else:
        assert after == before
    assert siblings(old_export) == []


def make_leftovers(target):
    """Folders a killed writer of `target` leaves, and look-alikes that are not ours.

    Returns:
        `(ours, not_ours)`: lists of names next to `target`.
    """
    target = pathlib.Path(target)
    name = target.name
    ours = [f".{name}.tmp-0123456789ab", f".{name}.tmp-fedcba987654", f".{name}.old-00112233aabb"]
    not_ours = [
        f".{name}.tmp-mine",  # not 12 hex digits: someone's own folder
        f".{name}.tmp-0123456789abc",
        f".{name}.tmp-0123456789ab.keep",
        f".{name}_v2.tmp-0123456789ab",  # another target's staging
        f".other.tmp-0123456789ab",
        f"{name}.tmp-0123456789ab",  # not hidden
    ]
    for folder in ours + not_ours:
        (target.parent / folder / "serving").mkdir(parents=True)
        (target.parent / folder / "model.keras").write_text("half written")
    return ours, not_ours


def test_the_start_of_a_write_removes_only_our_stale_folders(old_export):
    ours, not_ours = make_leftovers(old_export)
    atomic_dir = load_atomic_dir()
    with atomic_dir.atomic_directory(old_export) as staging:
        # Removed before anything is written, not after the new content is in.
        assert not any((old_export.parent / name).exists() for name in ours)
        write_tree(staging, "new")
    assert sorted(os.listdir(old_export.parent)) == sorted(not_ours + ["export"])
    for name in not_ours:
        assert (old_export.parent / name / "model.keras").read_text() == "half written"


def test_the_staged_files_are_flushed_before_the_swap(old_export, monkeypatch):
    atomic_dir = load_atomic_dir()
    flushed = []
    fsync_path = atomic_dir.fsync_path
    monkeypatch.setattr(atomic_dir, "fsync_path", lambda p: (flushed.append(p), fsync_path(p)))
    replace = atomic_dir.replace_directory

    def look_then_replace(source, target):
        files = {os.path.relpath(p, source) for p in flushed if os.path.isfile(p)}
        assert files == {"model.keras", os.path.join("serving", "1", "saved_model.pb")}
        replace(source, target)

    monkeypatch.setattr(atomic_dir, "replace_directory", look_then_replace)
    with atomic_dir.atomic_directory(old_export) as staging:
        write_tree(staging, "new")
    assert (old_export / "model.keras").read_text() == "model new"


def test_recover_all_repairs_every_matching_target_only(tmp_path):
    atomic_dir = load_atomic_dir()
    # step-2: killed between the two renames (its content aside); step-3:
    # killed while staging; other-1: not of the family.
    write_tree(tmp_path / ".step-2.old-00112233aabb", "two")
    write_tree(tmp_path / ".step-3.tmp-0123456789ab", "half")
    write_tree(tmp_path / ".other-1.tmp-0123456789ab", "other")
    write_tree(tmp_path / ".step-4.tmp-mine", "mine")
    assert atomic_dir.recover_all(tmp_path, r"step-\d") == ["step-2", "step-3"]
    assert sorted(os.listdir(tmp_path)) == [".other-1.tmp-0123456789ab", ".step-4.tmp-mine",
                                            "step-2"]
    assert (tmp_path / "step-2" / "model.keras").read_text() == "model two"
    assert atomic_dir.recover_all(tmp_path / "missing", r"step-\d") == []
