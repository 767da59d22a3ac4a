"""Image inputs of the inference tools: whatever a user has → RGB float32.

Every entry point (`align`, the evaluation, the command line) turns its
images into one form with `load_image`: a numpy array `(H, W, 3)`, float32,
RGB, values in [0, 255] — the input range of the geomatch models, which
normalise pixels themselves.

Accepted inputs:

* a path (str or `os.PathLike`) of an image file Pillow can read (PNG, JPEG,
  BMP, TIFF, ...); grayscale, palette and RGBA files are converted to RGB
  (alpha is dropped; EXIF orientation tags are not applied);
* a numpy array, a TensorFlow tensor (anything with `.numpy()`) or a Pillow
  image, of shape `(H, W)`, `(H, W, 1)`, `(H, W, 2)` (gray + alpha),
  `(H, W, 3)` or `(H, W, 4)` (RGBA), or any of these with a leading batch
  dimension of 1. Dtypes: uint8 ([0, 255]), uint16 ([0, 65535], rescaled),
  other integers (must lie in [0, 255]), bool (False/True → 0/255), floats:
  values in [0, 1] are taken as [0, 1] images and scaled by 255 (when the
  largest value is ≤ 1), otherwise they must lie in [0, 255].

Images must be at least 2×2 pixels: corner-aligned normalised coordinates
divide by `W - 1` and `H - 1` (see `keras_geomatch.geometry`).

Size limit: images of more than `max_megapixels` (default
`DEFAULT_MAX_MEGAPIXELS`, 180 megapixels) are refused with a `ValueError`
naming `max_megapixels`; a file is refused from its header, before anything
is decoded. Pass a larger number, or None for no limit. The limit replaces
Pillow's own decompression-bomb check (`PIL.Image.MAX_IMAGE_PIXELS`, a
warning above 89 and an error above 179 megapixels), which is lifted while
the file's header is read. What a large photograph costs: decoding holds
Pillow's copy (4 bytes per pixel) and the array (3 bytes per pixel as uint8,
`keep_uint8=True`); the float32 result is 12 bytes per pixel, and converting
to it holds the uint8 array too (15 bytes per pixel at the peak).

A path that is not a readable image file fails with a one-line message that
says why: missing, a broken symbolic link, a directory, not a regular file (a
FIFO, a device, a socket: never opened, as reading one can block), empty,
unreadable, not an image, or more pixels than `max_megapixels`.
"""

import contextlib
import os
import re
import stat
import threading

import numpy as np

MIN_IMAGE_SIZE = 2

# Refused above this many megapixels unless the caller passes another limit:
# Pillow's own decompression-bomb error limit (179 MP), rounded up.
DEFAULT_MAX_MEGAPIXELS = 180

# Rows of a large Pillow image converted to numpy at a time: the conversion
# then needs one band of memory, not a second copy of the whole image.
_BAND_PIXELS = 1 << 20

# Pillow's limit is a module global: it is lifted by one reader at a time.
_PILLOW_LIMIT_LOCK = threading.Lock()


def load_image(image, name="image", max_megapixels=DEFAULT_MAX_MEGAPIXELS, keep_uint8=False):
    """Converts an image file, array or tensor to RGB float32 in [0, 255].

    Args:
        image: a path, numpy array, tensor or Pillow image (see the module
            docstring for the accepted shapes and dtypes).
        name: what to call the image in error messages (e.g. 'source').
        max_megapixels: images with more pixels than this many millions are
            refused (a file before it is decoded); None for no limit.
        keep_uint8: return 8-bit images (uint8 or bool arrays, 8-bit files:
            gray, RGB, RGBA, palette) as uint8 `(H, W, 3)`, a quarter of the
            memory of float32, with the same values; other images still come
            back as float32. For callers that only sample the image (`warp`
            takes uint8 as it is).

    Returns:
        A new numpy array `(H, W, 3)`, float32 (or uint8, see `keep_uint8`),
        values in [0, 255].

    Raises:
        FileNotFoundError: a path that does not exist (or a broken link).
        ValueError: a path that is not a regular, readable image file (a
            directory, a FIFO, a device, an empty file, ...), an image of
            more than `max_megapixels`, or an array of an unsupported shape,
            dtype or value range, or smaller than 2×2.

    Example:
        >>> load_image(np.zeros((4, 5), np.uint8)).shape
        (4, 5, 3)
        >>> load_image("photo.jpg", max_megapixels=400, keep_uint8=True).dtype
        dtype('uint8')
    """
    _check_max_megapixels(max_megapixels)
    if isinstance(image, (str, os.PathLike)):
        array, owned = _read_file(os.fspath(image), name, max_megapixels), True
    else:
        array, owned = _to_numpy(image, name), False
        if array.ndim >= 2:
            size = array.shape[1:3] if array.ndim == 4 else array.shape[:2]
            _check_pixels(size, max_megapixels, name, "")
    array = _to_rgb(array, name, keep_uint8, owned)
    height, width = array.shape[:2]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise ValueError(
            f"Expected the {name} to be at least {MIN_IMAGE_SIZE}×{MIN_IMAGE_SIZE} pixels. "
            f"Received: {height}×{width} (height×width)"
        )
    return array


def image_size_of_file(path, name="image", max_megapixels=DEFAULT_MAX_MEGAPIXELS):
    """`(height, width)` of an image file, read from its header only.

    Refuses what `load_image` refuses without decoding: not an image file, or
    more than `max_megapixels`.
    """
    from PIL import Image

    _check_max_megapixels(max_megapixels)
    _check_file(path, name)
    try:
        with _open_without_pillows_limit(path) as opened:
            width, height = opened.size
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise _open_error(path, name, error) from None
    _check_pixels((height, width), max_megapixels, name, f" in {path}")
    return height, width


def _check_max_megapixels(max_megapixels):
    if max_megapixels is not None and (
        isinstance(max_megapixels, bool)
        or not isinstance(max_megapixels, (int, float, np.integer, np.floating))
        or not max_megapixels > 0
    ):
        raise ValueError(
            f"Expected max_megapixels a positive number or None. "
            f"Received: max_megapixels={max_megapixels!r}"
        )


def _within_limit(size, max_megapixels):
    height, width = (int(s) for s in size)
    return max_megapixels is None or height * width <= float(max_megapixels) * 1e6


def _check_pixels(size, max_megapixels, name, where):
    """Refuses an image of `size` `(height, width)` above `max_megapixels` (None: no limit)."""
    height, width = (int(s) for s in size)
    if not _within_limit(size, max_megapixels):
        raise ValueError(
            f"Expected the {name} to have at most {max_megapixels:g} megapixels "
            f"(max_megapixels={max_megapixels:g}). Received: {width}×{height} "
            f"(width×height) = {height * width / 1e6:.4g} megapixels{where}. Pass a larger "
            f"max_megapixels (or None for no limit) to load it"
        )


@contextlib.contextmanager
def _open_without_pillows_limit(path):
    """`Image.open(path)` with Pillow's decompression-bomb check off: `max_megapixels` replaces it.

    The check runs while Pillow reads the header; the global is restored
    before the pixels are decoded.
    """
    from PIL import Image

    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            opened = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    with opened:
        yield opened


# What `os.stat` calls a file that is neither a regular file nor a directory.
_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_file(path, name):
    """Refuses anything but an existing, non-empty regular file, saying why.

    Pillow is never given a FIFO or a device: reading one can block forever.
    """
    try:
        status = os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(
                f"The {name} file is a broken symbolic link (to {os.readlink(path)}, which "
                f"does not exist): {path}"
            ) from None
        raise FileNotFoundError(f"The {name} file does not exist: {path}") from None
    except OSError as error:  # e.g. a looping link, a path through a non-directory
        raise ValueError(
            f"Cannot read the {name} {path}: {error.strerror or type(error).__name__}"
        ) from None
    mode = status.st_mode
    link = f", a symbolic link to {os.path.realpath(path)}" if os.path.islink(path) else ""
    if stat.S_ISDIR(mode):
        raise ValueError(
            f"Expected the {name} to be an image file. Received a directory: {path}{link}"
        )
    if not stat.S_ISREG(mode):
        kind = next((kind for test, kind in _FILE_KINDS if test(mode)), "an unknown kind")
        raise ValueError(
            f"Expected the {name} to be an image file. Received: {path}{link}, not a regular "
            f"file ({kind})"
        )
    if status.st_size == 0:
        raise ValueError(f"Expected the {name} to be an image file. Received an empty file: {path}")


def _open_error(path, name, error):
    """The `ValueError` for a file that Pillow cannot open or decode."""
    from PIL import Image

    if isinstance(error, Image.DecompressionBombError):
        # Pillow: "Image size (N pixels) exceeds limit of M pixels, could be ...".
        numbers = re.findall(r"(\d+) pixels", str(error))
        if len(numbers) == 2:
            pixels, limit = numbers
            return ValueError(
                f"Expected the {name} to have at most {limit} pixels (Pillow's decompression-"
                f"bomb limit, 2 × PIL.Image.MAX_IMAGE_PIXELS). Received: {pixels} pixels in {path}"
            )
        return ValueError(f"The {name} {path} is too large for Pillow: {error}")
    if isinstance(error, PermissionError):
        return ValueError(f"Cannot read the {name} {path}: permission denied")
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ValueError(
        f"Cannot read the {name} {path} as an image: expected a file Pillow can read "
        f"(PNG, JPEG, BMP, TIFF, ...). Reason: {reason}"
    )


def _read_file(path, name, max_megapixels):
    from PIL import Image

    _check_file(path, name)
    try:
        with _open_without_pillows_limit(path) as opened:
            width, height = opened.size
            if _within_limit((height, width), max_megapixels):
                opened.load()
                return _pil_to_numpy(opened)
    # Pillow reports unreadable data as OSError (UnidentifiedImageError),
    # SyntaxError or ValueError depending on the decoder, and a header of
    # too many pixels as DecompressionBombError (an Exception only).
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise _open_error(path, name, error) from None
    _check_pixels((height, width), max_megapixels, name, f" in {path}")


def _pil_to_numpy(pil_image):
    """A new numpy array of the pixels: uint8 `(H, W)`, `(H, W, 3)` or `(H, W, 4)`, or float32 for 16/32-bit gray."""
    if pil_image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: convert('RGB') would clip, keep the values.
        array = np.asarray(pil_image).astype(np.float64)
        top = 65535.0 if pil_image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        return (array * (255.0 / top)).astype(np.float32)
    # In bands of rows: `np.asarray` of a whole image goes through bytes
    # objects twice its size, and `convert` would make a second Pillow copy.
    width, height = pil_image.size
    rows = max(1, _BAND_PIXELS // max(1, width))
    array = None
    for top in range(0, height, rows):
        band = pil_image.crop((0, top, width, min(height, top + rows)))
        if band.mode not in ("L", "RGB"):
            band = band.convert("RGBA" if "A" in band.mode else "RGB")
        values = np.asarray(band)
        if array is None:
            array = np.empty((height, *values.shape[1:]), values.dtype)
        array[top : top + values.shape[0]] = values
    return array


def _to_numpy(image, name):
    try:
        from PIL import Image

        if isinstance(image, Image.Image):
            return _pil_to_numpy(image)
    except ImportError:  # Pillow is a dependency; be lenient all the same
        pass
    if hasattr(image, "numpy") and not isinstance(image, np.ndarray):
        try:
            image = image.numpy()
        except Exception as error:  # e.g. a symbolic Keras tensor
            raise ValueError(
                f"Expected the {name} as a path, a numpy array or an eager tensor. "
                f"Received: {type(image).__name__} ({error})"
            ) from None
    try:
        return np.asarray(image)
    except Exception as error:
        raise ValueError(
            f"Expected the {name} as a path, a numpy array or a tensor. "
            f"Received: {type(image).__name__} ({error})"
        ) from None


def _to_rgb(array, name, keep_uint8, owned):
    """`(H, W, 3)` RGB: float32 in [0, 255], or uint8 for 8-bit input with `keep_uint8`.

    `owned`: `array` is ours (decoded from a file), so it may be returned as it is.
    """
    given = array
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"Expected the {name} of shape (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or "
            f"(H, W, 4) (optionally with a leading batch of 1). Received: shape={array.shape}"
        )
    if array.dtype in (np.uint8, np.bool_):
        # 8-bit: pick the channels before converting (no range to check),
        # so a large photograph is converted once.
        rgb = _rgb_channels(array)
        if array.dtype == np.bool_:
            rgb = rgb.astype(np.uint8) * np.uint8(255)
        if not keep_uint8:
            return rgb.astype(np.float32)
        if not owned and np.may_share_memory(rgb, given):
            return np.array(rgb, order="C")
        return np.ascontiguousarray(rgb)
    values = _to_float_0_255(array, name)
    return np.ascontiguousarray(_rgb_channels(values), dtype=np.float32)


def _rgb_channels(values):
    channels = values.shape[-1]
    if channels in (1, 2):  # gray (+ alpha)
        return np.repeat(values[..., :1], 3, axis=-1)
    if channels == 4:  # RGBA
        return values[..., :3]
    return values


def _to_float_0_255(array, name):
    dtype = array.dtype
    if dtype == np.uint8:
        return array.astype(np.float32)
    if dtype == np.bool_:
        return array.astype(np.float32) * 255.0
    if dtype == np.uint16:
        return array.astype(np.float32) * (255.0 / 65535.0)
    if np.issubdtype(dtype, np.integer):
        values = array.astype(np.float32)
        _check_range(values, 255.0, name, "integer values in [0, 255]")
        return values
    if np.issubdtype(dtype, np.floating):
        values = array.astype(np.float32)
        if values.size and not np.all(np.isfinite(values)):
            raise ValueError(f"Expected finite pixel values in the {name}. Received NaN or inf.")
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        _check_range(values, 255.0, name, "float values in [0, 1] or [0, 255]")
        return values
    raise ValueError(
        f"Expected the {name} with a numeric dtype (uint8, uint16, int, float, bool). "
        f"Received: dtype={dtype}"
    )


def _check_range(values, top, name, expected):
    if values.size and (values.min() < 0.0 or values.max() > top):
        raise ValueError(
            f"Expected the {name} with {expected}. "
            f"Received: values in [{values.min():g}, {values.max():g}]"
        )
