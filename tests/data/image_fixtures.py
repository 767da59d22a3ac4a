"""Small image files for the data tests, written with Pillow."""

import os

import numpy as np
from PIL import Image


def smooth_rgb(height, width, seed=0):
    """A smooth colour image (low-frequency sinusoids), values in [20, 235]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for _ in range(3):
        fx, fy = rng.uniform(0.5, 2.0, size=2) * 2 * np.pi
        phase = rng.uniform(0, 2 * np.pi)
        channels.append(np.sin(fx * x / width + fy * y / height + phase))
    image = 127.5 + 107.5 * np.stack(channels, axis=-1)
    return image.astype(np.float32)


def write_image(path, array, mode=None, **save_kwargs):
    """Saves `array` (uint8-castable) as an image file; returns the path."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    array = np.asarray(np.clip(np.round(array), 0, 255), dtype=np.uint8)
    image = Image.fromarray(array)
    if mode is not None:
        image = image.convert(mode)
    image.save(path, **save_kwargs)
    return str(path)


def write_constant(path, colour, size=(40, 50)):
    """A constant-colour RGB image of `size` (height, width)."""
    return write_image(path, np.broadcast_to(np.asarray(colour, np.float32), (*size, 3)))
