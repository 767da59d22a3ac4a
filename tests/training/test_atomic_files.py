"""Atomic writes: complete or absent, never half written."""

import json
import os

import pytest

from keras_geomatch.training import atomic_files


def test_write_json_atomic(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic_files.write_json_atomic(path, {"a": [1, 2]})
    atomic_files.write_json_atomic(path, {"a": 3})
    assert json.loads(path.read_text()) == {"a": 3}
    assert os.listdir(tmp_path / "sub") == ["a.json"]


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    atomic_files.write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        atomic_files.write_json_atomic(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["a.json"]

