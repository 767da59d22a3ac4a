"""Reference checkpoint → Keras geometric matching model.

The built model takes RGB pixels in [0, 255] and normalises them the torch
way (``preprocessing="torch"``: RGB/255, ImageNet mean/std), as the
reference's weights expect.

Equivalence: the converted model computes the reference's θ to float32
round-off, for VGG-16 checkpoints (backbone ``vgg16``) and for ResNet-101
checkpoints with the default backbone ``resnet101_torch``, which is
torchvision's ResNet-101 (v1.5: stride in the 3×3 conv, no conv biases,
BatchNorm epsilon 1e-5, PyTorch's symmetric padding; see
``keras_geomatch.models.resnet_torchvision``).

``backbone="resnet101"`` (``keras.applications.ResNet101``) still loads a
ResNet-101 checkpoint, every tensor copied and its conv biases set to zero,
but it is another network: it strides in the first 1×1 convolution of a
stage's first block where torchvision strides in the 3×3 one, and its
BatchNorm epsilon is 1.001e-5. Such a model only approximates the reference
(a ``UserWarning`` says so); use it only if you need that layout.
"""

import os
import warnings

import keras
import numpy as np

from keras_geomatch.convert import torch_checkpoint
from keras_geomatch.convert import weights_mapping
from keras_geomatch.models import GeomatchModel
from keras_geomatch.models import require_geomatch_model


def _find_layer(model, keras_path):
    layer = model
    for name in keras_path:
        child = None
        if hasattr(layer, "get_layer"):
            try:
                child = layer.get_layer(name)
            except ValueError:
                child = None
        if child is None:
            child = getattr(layer, name, None)
        if not isinstance(child, keras.layers.Layer):
            raise ValueError(
                f"The Keras model has no layer {'/'.join(keras_path)!r} "
                f"(no {name!r} in {layer.name!r})."
            )
        layer = child
    return layer


def _flatten_hwc(regression):
    """(H, W, C) entering FeatureRegression's flatten."""
    height, width = regression.input.shape[1:3]
    for kernel_size in regression.kernel_sizes:
        height, width = height - kernel_size + 1, width - kernel_size + 1
    return height, width, regression.conv_filters[-1]


def load_reference_weights(model, state_dict, backbone=None):
    """Copies a reference state dict into a ``GeomatchModel``.

    Args:
        model: the ``GeomatchModel``; its backbone must be one of
            ``weights_mapping.CHECKPOINT_LAYOUT`` (``"vgg16"``,
            ``"resnet101_torch"`` or ``"resnet101"``).
        state_dict: ``{key: numpy array}``; ``FeatureExtraction.vgg.*`` keys
            are accepted as the older spelling of ``FeatureExtraction.model.*``.
        backbone: deprecated, the model says it (``model.backbone``); if
            given, it must be the model's.

    Raises:
        ValueError: keys missing or unexpected (all listed), a shape that
            differs from the Keras variable's, or a Keras weight of the
            backbone/regression that the checkpoint does not set.
    """
    model = require_geomatch_model(model)
    if backbone is not None and backbone != model.backbone:
        raise ValueError(
            f"Expected backbone={model.backbone!r}, the model's (or None). "
            f"Received: backbone={backbone!r}"
        )
    state_dict = weights_mapping.normalize_keys(state_dict)
    mappings = weights_mapping.model_mappings(model.backbone)
    weights_mapping.check_keys(state_dict, mappings)
    flatten_hwc = _flatten_hwc(model.get_layer("feature_regression"))

    assignments = []
    problems = []
    for mapping in mappings:
        layer = _find_layer(model, mapping.keras_path)
        try:
            values = weights_mapping.convert_layer(mapping, state_dict, flatten_hwc)
        except ValueError as error:  # e.g. a linear layer for another image size
            problems.append(f"{mapping.torch_prefix}: {error}")
            continue
        for attribute, value in values.items():
            variable = getattr(layer, attribute, None)
            if value is None:
                if variable is None:  # Keras layer without bias: nothing to zero
                    continue
                value = np.zeros(variable.shape, dtype=np.float32)
            if variable is None:
                problems.append(f"{'/'.join(mapping.keras_path)} has no {attribute!r}")
            elif tuple(variable.shape) != value.shape:
                problems.append(
                    f"{mapping.torch_prefix} → {variable.path}: Keras expects "
                    f"{tuple(variable.shape)}, the checkpoint gives {value.shape}"
                )
            else:
                assignments.append((variable, value))
    if problems:
        raise ValueError(
            "The checkpoint does not fit the Keras model (was it trained with "
            "another image size or backbone?):\n  " + "\n  ".join(problems)
        )

    assigned = {id(variable) for variable, _ in assignments}
    unset = [
        variable.path
        for name in ("feature_extraction", "feature_regression")
        for variable in model.get_layer(name).weights
        if id(variable) not in assigned
    ]
    if unset:
        raise ValueError(
            f"The checkpoint leaves {len(unset)} Keras weights unset: {unset[:20]}"
        )
    for variable, value in assignments:
        variable.assign(value)
    return model


def convert_checkpoint(
    checkpoint_path,
    output_path=None,
    backbone="auto",
    image_size=(240, 240),
    allow_unsafe_pickle=False,
):
    """Builds a Keras model holding a reference ``.pth.tar`` checkpoint's weights.

    Args:
        checkpoint_path: the reference's checkpoint file.
        output_path: if given, the model is saved there (a ``.keras`` file).
        backbone: ``"auto"`` (from the key names: ``"vgg16"`` or
            ``"resnet101_torch"``, both exact), ``"vgg16"``,
            ``"resnet101_torch"``, or ``"resnet101"`` (keras.applications'
            ResNet-101: an approximation of a ResNet checkpoint, warns).
        image_size: ``(height, width)``; the reference's regression was
            trained on 240×240 (its first conv sees 15·15 = 225 channels), so
            other sizes fail unless the file was trained for them.
        allow_unsafe_pickle: see ``torch_checkpoint.load_checkpoint``.

    Returns:
        The ``GeomatchModel`` (inputs ``source_image``/``target_image`` RGB
        in [0, 255], output θ), its geometric model the one whose θ has the
        checkpoint's size.

    Example:
        >>> model = convert_checkpoint("best_affine_vgg.pth.tar", "affine_vgg.keras")
    """
    state_dict = weights_mapping.normalize_keys(
        torch_checkpoint.read_state_dict(checkpoint_path, allow_unsafe_pickle)
    )
    geometric_model = weights_mapping.infer_geometric_model(state_dict)
    layout = weights_mapping.infer_layout(state_dict)
    if backbone == "auto":
        backbone = weights_mapping.DEFAULT_BACKBONE[layout]
    elif backbone not in weights_mapping.BACKBONES:
        raise ValueError(
            f"Expected backbone in {['auto', *weights_mapping.BACKBONES]}. "
            f"Received: backbone={backbone!r}"
        )
    elif weights_mapping.CHECKPOINT_LAYOUT[backbone] != layout:
        raise ValueError(
            f"The checkpoint's keys are those of a {layout} backbone. "
            f"Received: backbone={backbone!r}"
        )
    if backbone != weights_mapping.DEFAULT_BACKBONE[layout]:
        warnings.warn(
            f"backbone={backbone!r} is not the reference's network (keras.applications' "
            "ResNet-101 strides in the 1×1 conv and uses BatchNorm epsilon 1.001e-5): "
            "the converted model only approximates the checkpoint's θ. "
            f"backbone={weights_mapping.DEFAULT_BACKBONE[layout]!r} reproduces it.",
            stacklevel=2,
        )
    model = GeomatchModel(
        geometric_model,
        backbone,
        image_size=tuple(image_size),
        weights=None,
        preprocessing="torch",
    )
    load_reference_weights(model, state_dict)
    if output_path is not None:
        output_path = os.fspath(output_path)
        if not output_path.endswith(".keras"):
            raise ValueError(
                f"Expected an output path ending in '.keras'. Received: {output_path!r}"
            )
        model.save(output_path)
    return model
