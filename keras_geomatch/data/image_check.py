"""Checking image files before training, so a bad file never stops a run.

`check_image_files` opens every file once with Pillow and sorts them into
usable ones and skipped ones (with the reason). Verdicts are remembered for
the life of the process (keyed on path, size and modification time), so
building the pipeline again, e.g. for each epoch or a resumed run, does not
check the files again. The pipeline keeps only the
usable files; a decoding failure that slips past the check is dropped by
`tf.data`'s `ignore_errors` (logged by TensorFlow, not counted here).
"""

import concurrent.futures
import dataclasses
import logging
import os
import threading
from typing import List, Tuple

from PIL import Image

logger = logging.getLogger(__name__)

CHECK_MODES = ("decode", "header", "none")

# Pillow format names that tf.io.decode_image reads (MPO: multi-picture JPEG
# from cameras, a JPEG for TensorFlow).
_DECODABLE_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "GIF")

# TensorFlow's BMP decoder ignores a colour palette (it reads the indices as
# gray levels) and refuses 1-bit files; Pillow names those modes P and 1.
_BMP_MODES = ("RGB", "RGBA", "L")

# (path, decode, min_side) -> (size, mtime_ns, reason): earlier verdicts.
_VERDICTS = {}


@dataclasses.dataclass
class SkippedImages:
    """Files left out of a data set, with the reason; safe to share across threads.

    A trainer can pass one to `make_pair_dataset` and read `count` (e.g. to
    log it as a metric).

    Attributes:
        items: list of `(path, reason)`.
    """

    items: List[Tuple[str, str]] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()

    def add(self, path, reason):
        """Records one skipped file."""
        with self._lock:
            self.items.append((path, reason))

    @property
    def count(self):
        """Number of files skipped."""
        return len(self.items)

    @property
    def paths(self):
        """The skipped paths, in the order they were recorded."""
        return [path for path, _ in self.items]


def check_image_file(path, min_side=16, decode=True):
    """Why `path` cannot be used as a training image, or None if it can.

    Args:
        path: the image file.
        min_side: smallest accepted height and width, in pixels. Tiny images
            (icons, 1×1 spacer GIFs) give pairs with no structure to match.
        decode: also decode the pixels (catches truncated and corrupt files;
            JPEGs are decoded at 1/8 scale, which still reads all the data).
            Otherwise only the header is read.

    Returns:
        None, or a short reason (str).
    """
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        with Image.open(path) as image:
            if image.format not in _DECODABLE_FORMATS:
                return f"format {image.format} is not one of {_DECODABLE_FORMATS}"
            if image.format == "BMP" and image.mode not in _BMP_MODES:
                return f"BMP of mode {image.mode} (palette or 1-bit), which TensorFlow misreads"
            width, height = image.size
            if min(width, height) < min_side:
                return f"too small: {width}x{height} pixels (min_side={min_side})"
            if decode:
                if image.format in ("JPEG", "MPO"):
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except Exception as error:  # noqa: BLE001 -- any failure means "skip it"
        return f"{type(error).__name__}: {error}"
    return None


def _remembered_check(path, min_side, decode):
    try:
        stat = os.stat(path)
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    key = (os.path.abspath(path), decode, min_side)
    known = _VERDICTS.get(key)
    if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
        return known[2]
    reason = check_image_file(path, min_side, decode)
    _VERDICTS[key] = (stat.st_size, stat.st_mtime_ns, reason)
    return reason


def check_image_files(files, mode="decode", min_side=16, skipped=None, num_threads=2):
    """Splits `files` into usable and skipped ones, logging the skips.

    Args:
        files: sequence of paths.
        mode: `"decode"` (open and decode every file), `"header"` (open
            only: catches empty, non-image and too-small files, not truncated
            ones) or `"none"` (no check).
        min_side: see `check_image_file`.
        skipped: a `SkippedImages` to record into; a new one if None.
        num_threads: Pillow decodes without holding the GIL, so a few threads
            shorten the check on large data sets.

    Returns:
        `(usable_files, skipped)`: the usable paths in their original order,
        and the `SkippedImages`.

    Raises:
        ValueError: unknown `mode`.
    """
    if mode not in CHECK_MODES:
        raise ValueError(f"Expected mode in {CHECK_MODES}. Received: mode={mode!r}")
    skipped = skipped if skipped is not None else SkippedImages()
    files = [os.fspath(f) for f in files]
    if mode == "none":
        return files, skipped
    decode = mode == "decode"
    with concurrent.futures.ThreadPoolExecutor(max(1, num_threads)) as pool:
        reasons = list(pool.map(lambda f: _remembered_check(f, min_side, decode), files))
    usable = []
    for path, reason in zip(files, reasons):
        if reason is None:
            usable.append(path)
        else:
            skipped.add(path, reason)
            logger.warning("Skipping image %s: %s", path, reason)
    if len(usable) < len(files):
        logger.warning("Skipped %d of %d image files.", len(files) - len(usable), len(files))
    return usable, skipped
