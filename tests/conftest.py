"""Test-wide settings: quiet TensorFlow, and no download may ever happen."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Before TensorFlow, as the package's programs start it (oneDNN kernels on).
import keras_geomatch  # noqa: E402,F401
import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Tests must never download weights or data: fail loudly if one tries."""

    def refuse(*args, **kwargs):
        raise RuntimeError(f"A test tried to download a file: args={args} kwargs={kwargs}")

    monkeypatch.setattr(keras.utils, "get_file", refuse)
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "get_file", refuse)
