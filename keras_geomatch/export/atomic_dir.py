"""Replacing a directory all at once, so readers never see a half-written one.

    with atomic_directory("exports/affine") as staging:
        ...  # write everything under `staging`
    # now "exports/affine" is the new content; the old one is gone

Everything is written into a sibling staging directory
(`.<name>.tmp-<random>`, same filesystem so renames are cheap and atomic);
only a complete staging directory is swapped in:

* On Linux, `renameat2(RENAME_EXCHANGE)` swaps the two directories in one
  atomic step; the old content, now under the staging name, is then deleted.
* Elsewhere (or on a filesystem without it) two renames: the old directory
  moves to `.<name>.old-<random>`, then the staging directory takes its name.
  A crash between the two leaves the target missing but the old content whole
  in the backup; `recover` (run at the start of every `atomic_directory`) puts
  it back.

An exception inside the `with` block deletes the staging directory and leaves
the target untouched. A killed process leaves at most a stale staging or
backup directory next to the target, which the next `atomic_directory` on
that target removes first thing (`recover`). Only names of exactly that form
(`.<name>.tmp-` or `.<name>.old-` and 12 hex digits) are touched: other
targets' folders and anything a person named alike stay. One writer at a
time per target: a second concurrent writer's staging directory would be
taken for a stale one.
"""

import contextlib
import ctypes
import errno
import os
import re
import shutil
import sys
import uuid

_STAGING = "tmp"
_BACKUP = "old"
_RANDOM_DIGITS = 12


def _sibling(target, kind):
    parent, name = os.path.split(os.path.abspath(target))
    return os.path.join(parent, f".{name}.{kind}-{uuid.uuid4().hex[:_RANDOM_DIGITS]}")


def _siblings(target, kind):
    """The `_sibling(target, kind)` paths that exist, oldest first."""
    parent, name = os.path.split(os.path.abspath(target))
    if not os.path.isdir(parent):
        return []
    pattern = re.compile(re.escape(f".{name}.{kind}-") + f"[0-9a-f]{{{_RANDOM_DIGITS}}}")
    found = [os.path.join(parent, n) for n in os.listdir(parent) if pattern.fullmatch(n)]
    return sorted(found, key=os.path.getmtime)


def _exchange(path_a, path_b):
    """Swaps two paths atomically (Linux renameat2); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint
    ]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    path_a, path_b = os.fsencode(path_a), os.fsencode(path_b)
    if renameat2(at_fdcwd, path_a, at_fdcwd, path_b, rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), os.fsdecode(path_b))


def _remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def recover(target):
    """Repairs what an interrupted replacement of `target` left behind.

    If `target` is missing and a backup exists, the newest backup is renamed
    back. Stale staging and backup directories of `target` (our names only)
    are then deleted.

    Args:
        target: the directory path.
    """
    backups = _siblings(target, _BACKUP)
    if backups and not os.path.lexists(target):
        os.rename(backups.pop(), target)
    for path in _siblings(target, _STAGING) + backups:
        _remove(path)


def replace_directory(source, target):
    """Moves the complete directory `source` to `target`, replacing it if present."""
    if not os.path.lexists(target):
        os.rename(source, target)
        return
    if _exchange(source, target):
        _remove(source)  # the old content, now under the staging name
        return
    backup = _sibling(target, _BACKUP)
    os.rename(target, backup)
    try:
        os.rename(source, target)
    except BaseException:
        os.rename(backup, target)
        raise
    _remove(backup)


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
        replace_directory(staging, target)
    except BaseException:
        _remove(staging)
        raise
