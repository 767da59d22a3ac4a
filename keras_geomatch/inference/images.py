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

A path that is not a readable image file fails with a one-line message that
says why: missing, a broken symbolic link, a directory, not a regular file (a
FIFO, a device, a socket: never opened, as reading one can block), empty,
unreadable, not an image, or larger than Pillow's decompression-bomb limit
(`2 × PIL.Image.MAX_IMAGE_PIXELS` pixels).
"""

import os
import re
import stat

import numpy as np

MIN_IMAGE_SIZE = 2


def load_image(image, name="image"):
    """Converts an image file, array or tensor to RGB float32 in [0, 255].

    Args:
        image: a path, numpy array, tensor or Pillow image (see the module
            docstring for the accepted shapes and dtypes).
        name: what to call the image in error messages (e.g. 'source').

    Returns:
        A new numpy array `(H, W, 3)`, float32, values in [0, 255].

    Raises:
        FileNotFoundError: a path that does not exist (or a broken link).
        ValueError: a path that is not a regular, readable image file (a
            directory, a FIFO, a device, an empty file, too many pixels for
            Pillow, ...), or an array of an unsupported shape, dtype or
            value range, or smaller than 2×2.

    Example:
        >>> load_image(np.zeros((4, 5), np.uint8)).shape
        (4, 5, 3)
    """
    if isinstance(image, (str, os.PathLike)):
        array = _read_file(os.fspath(image), name)
    else:
        array = _to_numpy(image, name)
    array = _to_rgb_float(array, name)
    height, width = array.shape[:2]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise ValueError(
            f"Expected the {name} to be at least {MIN_IMAGE_SIZE}×{MIN_IMAGE_SIZE} pixels. "
            f"Received: {height}×{width} (height×width)"
        )
    return array


def image_size_of_file(path, name="image"):
    """`(height, width)` of an image file, read from its header only."""
    from PIL import Image

    _check_file(path, name)
    try:
        with Image.open(path) as opened:
            width, height = opened.size
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise _open_error(path, name, error) from None
    return height, width


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


def _read_file(path, name):
    from PIL import Image

    _check_file(path, name)
    try:
        with Image.open(path) as opened:
            opened.load()
            return _pil_to_numpy(opened)
    # Pillow reports unreadable data as OSError (UnidentifiedImageError),
    # SyntaxError or ValueError depending on the decoder, and a header of
    # too many pixels as DecompressionBombError (an Exception only).
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise _open_error(path, name, error) from None


def _pil_to_numpy(pil_image):
    if pil_image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: convert('RGB') would clip, keep the values.
        array = np.asarray(pil_image).astype(np.float64)
        top = 65535.0 if pil_image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        return (array * (255.0 / top)).astype(np.float32)
    if pil_image.mode not in ("L", "RGB"):
        pil_image = pil_image.convert("RGBA" if "A" in pil_image.mode else "RGB")
    return np.asarray(pil_image)


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


def _to_rgb_float(array, name):
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"Expected the {name} of shape (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or "
            f"(H, W, 4) (optionally with a leading batch of 1). Received: shape={array.shape}"
        )
    values = _to_float_0_255(array, name)
    channels = values.shape[-1]
    if channels in (1, 2):  # gray (+ alpha)
        values = np.repeat(values[..., :1], 3, axis=-1)
    elif channels == 4:  # RGBA
        values = values[..., :3]
    return np.ascontiguousarray(values, dtype=np.float32)


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
