"""Writing files so that a reader (or a restarted run) never sees half of one.

A process can be killed at any instruction; a file written in place can then
be left truncated. Everything the training writes for later use goes through
a temporary name in the same folder, flushed to disk, then `os.replace`d
(an atomic rename on POSIX filesystems).
"""

import json
import os
import tempfile


def write_json_atomic(path, value):
    """Writes `value` as JSON to `path` atomically."""
    text = json.dumps(value, indent=2, sort_keys=False) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path, text):
    """Writes `text` (UTF-8) to `path` atomically."""
    write_file_atomic(path, lambda f: f.write(text.encode("utf-8")))


def write_file_atomic(path, write):
    """Calls `write(binary_file)` on a temporary file that then replaces `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _fsync_folder(folder)


def make_staging_dir(parent, name):
    """A fresh, empty hidden folder in `parent` to fill before `publish_dir`."""
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(dir=parent, prefix=f".tmp-{name}-")


def publish_dir(staging, final):
    """Renames the filled folder `staging` to `final` (which must not exist).

    Every file in `staging` is flushed first, so once `final` exists it is
    complete.
    """
    for entry in os.scandir(staging):
        if entry.is_file():
            with open(entry.path, "rb") as f:
                os.fsync(f.fileno())
    os.rename(staging, final)
    _fsync_folder(os.path.dirname(os.path.abspath(final)))


def _fsync_folder(folder):
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
