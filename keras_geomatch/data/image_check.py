"""Checking image files before training, so a bad file never stops a run.

`check_image_files` sorts files into usable ones and skipped ones (with a
plain reason, logged one line per file and counted). Each file is checked
the way TensorFlow will read it:

* its header, with Pillow: a format `tf.io.decode_image` reads, a BMP mode
  it reads right, large enough;
* its structure, where Pillow is more lenient than TensorFlow: a PNG must
  have every chunk whole, with a correct CRC, up to its IEND chunk (libpng
  in TensorFlow refuses anything less; Pillow decodes such files); a BMP
  must have 8, 24 or 32 bits per pixel;
* with `decode=True` (the default of the pipeline), its pixels, decoded by
  `image_decoding.decode_rgb`, the very function the pipeline decodes with
  (JPEGs at a reduced scale, which still reads all their data).

Verdicts are remembered for the life of the process (keyed on path, size
and modification time), so building the pipeline again, e.g. for each epoch
or a resumed run, does not check the files again.
"""

import concurrent.futures
import dataclasses
import logging
import os
import re
import struct
import threading
import zlib
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

# Bits per pixel of the BMPs TensorFlow decodes (its channels: 1, 3 or 4).
_BMP_BITS = (8, 24, 32)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (path, decode, min_side) -> (size, mtime_ns, reason): earlier verdicts.
_VERDICTS = {}


def printable_path(path):
    """`path` for a log line: bytes of a name that are not UTF-8 shown as \\xNN escapes.

    A name that is not valid UTF-8 comes from `os.listdir` with surrogate
    escapes, which a UTF-8 log stream cannot write.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def plain_tf_reason(message):
    """TensorFlow's error text without its internals ('{{function_node ...}}', '[Op:...]')."""
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    first = re.sub(r"\{\{[^}]*\}\}", "", first)
    first = re.sub(r"\[Op:[^\]]*\]", "", first)
    first = re.sub(r"\s*name:\s*$", "", first)
    return first.strip(" .") or "unknown error"


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
        decode: also decode the pixels with TensorFlow, as the pipeline
            will (catches truncated and corrupt data; JPEGs are decoded at a
            reduced scale, which still reads all the data). Otherwise the
            header and the file structure are checked (see the module
            docstring), which misses corrupt compressed data.

    Returns:
        None, or a short, plain reason (str).
    """
    try:
        if os.path.getsize(path) == 0:
            return "empty file"
        with Image.open(path) as image:
            image_format, mode = image.format, image.mode
            width, height = image.size
    except Exception as error:  # noqa: BLE001 -- any failure means "skip it"
        return f"{type(error).__name__}: {error}"
    if image_format not in _DECODABLE_FORMATS:
        return f"format {image_format} is not one of {_DECODABLE_FORMATS}"
    if image_format == "BMP" and mode not in _BMP_MODES:
        return f"BMP of mode {mode} (palette or 1-bit), which TensorFlow misreads"
    if min(width, height) < min_side:
        return f"too small: {width}x{height} pixels (min_side={min_side})"
    try:
        if image_format == "PNG":
            reason = _png_structure_problem(path)
        elif image_format == "BMP":
            reason = _bmp_structure_problem(path)
        else:
            reason = None
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    if reason is None and decode:
        reason = _tensorflow_decode_problem(path, min_side)
    return reason


def _png_structure_problem(path):
    """What libpng (TensorFlow's PNG decoder) refuses that Pillow decodes: chunks cut short, bad CRCs, no IEND."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(_PNG_SIGNATURE):
        return "not a PNG file (bad signature)"
    position = len(_PNG_SIGNATURE)
    while True:
        if position + 8 > len(data):
            return "PNG cut short: it ends before its IEND chunk"
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            return f"PNG cut short inside its {kind.decode('latin-1')!r} chunk (no IEND chunk)"
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[position + 4 : end - 4]) != crc:
            return f"PNG chunk {kind.decode('latin-1')!r} fails its CRC check (corrupt or cut short)"
        if kind == b"IEND":
            return None
        position = end


def _bmp_structure_problem(path):
    with open(path, "rb") as f:
        header = f.read(30)
    if len(header) < 30:
        return "BMP cut short inside its header"
    (bits,) = struct.unpack("<H", header[28:30])
    if bits not in _BMP_BITS:
        return f"BMP of {bits} bits per pixel; TensorFlow reads only {_BMP_BITS}"
    return None


def _tensorflow_decode_problem(path, min_side):
    import tensorflow as tf

    from keras_geomatch.data.image_decoding import decode_rgb

    try:
        contents = tf.io.read_file(os.fsencode(path))
        decode_rgb(contents, min_size=(min_side, min_side))
    except tf.errors.OpError as error:
        return f"TensorFlow could not decode it: {plain_tf_reason(error.message)}"
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


def check_image_files(files, mode="decode", min_side=16, skipped=None, num_threads=2,
                      log_total=True):
    """Splits `files` into usable and skipped ones, logging the skips.

    Args:
        files: sequence of paths.
        mode: `"decode"` (decode every file as the pipeline will),
            `"header"` (header and file structure: catches empty, non-image
            and too-small files and cut PNGs, not corrupt compressed data)
            or `"none"` (no check).
        min_side: see `check_image_file`.
        skipped: a `SkippedImages` to record into; a new one if None.
        num_threads: decoding does not hold the GIL, so a few threads
            shorten the check on large data sets.
        log_total: log 'Skipped N of M image files.' when files were
            skipped (a caller that skips more files later logs the total
            itself).

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
            logger.warning("Skipping image %s: %s", printable_path(path), reason)
    if log_total and len(usable) < len(files):
        logger.warning("Skipped %d of %d image files.", len(files) - len(usable), len(files))
    return usable, skipped
