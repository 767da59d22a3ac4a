"""Tests of the torchvision-layout ResNet-101 backbone (`resnet101_torch`)."""

import keras
import numpy as np
import pytest

from keras_geomatch.models import build_backbone
from keras_geomatch.models import build_geomatch_model
from keras_geomatch.models import get_backbone
from keras_geomatch.models import resnet_torchvision

# 1 stem conv + 30 bottlenecks × 3 convs + 3 downsample shortcuts.
NUM_CONVS = 1 + 3 * (3 + 4 + 23) + 3


@pytest.fixture(scope="module")
def resnet_240():
    return build_backbone("resnet101_torch", (240, 240), weights=None)


def _layers_of(model, layer_type):
    return [layer for layer in model.layers if isinstance(layer, layer_type)]


@pytest.mark.parametrize(
    "image_size, feature_size",
    [((240, 240), (15, 15)), ((70, 50), (5, 4)), ((64, 96), (4, 6))],
)
def test_output_shape_is_ceil_of_a_sixteenth(image_size, feature_size):
    model = build_backbone("resnet101_torch", image_size, weights=None)
    assert tuple(model.output.shape) == (None, *feature_size, 1024)


def test_registry_entry():
    backbone = get_backbone("resnet101_torch")
    assert (backbone.stride, backbone.preprocessing, backbone.has_imagenet_weights) == (
        16, "torch", False,
    )
    with pytest.raises(ValueError, match="no ImageNet weights"):
        build_backbone("resnet101_torch", (64, 64), weights="imagenet")


def test_geomatch_model_normalises_the_torch_way():
    model = build_geomatch_model("affine", "resnet101_torch", weights=None)
    assert model.get_layer("preprocess").mode == "torch"
    assert model.get_layer("feature_extraction").output.shape[1:] == (15, 15, 1024)


def test_weighted_layer_names_are_those_of_keras_applications(resnet_240):
    base = keras.applications.ResNet101(
        include_top=False, weights=None, input_shape=(64, 64, 3)
    )
    cut = keras.Model(base.input, base.get_layer("conv4_block23_out").output)
    expected = [layer.name for layer in cut.layers if layer.weights]
    got = [layer.name for layer in resnet_240.layers if layer.weights]
    assert sorted(got) == sorted(expected)
    assert resnet_240.layers[-1].name == "conv4_block23_out"


def test_convs_have_no_bias(resnet_240):
    convs = _layers_of(resnet_240, keras.layers.Conv2D)
    assert len(convs) == NUM_CONVS
    for conv in convs:
        assert not conv.use_bias, conv.name
        assert [w.path.split("/")[-1] for w in conv.weights] == ["kernel"]


def test_batch_norm_epsilon_is_torchs(resnet_240):
    norms = _layers_of(resnet_240, keras.layers.BatchNormalization)
    assert len(norms) == NUM_CONVS
    assert {norm.epsilon for norm in norms} == {1e-5}


def test_stride_sits_in_the_3x3_conv_with_explicit_padding(resnet_240):
    for stage in (3, 4):
        block = f"conv{stage}_block1"
        assert resnet_240.get_layer(f"{block}_1_conv").strides == (1, 1)
        conv = resnet_240.get_layer(f"{block}_2_conv")
        assert (conv.strides, conv.padding) == ((2, 2), "valid")
        assert resnet_240.get_layer(f"{block}_2_pad").padding == ((1, 1), (1, 1))
        assert resnet_240.get_layer(f"{block}_0_conv").strides == (2, 2)
    conv2 = resnet_240.get_layer("conv2_block1_2_conv")
    assert (conv2.strides, conv2.padding) == ((1, 1), "same")
    assert resnet_240.get_layer("conv1_pad").padding == ((3, 3), (3, 3))
    assert resnet_240.get_layer("pool1_pad").padding == ((1, 1), (1, 1))


def test_identity_shortcut_with_stride_raises():
    inputs = keras.Input((8, 8, 256))
    with pytest.raises(ValueError, match="stride=2"):
        resnet_torchvision.bottleneck_block(inputs, 64, 2, downsample=False, name="x")


def _write_layer_name_h5(model, path):
    """A Keras-2-style weights file: `<layer>/<layer>/<variable>:0` datasets."""
    import h5py

    with h5py.File(path, "w") as h5file:
        for layer in model.layers:
            for variable in layer.weights:
                kind = variable.path.split("/")[-1]
                h5file[f"{layer.name}/{layer.name}/{kind}:0"] = np.asarray(variable)


def test_local_weights_file_by_layer_name(tmp_path):
    model = resnet_torchvision.build_resnet101_torchvision((32, 32, 3))
    for variable in model.weights:
        variable.assign(np.random.default_rng(1).uniform(0.5, 1.5, variable.shape))
    path = tmp_path / "resnet101_torch.h5"
    _write_layer_name_h5(model, path)
    loaded = build_backbone("resnet101_torch", (32, 32), weights=path)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# --- Against the PyTorch re-creation of the reference (tests/convert) ---------


def _keras_name(torch_name):
    """'model.5.0.downsample.1' → 'conv3_block1_0_bn' (torchvision → Keras names)."""
    parts = torch_name.split(".")[1:]
    if parts == ["0"]:
        return "conv1_conv"
    if parts == ["1"]:
        return "conv1_bn"
    stage, block, module = int(parts[0]) - 2, int(parts[1]) + 1, parts[2]
    if module == "downsample":
        kind = "conv" if parts[3] == "0" else "bn"
        return f"conv{stage}_block{block}_0_{kind}"
    return f"conv{stage}_block{block}_{module[-1]}_{'conv' if module[:-1] == 'conv' else 'bn'}"


def _copy_torch_weights(torch_extractor, keras_model):
    import torch

    copied = 0
    for name, module in torch_extractor.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            layer = keras_model.get_layer(_keras_name(name))
            layer.kernel.assign(module.weight.detach().numpy().transpose(2, 3, 1, 0))
        elif isinstance(module, torch.nn.BatchNorm2d):
            layer = keras_model.get_layer(_keras_name(name))
            for attribute, tensor in (
                ("gamma", module.weight), ("beta", module.bias),
                ("moving_mean", module.running_mean), ("moving_variance", module.running_var),
            ):
                getattr(layer, attribute).assign(tensor.detach().numpy())
        else:
            continue
        copied += 1
    assert copied == 2 * NUM_CONVS


@pytest.fixture(scope="module")
def torch_resnet():
    torch = pytest.importorskip("torch")
    from tests.convert.reference_torch_model import (
        FeatureExtraction,
        randomize_batchnorm,
        randomize_weights,
    )

    extractor = FeatureExtraction("resnet101")
    randomize_weights(extractor, seed=5)
    randomize_batchnorm(extractor, seed=5)
    # One thread: PyTorch's OpenMP threads stall on a busy machine (see
    # tests/convert/conftest.py).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield extractor.eval()
    torch.set_num_threads(threads)


def test_parameter_count_equals_torchvision(resnet_240, torch_resnet):
    torch_count = sum(p.numel() for p in torch_resnet.parameters()) + sum(
        b.numel() for name, b in torch_resnet.named_buffers() if "running_" in name
    )
    assert resnet_240.count_params() == torch_count


@pytest.mark.parametrize("image_size, batch", [((112, 96), 1), ((70, 50), 2)])
def test_features_equal_pytorch_reference(torch_resnet, image_size, batch):
    import torch

    model = build_backbone("resnet101_torch", image_size, weights=None)
    _copy_torch_weights(torch_resnet, model)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch, *image_size, 3)).astype(np.float32)
    with torch.no_grad():
        expected = torch_resnet(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    expected = expected.transpose(0, 2, 3, 1)
    got = np.asarray(model(images))
    assert got.shape == expected.shape
    # He-normal weights and residual sums let the magnitudes grow with depth,
    # so compare relative to the largest entry. Measured: ~4e-6 here; Keras's
    # asymmetric "same" padding in conv1 or in the strided 3×3 convs gives
    # ~5e-2 (BatchNorm's epsilon is too small to show and is pinned above).
    scale = np.max(np.abs(expected))
    assert scale > 0
    assert np.max(np.abs(got - expected)) / scale < 1e-4
