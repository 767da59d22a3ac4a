import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_geomatch.inference import load_image
from keras_geomatch.inference.images import DEFAULT_MAX_MEGAPIXELS
from keras_geomatch.inference.images import image_size_of_file


def _rgb(height=6, width=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_png_file_is_read_as_rgb_float_0_255(tmp_path):
    pixels = _rgb()
    path = tmp_path / "a.png"
    Image.fromarray(pixels).save(path)
    image = load_image(str(path))
    assert image.dtype == np.float32 and image.shape == (6, 5, 3)
    np.testing.assert_array_equal(image, pixels.astype(np.float32))
    np.testing.assert_array_equal(load_image(path), image)  # os.PathLike


def test_grayscale_palette_and_rgba_files_are_converted_to_rgb(tmp_path):
    pixels = _rgb()
    gray = pixels[..., 0]
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    rgba = np.concatenate([pixels, np.full((6, 5, 1), 7, np.uint8)], axis=-1)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(pixels).convert("P").save(tmp_path / "palette.png")

    image = load_image(str(tmp_path / "gray.png"))
    np.testing.assert_array_equal(image, np.repeat(gray[..., None], 3, -1).astype(np.float32))
    np.testing.assert_array_equal(load_image(str(tmp_path / "rgba.png")), pixels.astype(np.float32))
    palette = Image.open(tmp_path / "palette.png").convert("RGB")
    np.testing.assert_array_equal(load_image(str(tmp_path / "palette.png")), np.asarray(palette))


def test_16_bit_grayscale_file_is_scaled_to_0_255(tmp_path):
    values = np.array([[0, 65535], [32768, 257]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = load_image(str(tmp_path / "deep.png"))
    np.testing.assert_allclose(image[..., 0], values / 257.0, atol=1e-3)
    assert image.shape == (2, 2, 3)


@pytest.mark.parametrize(
    "convert",
    [
        lambda p: p,  # HxWx3 uint8
        lambda p: p.astype(np.float32),  # float in [0, 255]
        lambda p: p.astype(np.float64) / 255.0,  # float in [0, 1]
        lambda p: np.concatenate([p, np.zeros_like(p[..., :1])], -1),  # RGBA
        lambda p: p[None],  # a batch of one
        lambda p: tf.constant(p),  # a tensor
        lambda p: Image.fromarray(p),  # a Pillow image
    ],
    ids=["uint8", "float255", "float01", "rgba", "batch1", "tensor", "pil"],
)
def test_arrays_tensors_and_pil_images_give_the_same_rgb(convert):
    pixels = _rgb()
    np.testing.assert_allclose(load_image(convert(pixels)), pixels.astype(np.float32), atol=1e-4)


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 1), (6, 5, 2)])
def test_gray_arrays_are_repeated_over_three_channels(shape):
    gray = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    image = load_image(gray)
    assert image.shape == (6, 5, 3)
    first = gray if gray.ndim == 2 else gray[..., 0]
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], first)


def test_other_dtypes():
    np.testing.assert_array_equal(load_image(np.eye(2, dtype=bool))[..., 0], [[255, 0], [0, 255]])
    np.testing.assert_allclose(
        load_image(np.array([[0, 65535], [0, 0]], np.uint16))[0, 1], [255, 255, 255]
    )
    np.testing.assert_array_equal(load_image(np.array([[3, 200], [0, 1]], np.int64))[0, 1, 0], 200)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="source file does not exist"):
        load_image(str(tmp_path / "nope.png"), "source")


def test_non_image_file_and_directory_are_value_errors(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image\n")
    with pytest.raises(ValueError, match="Cannot read the image .*notes.png as an image"):
        load_image(str(text))
    with pytest.raises(ValueError, match="Received a directory"):
        load_image(str(tmp_path))


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((1, 1, 3), np.uint8), r"at least 2×2 pixels. Received: 1×1"),
        (np.zeros((1, 7), np.uint8), r"at least 2×2 pixels. Received: 1×7"),
        (np.zeros((4, 4, 5), np.uint8), r"Received: shape=\(4, 4, 5\)"),
        (np.zeros((2, 4, 4, 3), np.uint8), r"Received: shape=\(2, 4, 4, 3\)"),
        (np.zeros(4, np.uint8), r"Received: shape=\(4,\)"),
        (np.full((4, 4), -1.0), r"float values in \[0, 1\] or \[0, 255\]"),
        (np.full((4, 4), 300.0), r"Received: values in \[300, 300\]"),
        (np.full((4, 4), np.nan), "NaN or inf"),
        (np.full((4, 4), 256, np.int32), r"integer values in \[0, 255\]"),
        (np.full((4, 4), "a"), "numeric dtype"),
    ],
)
def test_bad_arrays_are_value_errors_saying_what_was_received(array, message):
    with pytest.raises(ValueError, match=message):
        load_image(array)


def test_one_pixel_file_is_a_value_error(tmp_path):
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "dot.png")
    with pytest.raises(ValueError, match="target to be at least 2×2"):
        load_image(str(tmp_path / "dot.png"), "target")


def test_the_input_array_is_not_modified_or_aliased():
    pixels = np.random.default_rng(2).uniform(0, 1, (4, 4, 3)).astype(np.float32)
    before = pixels.copy()
    image = load_image(pixels)
    image[:] = 0
    np.testing.assert_array_equal(pixels, before)


def _png_claiming_size(path, width, height):
    """A tiny valid 1×1 PNG whose IHDR header claims `width`×`height` (CRC fixed)."""
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    # Signature (8 bytes), then IHDR: length (4), type (4), width (4), height (4), ...
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_png_over_the_pixel_limit_is_refused_from_its_header_naming_max_megapixels(tmp_path):
    path = _png_claiming_size(tmp_path / "bomb.png", 30000, 30000)
    assert path.stat().st_size < 100
    message = (
        rf"Expected the source to have at most {DEFAULT_MAX_MEGAPIXELS} megapixels "
        rf"\(max_megapixels={DEFAULT_MAX_MEGAPIXELS}\). Received: 30000×30000 \(width×height\) "
        rf"= 900 megapixels in .*bomb.png. Pass a larger max_megapixels"
    )
    with pytest.raises(ValueError, match=message):
        load_image(str(path), "source")
    with pytest.raises(ValueError, match=message):
        image_size_of_file(str(path), "source")


def _png(path, height, width, seed=0):
    pixels = _rgb(height, width, seed)
    Image.fromarray(pixels).save(path)
    return str(path), pixels


def test_max_megapixels_is_the_limit_for_files_and_arrays(tmp_path):
    path, pixels = _png(tmp_path / "a.png", 40, 50)  # 2000 pixels
    with pytest.raises(ValueError, match=r"at most 0.0019 megapixels \(max_megapixels=0.0019\)"):
        load_image(path, max_megapixels=0.0019)
    with pytest.raises(ValueError, match=r"Received: 50×40 \(width×height\) = 0.002 megapixels. Pass"):
        load_image(pixels, max_megapixels=0.0019)
    with pytest.raises(ValueError, match="max_megapixels=0.0019"):
        load_image(pixels[None], max_megapixels=0.0019)  # with a batch of one
    with pytest.raises(ValueError, match="max_megapixels=0.0019"):
        image_size_of_file(path, max_megapixels=0.0019)
    np.testing.assert_array_equal(load_image(path, max_megapixels=0.002), pixels)  # at the limit
    np.testing.assert_array_equal(load_image(path, max_megapixels=None), pixels)
    assert image_size_of_file(path, max_megapixels=0.002) == (40, 50)


@pytest.mark.parametrize("value", [0, -1.0, "10", True, float("nan")])
def test_bad_max_megapixels_is_a_value_error(value):
    with pytest.raises(ValueError, match="Expected max_megapixels a positive number or None"):
        load_image(np.zeros((4, 4), np.uint8), max_megapixels=value)


def test_pillows_own_limit_is_lifted_while_the_header_is_read_and_restored(tmp_path, monkeypatch):
    import warnings

    path, pixels = _png(tmp_path / "a.png", 40, 50)
    # 2000 pixels: over twice this, Pillow itself would refuse the file.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 900)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        np.testing.assert_array_equal(load_image(path), pixels)
        assert image_size_of_file(path) == (40, 50)
    assert Image.MAX_IMAGE_PIXELS == 900


def _modes(tmp_path):
    """Files of each 8-bit mode, with what Pillow's whole-image conversion gives."""
    pixels = _rgb(37, 23, seed=4)
    rgba = np.concatenate([pixels, np.full((37, 23, 1), 9, np.uint8)], -1)
    files = {
        "rgb.png": Image.fromarray(pixels),
        "gray.png": Image.fromarray(pixels[..., 0], mode="L"),
        "rgba.png": Image.fromarray(rgba, mode="RGBA"),
        "palette.png": Image.fromarray(pixels).convert("P"),
        "one_bit.png": Image.fromarray(pixels[..., 0] > 128),
        "photo.jpg": Image.fromarray(pixels),
    }
    expected = {}
    for name, image in files.items():
        image.save(tmp_path / name)
        with Image.open(tmp_path / name) as reread:
            expected[name] = np.asarray(reread.convert("RGB"))
    return expected


@pytest.mark.parametrize("keep_uint8", [False, True])
def test_files_are_converted_in_bands_of_rows_with_the_same_pixels(tmp_path, monkeypatch, keep_uint8):
    from keras_geomatch.inference import images

    expected = _modes(tmp_path)
    monkeypatch.setattr(images, "_BAND_PIXELS", 50)  # bands of 2 rows, the last one shorter
    for name, reference in expected.items():
        image = load_image(str(tmp_path / name), keep_uint8=keep_uint8)
        assert image.dtype == (np.uint8 if keep_uint8 else np.float32), name
        np.testing.assert_array_equal(image, reference, err_msg=name)


def test_keep_uint8_keeps_8_bit_images_and_only_those():
    pixels = _rgb()
    for given in (pixels, pixels[None], Image.fromarray(pixels), tf.constant(pixels)):
        image = load_image(given, keep_uint8=True)
        assert image.dtype == np.uint8 and image.shape == (6, 5, 3)
        np.testing.assert_array_equal(image, pixels)
    rgba = np.concatenate([pixels, np.zeros_like(pixels[..., :1])], -1)
    np.testing.assert_array_equal(load_image(rgba, keep_uint8=True), pixels)
    gray = load_image(pixels[..., 0], keep_uint8=True)
    assert gray.dtype == np.uint8 and gray.flags.c_contiguous
    np.testing.assert_array_equal(gray, np.repeat(pixels[..., :1], 3, -1))
    np.testing.assert_array_equal(load_image(np.eye(2, dtype=bool), keep_uint8=True)[..., 1], [[255, 0], [0, 255]])
    # Values that are not 8-bit stay float32, exactly as without keep_uint8.
    for other in (pixels / 255.0, pixels.astype(np.uint16) * 257, pixels.astype(np.int32)):
        image = load_image(other, keep_uint8=True)
        assert image.dtype == np.float32
        np.testing.assert_array_equal(image, load_image(other))


def test_a_kept_uint8_array_is_a_copy():
    pixels = _rgb()
    image = load_image(pixels, keep_uint8=True)
    image[:] = 0
    assert pixels.any()


def _traced_peak(function):
    """Peak bytes numpy allocated while `function` ran (numpy reports to tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = function()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_loading_a_file_holds_no_second_copy_of_the_image(tmp_path, monkeypatch):
    from keras_geomatch.inference import images

    path, _ = _png(tmp_path / "big.png", 600, 400)
    monkeypatch.setattr(images, "_BAND_PIXELS", 4000)
    pixels = 600 * 400
    peak, image = _traced_peak(lambda: load_image(path, keep_uint8=True))
    assert image.dtype == np.uint8
    assert peak < 3 * pixels * 1.2, peak  # the uint8 result and one band
    peak, image = _traced_peak(lambda: load_image(path))
    assert image.dtype == np.float32
    assert peak < 15 * pixels * 1.1, peak  # the uint8 array while the float32 result is made


def test_png_header_patch_keeps_a_valid_file(tmp_path):
    # The helper above must make a file Pillow parses, else the test proves nothing.
    path = _png_claiming_size(tmp_path / "wide.png", 7, 3)
    assert image_size_of_file(str(path)) == (3, 7)


def test_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would block: the test would hang
    with pytest.raises(ValueError, match=r"pipe.png, not a regular file \(a FIFO\)"):
        load_image(str(fifo), "target")
    with pytest.raises(ValueError, match=r"not a regular file \(a FIFO\)"):
        image_size_of_file(str(fifo))


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_link_to_a_device_is_refused_as_a_device(tmp_path):
    link = tmp_path / "null.png"
    link.symlink_to("/dev/null")
    with pytest.raises(
        ValueError,
        match=r"null.png, a symbolic link to /dev/null, not a regular file \(a character device\)",
    ):
        load_image(str(link))


def test_links_to_a_directory_and_broken_links(tmp_path):
    (tmp_path / "folder").mkdir()
    link = tmp_path / "folder.png"
    link.symlink_to(tmp_path / "folder")
    with pytest.raises(ValueError, match=r"Received a directory: .*folder.png, a symbolic link"):
        load_image(str(link))
    broken = tmp_path / "broken.png"
    broken.symlink_to(tmp_path / "gone.png")
    with pytest.raises(FileNotFoundError, match=r"broken symbolic link \(to .*gone.png"):
        load_image(str(broken), "source")


def test_empty_file_and_unreadable_file(tmp_path, monkeypatch):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"Received an empty file: .*empty.png"):
        load_image(str(empty))
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(good)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # Tests may run as root, who reads any file: simulate the refusal.
    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ValueError, match=r"Cannot read the image .*good.png: permission denied"):
        load_image(str(good))
