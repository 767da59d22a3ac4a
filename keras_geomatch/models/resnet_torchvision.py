"""ResNet-101 up to `layer3` with torchvision's layout, so PyTorch weights fit exactly.

The reference's ResNet-101 models (their best PF-WILLOW results) use
torchvision's ResNet, which `keras.applications.ResNet101` is not:

| what                          | torchvision (v1.5, this file) | keras.applications (v1) |
|-------------------------------|-------------------------------|-------------------------|
| stride of a stage's 1st block | in the 3×3 conv (`conv2`)     | in the first 1×1 conv   |
| conv biases                   | none                          | yes                     |
| BatchNorm epsilon             | 1e-5                          | 1.001e-5                |

This backbone keeps Keras's layer names (`conv1_conv`, `conv1_bn`,
`conv2_block1_0_conv` for the downsample shortcut, `convS_blockB_{1,2,3}_conv`
/ `_bn`, `convS_blockB_out`, …, `conv4_block23_out`), so a name-based weight
map written for one fits the other.

Convention (padding, to match PyTorch to float round-off): PyTorch pads
symmetrically; Keras `padding="same"` with stride 2 pads only the bottom and
right when the padding is odd in total. Every strided layer is therefore an
explicit `ZeroPadding2D` followed by a `"valid"` layer:

- `conv1`: pad 3, 7×7 conv stride 2 (`conv1_pad`, `conv1_conv`).
- max pool: pad 1, 3×3 pool stride 2 (`pool1_pad`, `pool1_pool`). PyTorch's
  pooling padding never wins the max (it acts as -inf); here the pad is 0.
  The two agree because the pool follows a ReLU, so every real value is
  ≥ 0, and every 3×3 window with pad 1 holds at least one real value: the
  max over the window is the max over its real values either way.
- a stage's first 3×3 conv with stride 2: pad 1, valid (`_2_pad`, `_2_conv`).
  The stride-1 3×3 convs use `"same"`, which for stride 1 and an odd kernel
  is exactly a symmetric pad of 1.
- the 1×1 stride-2 shortcut (`_0_conv`) needs no padding: both frameworks
  sample input positions 0, 2, 4, ….

Output: `(batch, ceil(H/16), ceil(W/16), 1024)` for `(batch, H, W, 3)`
inputs (15×15×1024 for 240×240), normalised the torch way (RGB/255,
ImageNet mean/std).

There are no ImageNet weights in Keras for this layout; weights come from a
converted reference checkpoint (`keras_geomatch.convert`) or a local file.
"""

import keras

TORCH_BATCH_NORM_EPSILON = 1e-5
TORCH_BATCH_NORM_MOMENTUM = 0.9  # Keras's convention for PyTorch's momentum 0.1

# (bottleneck width, blocks, stride of the first block) of layer1..layer3.
RESNET101_LAYER3_STAGES = ((64, 3, 1), (128, 4, 2), (256, 23, 2))
BOTTLENECK_EXPANSION = 4


def _batch_norm(name):
    return keras.layers.BatchNormalization(
        axis=-1,
        epsilon=TORCH_BATCH_NORM_EPSILON,
        momentum=TORCH_BATCH_NORM_MOMENTUM,
        name=name,
    )


def bottleneck_block(x, width, stride, downsample, name):
    """torchvision's `Bottleneck` (1×1 → 3×3 with the stride → 1×1, ×4 channels).

    Args:
        x: `(batch, H, W, C)` tensor.
        width: channels of the inner 1×1/3×3 convs; the block outputs
            `4 · width`.
        stride: 1 or 2, applied by the 3×3 conv (and the shortcut).
        downsample: whether the shortcut is a 1×1 conv + BatchNorm
            (`name_0_conv`, `name_0_bn`) instead of the identity.
        name: layer-name prefix, e.g. `"conv3_block1"`.

    Returns:
        `(batch, ceil(H / stride), ceil(W / stride), 4 · width)` tensor.
    """
    out_channels = BOTTLENECK_EXPANSION * width
    if downsample:
        shortcut = keras.layers.Conv2D(
            out_channels, 1, strides=stride, use_bias=False, name=f"{name}_0_conv"
        )(x)
        shortcut = _batch_norm(f"{name}_0_bn")(shortcut)
    else:
        if stride != 1 or x.shape[-1] != out_channels:
            raise ValueError(
                "An identity shortcut needs stride 1 and the block's output channels. "
                f"Expected stride=1 and {out_channels} input channels. "
                f"Received: stride={stride}, input channels={x.shape[-1]}"
            )
        shortcut = x

    y = keras.layers.Conv2D(width, 1, use_bias=False, name=f"{name}_1_conv")(x)
    y = _batch_norm(f"{name}_1_bn")(y)
    y = keras.layers.ReLU(name=f"{name}_1_relu")(y)
    if stride == 1:
        y = keras.layers.Conv2D(
            width, 3, padding="same", use_bias=False, name=f"{name}_2_conv"
        )(y)
    else:
        y = keras.layers.ZeroPadding2D(1, name=f"{name}_2_pad")(y)
        y = keras.layers.Conv2D(
            width, 3, strides=stride, padding="valid", use_bias=False, name=f"{name}_2_conv"
        )(y)
    y = _batch_norm(f"{name}_2_bn")(y)
    y = keras.layers.ReLU(name=f"{name}_2_relu")(y)
    y = keras.layers.Conv2D(out_channels, 1, use_bias=False, name=f"{name}_3_conv")(y)
    y = _batch_norm(f"{name}_3_bn")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet_torchvision_features(inputs, stages=RESNET101_LAYER3_STAGES):
    """Stem + torchvision bottleneck stages on a Keras tensor.

    Args:
        inputs: `(batch, H, W, 3)` torch-normalised images.
        stages: `(width, blocks, stride)` per stage; stage `s` (from 0) gets the
            Keras names `conv{s + 2}_block{b}_…`. The default is ResNet-101's
            layer1..layer3.

    Returns:
        The last block's output, `(batch, ceil(H/16), ceil(W/16), 1024)` for
        the default stages.
    """
    # === Stem: conv1 7×7/2 pad 3, BN, ReLU, max pool 3×3/2 pad 1 ===
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = keras.layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _batch_norm("conv1_bn")(x)
    x = keras.layers.ReLU(name="conv1_relu")(x)
    # Zero padding = PyTorch's -inf padding here: x ≥ 0 after the ReLU.
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    # === Stages (torchvision layer1, layer2, layer3) ===
    in_channels = 64
    for stage, (width, blocks, stride) in enumerate(stages, start=2):
        for block in range(1, blocks + 1):
            first = block == 1
            x = bottleneck_block(
                x,
                width,
                stride=stride if first else 1,
                downsample=first and (stride != 1 or in_channels != 4 * width),
                name=f"conv{stage}_block{block}",
            )
            in_channels = BOTTLENECK_EXPANSION * width
    return x


def build_resnet101_torchvision(input_shape=(240, 240, 3), name="resnet101_torchvision"):
    """ResNet-101 up to layer3 (`conv4_block23_out`) in torchvision's layout.

    Args:
        input_shape: `(H, W, 3)`.
        name: the model's name.

    Returns:
        `keras.Model` from `(batch, H, W, 3)` torch-normalised images to
        `(batch, ceil(H/16), ceil(W/16), 1024)`; random weights.

    Example:
        >>> model = build_resnet101_torchvision((240, 240, 3))
        >>> model.output.shape
        (None, 15, 15, 1024)
    """
    inputs = keras.Input(input_shape, name="image")
    return keras.Model(inputs, resnet_torchvision_features(inputs), name=name)
