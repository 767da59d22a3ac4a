"""The built-in sample photographs (from the scikit-image wheel, no download)."""

import importlib.util
import os

import pytest
from PIL import Image

from keras_geomatch import data


def test_train_and_val_are_disjoint_non_empty_colour_photos():
    train, val = data.builtin_sample_images()
    assert len(train) >= 5 and len(val) >= 2
    assert not set(train) & set(val)
    for path in train + val:
        assert os.path.isabs(path) and os.path.isfile(path)
        with Image.open(path) as image:
            assert image.mode == "RGB"
            assert min(image.size) >= 256


def test_split_is_fixed():
    assert data.builtin_sample_images() == data.builtin_sample_images()


def test_missing_scikit_image_says_how_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "skimage" else real_find_spec(name, *a),
    )
    with pytest.raises(ImportError, match=r"keras-geomatch\[samples\]"):
        data.builtin_sample_images()
