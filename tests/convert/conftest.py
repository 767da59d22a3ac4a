"""Checkpoint-converter tests need PyTorch (the optional ``convert`` extra)."""

import pytest

pytest.importorskip("torch")
