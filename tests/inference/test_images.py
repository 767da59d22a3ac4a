import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_geomatch.inference import load_image
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


def test_png_over_pillows_pixel_limit_says_the_pixel_count_and_the_limit(tmp_path):
    path = _png_claiming_size(tmp_path / "bomb.png", 30000, 30000)
    assert path.stat().st_size < 100
    limit = 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(
        ValueError,
        match=rf"Expected the source to have at most {limit} pixels .*decompression-bomb"
        rf".*Received: 900000000 pixels in .*bomb.png",
    ):
        load_image(str(path), "source")
    with pytest.raises(ValueError, match="Received: 900000000 pixels"):
        image_size_of_file(str(path), "source")


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
