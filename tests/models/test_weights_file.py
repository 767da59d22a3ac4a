"""Loading backbone weights from a local HDF5 file by layer name."""

import h5py
import numpy as np
import pytest

from keras_geomatch.models import build_backbone
from keras_geomatch.models.weights_file import load_weights_by_layer_name


def _small_backbone():
    return build_backbone("small", (88, 88), weights=None)


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def _write_named(path, model, skip=(), transform=lambda name, value: value):
    """Keras legacy layout: `<layer>/<layer>/kernel:0`, `.../bias:0`."""
    with h5py.File(path, "w") as f:
        for layer in _weighted_layers(model):
            if layer.name in skip:
                continue
            for variable in layer.weights:
                name = variable.path.split("/")[-1]
                f[f"{layer.name}/{layer.name}/{name}:0"] = transform(
                    layer.name, np.asarray(variable.numpy())
                )
        f["extra_layer/kernel:0"] = np.zeros(3)  # more layers than the model: fine


def test_loads_named_datasets(tmp_path):
    source, target = _small_backbone(), _small_backbone()
    _write_named(tmp_path / "w.h5", source)
    load_weights_by_layer_name(target, tmp_path / "w.h5")
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_loads_index_named_datasets(tmp_path):
    source, target = _small_backbone(), _small_backbone()
    with h5py.File(tmp_path / "w.h5", "w") as f:
        for layer in _weighted_layers(source):
            for i, variable in enumerate(layer.weights):
                f[f"{layer.name}/vars/{i}"] = variable.numpy()
    load_weights_by_layer_name(target, str(tmp_path / "w.h5"))
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_missing_layers_are_listed(tmp_path):
    model = _small_backbone()
    _write_named(tmp_path / "w.h5", model, skip=("block2_conv2", "block3_conv1"))
    with pytest.raises(ValueError) as error:
        load_weights_by_layer_name(model, tmp_path / "w.h5")
    message = str(error.value)
    assert "'block2_conv2' not found" in message and "'block3_conv1' not found" in message
    assert "block1_conv1" not in message


def test_shape_mismatch_names_expected_and_received(tmp_path):
    model = _small_backbone()

    def grow(name, value):
        return np.zeros((3, 3, 3, 16)) if name == "block1_conv1" and value.ndim == 4 else value

    _write_named(tmp_path / "w.h5", model, transform=grow)
    before = model.get_layer("block2_conv1").kernel.numpy().copy()
    with pytest.raises(ValueError, match=r"expected shape \(3, 3, 3, 32\), file has \(3, 3, 3, 16\)"):
        load_weights_by_layer_name(model, tmp_path / "w.h5")
    # Nothing is half-loaded.
    np.testing.assert_array_equal(model.get_layer("block2_conv1").kernel.numpy(), before)


def test_bad_files(tmp_path):
    model = _small_backbone()
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        load_weights_by_layer_name(model, tmp_path / "nope.h5")
    (tmp_path / "text.h5").write_text("not an HDF5 file")
    with pytest.raises(ValueError, match="Expected an HDF5 weights file.*text.h5"):
        load_weights_by_layer_name(model, tmp_path / "text.h5")
