"""Publishing a directory all at once, so readers never see a half-written one.

The project's one way to publish a directory (exports, training backups,
best checkpoints); single files go through `training.atomic_files`.

    with atomic_directory("exports/affine") as staging:
        ...  # write everything under `staging`
    # now "exports/affine" is the new content; the old one is gone

Everything is written into a sibling staging directory
(`.<name>.tmp-<12 hex digits>`, same filesystem so renames are atomic); its
files are flushed to disk, then it is swapped in:

* no `target` yet: one rename;
* else two renames: the old directory moves aside to `.<name>.old-<hex>`,
  then the staging directory takes its name, and the old one is deleted.
  A kill between the two renames leaves the target missing, its old content
  whole aside; `recover` puts it back.

A reader sees the old content, the new one, or (in the instant between the
two renames) nothing: never a mix. An exception inside the `with` block
deletes the staging directory and leaves the target untouched. A killed
process leaves at most a stale staging or set-aside directory next to the
target, which the next `atomic_directory` on that target repairs or removes
first thing (`recover`; `recover_all` for a family of targets, e.g. all
`step-NNNNNNNNNN` backups). Only names of exactly that form are touched:
other targets' folders and anything a person named alike stay. One writer at
a time per target: a second concurrent writer's staging directory would be
taken for a stale one.

Standard library only: the tests load this file alone, in processes they kill.
"""

import contextlib
import os
import re
import shutil
import uuid

_STAGING = "tmp"
_ASIDE = "old"
_RANDOM_DIGITS = 12
_LEFTOVER = re.compile(rf"\.(.+)\.({_STAGING}|{_ASIDE})-[0-9a-f]{{{_RANDOM_DIGITS}}}")


def _sibling(target, kind):
    parent, name = os.path.split(os.path.abspath(target))
    return os.path.join(parent, f".{name}.{kind}-{uuid.uuid4().hex[:_RANDOM_DIGITS]}")


def _siblings(target, kind):
    """The `_sibling(target, kind)` paths that exist, oldest first."""
    parent, name = os.path.split(os.path.abspath(target))
    if not os.path.isdir(parent):
        return []
    found = []
    for entry in os.listdir(parent):
        match = _LEFTOVER.fullmatch(entry)
        if match and match.group(1) == name and match.group(2) == kind:
            found.append(os.path.join(parent, entry))
    return sorted(found, key=os.path.getmtime)


def _remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def fsync_path(path):
    """Flushes a file or a folder (its entries) to disk; best effort for folders."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        if os.path.isdir(path):
            return  # some systems cannot open folders
        raise
    try:
        os.fsync(handle)
    except OSError:
        if not os.path.isdir(path):
            raise
    finally:
        os.close(handle)


def _fsync_tree(root):
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(os.path.join(folder, name))
        fsync_path(folder)


def recover(target):
    """Repairs what an interrupted replacement of `target` left behind.

    If `target` is missing and a set-aside copy exists, the newest is renamed
    back. Stale staging and set-aside directories of `target` (our names
    only) are then deleted.

    Args:
        target: the directory path.
    """
    aside = _siblings(target, _ASIDE)
    if aside and not os.path.lexists(target):
        os.rename(aside.pop(), target)
    for path in _siblings(target, _STAGING) + aside:
        _remove(path)


def recover_all(parent, name_pattern):
    """`recover` for every target in `parent` whose name fully matches `name_pattern`.

    Args:
        parent: the folder holding the targets (may not exist).
        name_pattern: a regular expression (string or compiled) for the
            targets' names, e.g. `r"step-\\d{10}"`.

    Returns:
        The names of the targets that had leftovers, sorted.
    """
    if not os.path.isdir(parent):
        return []
    pattern = re.compile(name_pattern)
    targets = set()
    for entry in os.listdir(parent):
        match = _LEFTOVER.fullmatch(entry)
        if match and pattern.fullmatch(match.group(1)):
            targets.add(match.group(1))
    for name in targets:
        recover(os.path.join(parent, name))
    return sorted(targets)


def replace_directory(source, target):
    """Moves the complete directory `source` to `target`, replacing it if present."""
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.lexists(target):
        os.rename(source, target)
        fsync_path(parent)
        return
    aside = _sibling(target, _ASIDE)
    os.rename(target, aside)
    try:
        os.rename(source, target)
    except BaseException:
        os.rename(aside, target)
        raise
    fsync_path(parent)
    _remove(aside)


@contextlib.contextmanager
def atomic_directory(target):
    """Yields a staging directory that replaces `target` when the block ends.

    First, what a killed earlier writer of `target` left is repaired and its
    stale folders removed (`recover`).

    Args:
        target: the directory to (re)create; its parent is created if needed.

    Yields:
        The path of the empty staging directory (a sibling of `target`).
    """
    target = os.path.abspath(os.fspath(target))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    recover(target)
    staging = _sibling(target, _STAGING)
    os.mkdir(staging)  # not mkdtemp: keep the umask's permissions (servers read it)
    try:
        yield staging
        _fsync_tree(staging)
        replace_directory(staging, target)
    except BaseException:
        _remove(staging)
        raise
