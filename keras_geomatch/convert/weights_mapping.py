"""Which reference (PyTorch) tensor goes into which Keras variable, and how.

Pure functions on numpy arrays and key names; nothing here imports torch.

Conventions (SPEC §5):

- Reference keys are ``FeatureExtraction.model.*`` (older files: ``.vgg.*``;
  ``normalize_keys`` rewrites those to ``model``) and ``FeatureRegression.*``.
- Conv weights: PyTorch ``(out, in, kh, kw)`` → Keras ``(kh, kw, in, out)``.
- BatchNorm: ``weight, bias, running_mean, running_var`` → ``gamma, beta,
  moving_mean, moving_variance``; ``num_batches_tracked`` is bookkeeping and
  ignored.
- ``FeatureRegression.linear.weight`` is ``(P, C·H·W)`` indexed in PyTorch's
  C,H,W flatten order; Keras flattens H,W,C and stores ``(H·W·C, P)``.
- VGG-16 ``features`` indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21 are
  ``block1_conv1`` … ``block4_conv3`` of ``keras.applications.VGG16``.
- ResNet-101: ``model.0``/``model.1`` are ``conv1_conv``/``conv1_bn``;
  ``model.4/5/6`` (layer1..3) block ``j`` is ``conv{2,3,4}_block{j+1}`` with
  ``conv1/bn1 → _1_conv/_1_bn``, ``conv2/bn2 → _2_*``, ``conv3/bn3 → _3_*``,
  ``downsample.0/.1 → _0_conv/_0_bn``. Both Keras ResNet backbones use these
  names. The reference convs have no bias; ``resnet101_torch``'s have none
  either, ``resnet101``'s (keras.applications) do and are set to zero.

Backbone names are those of ``keras_geomatch.models.BACKBONES``. A checkpoint
has one of two key *layouts* (``CHECKPOINT_LAYOUT``): VGG-16's, or
ResNet-101's, which both ``resnet101_torch`` (exact, the default) and
``resnet101`` (keras.applications' v1 network, an approximation) accept.
"""

import dataclasses

import numpy as np

from keras_geomatch import geometry

FEATURE_PREFIX = "FeatureExtraction.model."
LEGACY_FEATURE_PREFIX = "FeatureExtraction.vgg."
IGNORED_SUFFIXES = ("num_batches_tracked",)

# Keras backbone → the checkpoint key layout it loads.
CHECKPOINT_LAYOUT = {"vgg16": "vgg16", "resnet101_torch": "resnet101", "resnet101": "resnet101"}
BACKBONES = tuple(CHECKPOINT_LAYOUT)
# Checkpoint layout → the backbone that reproduces the reference exactly.
DEFAULT_BACKBONE = {"vgg16": "vgg16", "resnet101": "resnet101_torch"}

VGG16_KERAS_NAME_BY_TORCH_INDEX = {
    0: "block1_conv1",
    2: "block1_conv2",
    5: "block2_conv1",
    7: "block2_conv2",
    10: "block3_conv1",
    12: "block3_conv2",
    14: "block3_conv3",
    17: "block4_conv1",
    19: "block4_conv2",
    21: "block4_conv3",
}

# (torch index in FeatureExtraction.model, Keras stage number, number of blocks).
RESNET101_STAGES = ((4, 2, 3), (5, 3, 4), (6, 4, 23))

_TORCH_SUFFIXES = {
    "conv": ("weight", "bias"),
    "conv_no_bias": ("weight",),
    "batch_norm": ("weight", "bias", "running_mean", "running_var"),
    "dense_chw": ("weight", "bias"),
}


@dataclasses.dataclass(frozen=True)
class LayerMapping:
    """One reference module and the Keras layer that receives its tensors.

    Attributes:
        torch_prefix: module path in the state dict, e.g.
            ``"FeatureExtraction.model.0"`` (keys are ``prefix + ".weight"`` …).
        keras_path: names from the Keras model down to the layer, e.g.
            ``("feature_extraction", "block1_conv1")`` or
            ``("feature_regression", "conv1")``.
        kind: ``"conv"``, ``"conv_no_bias"``, ``"batch_norm"`` or ``"dense_chw"``.
    """

    torch_prefix: str
    keras_path: tuple
    kind: str

    def torch_keys(self):
        return [f"{self.torch_prefix}.{suffix}" for suffix in _TORCH_SUFFIXES[self.kind]]


def normalize_keys(state_dict):
    """Rewrites the older ``FeatureExtraction.vgg.`` prefix to ``FeatureExtraction.model.``."""
    normalized = {}
    for key, value in state_dict.items():
        if key.startswith(LEGACY_FEATURE_PREFIX):
            key = FEATURE_PREFIX + key[len(LEGACY_FEATURE_PREFIX):]
        if key in normalized:
            raise ValueError(
                "The checkpoint has the same tensor under both the 'vgg' and the "
                f"'model' prefix. Received duplicate key: {key}"
            )
        normalized[key] = value
    return normalized


def infer_geometric_model(state_dict):
    """The geometric model whose θ has the size of ``FeatureRegression.linear.bias``.

    The reference's file does not name it: the sizes are those of
    ``keras_geomatch.geometry.GEOMETRIC_MODELS`` (each size is one model's).
    """
    key = "FeatureRegression.linear.bias"
    if key not in state_dict:
        raise ValueError(
            f"Expected a reference checkpoint with the key '{key}'. Received keys "
            f"starting with: {sorted(state_dict)[:5]}"
        )
    output_dim = int(np.shape(state_dict[key])[0])
    by_size = {spec.num_params: name for name, spec in geometry.GEOMETRIC_MODELS.items()}
    if output_dim not in by_size:
        raise ValueError(
            f"Expected FeatureRegression.linear.bias of size {sorted(by_size)} "
            f"({dict(sorted(by_size.items()))}). Received: size {output_dim}"
        )
    return by_size[output_dim]


def infer_layout(state_dict):
    """The checkpoint's key layout, ``"vgg16"`` or ``"resnet101"``.

    ResNet files have BatchNorm statistics (``model.1.running_mean``) and
    nested bottleneck blocks (``model.4.0.conv1.weight``); VGG files have
    neither.
    """
    suffixes = [
        key[len(FEATURE_PREFIX):] for key in normalize_keys(state_dict)
        if key.startswith(FEATURE_PREFIX)
    ]
    if not suffixes:
        raise ValueError(
            "Expected FeatureExtraction.model.* (or .vgg.*) keys in the checkpoint. "
            f"Received keys starting with: {sorted(state_dict)[:5]}"
        )
    if any(s.startswith("4.0.conv1.") or s.startswith("1.running_mean") for s in suffixes):
        return "resnet101"
    if all(s.split(".")[0].isdigit() and len(s.split(".")) == 2 for s in suffixes):
        return "vgg16"
    raise ValueError(
        "Could not tell the backbone from the FeatureExtraction keys; pass it "
        f"explicitly (one of {list(BACKBONES)}). Received keys like: {sorted(suffixes)[:5]}"
    )


def infer_backbone(state_dict):
    """The Keras backbone that computes a checkpoint's network exactly.

    ``"vgg16"`` for VGG files, ``"resnet101_torch"`` (torchvision's layout)
    for ResNet-101 files; see ``infer_layout``.
    """
    return DEFAULT_BACKBONE[infer_layout(state_dict)]


def backbone_mappings(backbone):
    """The ``LayerMapping`` list of a backbone (a key of ``CHECKPOINT_LAYOUT``)."""
    if backbone not in CHECKPOINT_LAYOUT:
        raise ValueError(
            f"Expected backbone in {list(BACKBONES)}. Received: backbone={backbone!r}"
        )
    if CHECKPOINT_LAYOUT[backbone] == "vgg16":
        return [
            LayerMapping(f"{FEATURE_PREFIX}{index}", ("feature_extraction", name), "conv")
            for index, name in VGG16_KERAS_NAME_BY_TORCH_INDEX.items()
        ]
    # ResNet-101 layout.
    mappings = [
        LayerMapping(f"{FEATURE_PREFIX}0", ("feature_extraction", "conv1_conv"),
                     "conv_no_bias"),
        LayerMapping(f"{FEATURE_PREFIX}1", ("feature_extraction", "conv1_bn"),
                     "batch_norm"),
    ]
    for torch_index, stage, blocks in RESNET101_STAGES:
        for block in range(blocks):
            torch_block = f"{FEATURE_PREFIX}{torch_index}.{block}"
            keras_block = f"conv{stage}_block{block + 1}"
            parts = [("conv1", "bn1", "1"), ("conv2", "bn2", "2"), ("conv3", "bn3", "3")]
            if block == 0:
                parts.append(("downsample.0", "downsample.1", "0"))
            for torch_conv, torch_bn, keras_index in parts:
                mappings.append(LayerMapping(
                    f"{torch_block}.{torch_conv}",
                    ("feature_extraction", f"{keras_block}_{keras_index}_conv"),
                    "conv_no_bias",
                ))
                mappings.append(LayerMapping(
                    f"{torch_block}.{torch_bn}",
                    ("feature_extraction", f"{keras_block}_{keras_index}_bn"),
                    "batch_norm",
                ))
    return mappings


def regression_mappings():
    """The ``LayerMapping`` list of FeatureRegression (same for every backbone)."""
    return [
        LayerMapping("FeatureRegression.conv.0", ("feature_regression", "conv1"), "conv"),
        LayerMapping("FeatureRegression.conv.1", ("feature_regression", "bn1"), "batch_norm"),
        LayerMapping("FeatureRegression.conv.3", ("feature_regression", "conv2"), "conv"),
        LayerMapping("FeatureRegression.conv.4", ("feature_regression", "bn2"), "batch_norm"),
        LayerMapping("FeatureRegression.linear", ("feature_regression", "linear"), "dense_chw"),
    ]


def model_mappings(backbone):
    """Every ``LayerMapping`` of a full reference model with this backbone."""
    return backbone_mappings(backbone) + regression_mappings()


def check_keys(state_dict, mappings):
    """Raises a ValueError listing missing and unexpected keys (after normalisation).

    ``num_batches_tracked`` entries are allowed and ignored.
    """
    expected = {key for mapping in mappings for key in mapping.torch_keys()}
    present = {key for key in state_dict if not key.endswith(IGNORED_SUFFIXES)}
    missing = sorted(expected - present)
    unexpected = sorted(present - expected)
    if missing or unexpected:
        raise ValueError(
            "The checkpoint does not match the expected reference layout. "
            f"Missing keys ({len(missing)}): {_preview(missing)}. "
            f"Unexpected keys ({len(unexpected)}): {_preview(unexpected)}."
        )


def _preview(keys, limit=20):
    if len(keys) <= limit:
        return keys
    return keys[:limit] + [f"... and {len(keys) - limit} more"]


def conv_kernel_from_torch(weight):
    """PyTorch conv weight ``(out, in, kh, kw)`` → Keras kernel ``(kh, kw, in, out)``."""
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(
            f"Expected a conv weight of rank 4 (out, in, kh, kw). Received: shape={weight.shape}"
        )
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 1, 0)))


def dense_kernel_from_torch_chw(weight, height, width, channels):
    """Reference ``linear.weight`` ``(P, C·H·W)`` → Keras Dense kernel ``(H·W·C, P)``.

    PyTorch's input index is ``c·H·W + h·W + w``; Keras's Flatten (channels
    last) gives ``h·W·C + w·C + c``.
    """
    weight = np.asarray(weight)
    expected = height * width * channels
    if weight.ndim != 2 or weight.shape[1] != expected:
        raise ValueError(
            f"Expected a linear weight of shape (P, {channels}·{height}·{width}={expected}). "
            f"Received: shape={weight.shape}"
        )
    output_dim = weight.shape[0]
    weight = weight.reshape(output_dim, channels, height, width).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(weight.reshape(output_dim, expected).T)


def convert_layer(mapping, state_dict, flatten_hwc=None):
    """The Keras variable values of one mapped layer, as ``{attribute: array}``.

    Args:
        mapping: a ``LayerMapping``.
        state_dict: normalised key → numpy array.
        flatten_hwc: ``(H, W, C)`` before the flatten; needed for ``dense_chw``.

    Returns:
        dict from Keras layer attribute (``kernel``, ``bias``, ``gamma``, ``beta``,
        ``moving_mean``, ``moving_variance``) to float32 array. For
        ``conv_no_bias`` the bias is ``None`` (the caller zeroes a Keras bias).
    """
    def get(suffix):
        return np.asarray(state_dict[f"{mapping.torch_prefix}.{suffix}"], dtype=np.float32)

    if mapping.kind == "conv":
        return {"kernel": conv_kernel_from_torch(get("weight")), "bias": get("bias")}
    if mapping.kind == "conv_no_bias":
        return {"kernel": conv_kernel_from_torch(get("weight")), "bias": None}
    if mapping.kind == "batch_norm":
        return {
            "gamma": get("weight"),
            "beta": get("bias"),
            "moving_mean": get("running_mean"),
            "moving_variance": get("running_var"),
        }
    if mapping.kind == "dense_chw":
        if flatten_hwc is None:
            raise ValueError(f"flatten_hwc is needed to convert {mapping.torch_prefix}")
        return {
            "kernel": dense_kernel_from_torch_chw(get("weight"), *flatten_hwc),
            "bias": get("bias"),
        }
    raise ValueError(f"Unknown mapping kind. Received: kind={mapping.kind!r}")
