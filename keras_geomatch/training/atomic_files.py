"""Writing a file so that a reader (or a restarted run) never sees half of one.

The project's one way to publish a single file; whole directories go through
`export.atomic_dir`. The content is written under a temporary name in the
same folder, flushed to disk, then `os.replace`d over the target (an atomic
rename on POSIX filesystems): a process killed at any instruction leaves the
old file or the new one.
"""

import json
import os
import tempfile

from keras_geomatch.export.atomic_dir import fsync_path


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
    fsync_path(folder)
