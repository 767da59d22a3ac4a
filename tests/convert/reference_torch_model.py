"""PyTorch re-creation of the reference CNNGeometric model, for tests only.

Written from SPEC.md §1 (architecture) and §5 (checkpoint layout) so that its
``state_dict`` has exactly the key names of the authors' ``.pth.tar`` files.
It exists to produce checkpoints with known random weights and the matching
PyTorch outputs, against which ``keras_geomatch.convert`` is checked. It is
not part of the library and is never used for real matching.

Layout (SPEC §5):

- ``FeatureExtraction.model``: for ``vgg16`` torchvision's VGG-16 ``features``
  indices 0..23 (up to and including pool4), convs at 0, 2, 5, 7, 10, 12, 14,
  17, 19, 21; for ``resnet101`` ``[conv1, bn1, relu, maxpool, layer1, layer2,
  layer3]`` with torchvision's Bottleneck (v1.5: stride in the 3×3 conv2).
- ``FeatureRegression.conv``: 0 Conv 7×7, 1 BatchNorm, 2 ReLU, 3 Conv 5×5,
  4 BatchNorm, 5 ReLU; ``FeatureRegression.linear``: Linear(64·5·5, P) on a
  C,H,W flatten.

Inputs are NCHW float tensors already normalised the torch way
(RGB/255, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]); see
``normalize_images``.
"""

import numpy as np
import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision VGG-16 "D" configuration up to pool4; "M" is a 2×2 max pool.
_VGG16_POOL4_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M")
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)

# (planes, blocks, stride) of layer1..layer3 of ResNet-101.
_RESNET101_LAYERS = ((64, 3, 1), (128, 4, 2), (256, 23, 2))

BACKBONE_CHANNELS = {"vgg16": 512, "resnet101": 1024}


def _vgg16_pool4():
    layers = []
    in_channels = 3
    for item in _VGG16_POOL4_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, item, kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=False))
            in_channels = item
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """torchvision-style ResNet bottleneck (v1.5: the stride sits in conv2)."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, downsample=None):
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, kernel_size=3, stride=stride, padding=1, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _resnet_layer(in_channels, planes, blocks, stride):
    out_channels = planes * Bottleneck.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    layers = [Bottleneck(in_channels, planes, stride, downsample)]
    layers += [Bottleneck(out_channels, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers), out_channels


def _resnet101_layer3():
    modules = [
        nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    ]
    in_channels = 64
    for planes, blocks, stride in _RESNET101_LAYERS:
        layer, in_channels = _resnet_layer(in_channels, planes, blocks, stride)
        modules.append(layer)
    return nn.Sequential(*modules)


class FeatureExtraction(nn.Module):
    def __init__(self, backbone="vgg16"):
        super().__init__()
        if backbone == "vgg16":
            self.model = _vgg16_pool4()
        elif backbone == "resnet101":
            self.model = _resnet101_layer3()
        else:
            raise ValueError(
                "backbone must be one of ['vgg16', 'resnet101']. "
                f"Received: backbone={backbone!r}"
            )

    def forward(self, image):
        return self.model(image)


class FeatureL2Norm(nn.Module):
    """``f / sqrt(sum_c f² + 1e-6)`` over the channel axis (dim 1)."""

    def forward(self, features):
        norm = torch.sqrt(torch.sum(features * features, dim=1, keepdim=True) + 1e-6)
        return features / norm


class FeatureCorrelation(nn.Module):
    """SPEC §1.3: out[b, k, iB, jB] = <fA[b, :, rowA, colA], fB[b, :, iB, jB]>.

    The channel index is ``k = rowA + h * colA`` (A's positions in column-major
    order), the spatial position is B's.
    """

    def forward(self, feature_a, feature_b):
        b, c, h, w = feature_a.shape
        # (b, c, w, h) flattened puts colA slowest: index colA * h + rowA.
        a_column_major = feature_a.transpose(2, 3).reshape(b, c, w * h)
        correlation = torch.einsum("bck,bcij->bkij", a_column_major, feature_b)
        return correlation


class FeatureRegression(nn.Module):
    def __init__(self, output_dim, feature_hw=(15, 15)):
        super().__init__()
        in_channels = feature_hw[0] * feature_hw[1]
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 128, kernel_size=7, padding=0),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 64, kernel_size=5, padding=0),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=False),
        )
        out_h, out_w = feature_hw[0] - 10, feature_hw[1] - 10
        self.linear = nn.Linear(64 * out_h * out_w, output_dim)

    def forward(self, correlation):
        x = self.conv(correlation)
        # PyTorch flattens in C,H,W order; the converter must reorder this.
        x = x.reshape(x.shape[0], -1)
        return self.linear(x)


class ReferenceGeoMatchModel(nn.Module):
    """The reference CNNGeometric forward: features → L2 → corr → ReLU → L2 → regression.

    Args:
        backbone: ``"vgg16"`` or ``"resnet101"``.
        output_dim: P, the size of θ (6, 8, 9 or 18).
        feature_hw: backbone output size; (15, 15) for 240×240 images.

    Call ``model(source, target)`` with normalised NCHW tensors; returns θ (B, P).
    """

    def __init__(self, backbone="vgg16", output_dim=6, feature_hw=(15, 15)):
        super().__init__()
        self.backbone = backbone
        self.FeatureExtraction = FeatureExtraction(backbone)
        self.FeatureL2Norm = FeatureL2Norm()
        self.FeatureCorrelation = FeatureCorrelation()
        self.FeatureRegression = FeatureRegression(output_dim, feature_hw)
        self.ReLU = nn.ReLU(inplace=False)

    def forward(self, source, target):
        feature_a = self.FeatureL2Norm(self.FeatureExtraction(source))
        feature_b = self.FeatureL2Norm(self.FeatureExtraction(target))
        correlation = self.FeatureCorrelation(feature_a, feature_b)
        correlation = self.FeatureL2Norm(self.ReLU(correlation))
        return self.FeatureRegression(correlation)


def randomize_weights(model, seed=0):
    """He-normal conv/linear weights and small random biases, seeded.

    PyTorch's default init shrinks activations layer after layer; He-normal
    keeps the backbone's features at a sensible scale for numeric comparisons.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                std = float(np.sqrt(2.0 / fan_in))
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=generator) * std
                )
                if module.bias is not None:
                    module.bias.copy_(
                        0.1 * torch.randn(module.bias.shape, generator=generator)
                    )
    return model


def randomize_batchnorm(model, seed=0):
    """Random BatchNorm gamma/beta/running stats, so a converter must copy all four.

    A converter that left any of them at Keras's defaults (1, 0, 0, 1) would
    give a visibly different θ.
    """
    generator = torch.Generator().manual_seed(seed + 1)

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=generator)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(uniform(n, 0.5, 1.5))
                module.bias.copy_(uniform(n, -0.2, 0.2))
                module.running_mean.copy_(uniform(n, -0.1, 0.1))
                module.running_var.copy_(uniform(n, 0.5, 2.0))
                module.num_batches_tracked.fill_(1000)
    return model


def emphasize_matches(model, gain=30.0):
    """Makes θ depend strongly on *which* positions match, not just on their average.

    Random ReLU backbones give descriptors that all point alike (correlations
    of 0.7–0.99 everywhere), so with plain random weights θ hardly depends on
    the correlation's channel order or on swapping source and target (changes
    of ~3e-3), too little to trust a 1e-4 comparison. Centring the 7×7
    conv's weights over its input channels cancels the uniform part of the
    correlation; the gain scales up what is left (changes of ~0.1 at 30).
    """
    with torch.no_grad():
        weight = model.FeatureRegression.conv[0].weight
        weight.sub_(weight.mean(dim=1, keepdim=True)).mul_(gain)
    return model


def build_reference_model(backbone="vgg16", output_dim=6, seed=0, match_gain=30.0):
    """A randomly initialised reference model in eval mode (BN uses running stats).

    Weights from ``randomize_weights``, BatchNorm from ``randomize_batchnorm``,
    then ``emphasize_matches(match_gain)`` unless ``match_gain`` is None.
    """
    torch.manual_seed(seed)
    model = ReferenceGeoMatchModel(backbone=backbone, output_dim=output_dim)
    randomize_weights(model, seed)
    randomize_batchnorm(model, seed)
    if match_gain is not None:
        emphasize_matches(model, match_gain)
    return model.eval()


def smooth_images(seed, count, size=240, cells=16):
    """uint8-valued float32 RGB images (count, size, size, 3) of smooth random colour.

    Bicubic upsampling of a ``cells``×``cells`` random grid: structure at the
    backbone's scale, unlike white noise.
    """
    rng = np.random.default_rng(seed)
    small = torch.from_numpy(rng.uniform(0, 255, (count, 3, cells, cells)).astype(np.float32))
    images = nn.functional.interpolate(small, size=(size, size), mode="bicubic",
                                       align_corners=False)
    return images.clamp(0, 255).round().permute(0, 2, 3, 1).numpy()


def reference_state_dict(model, key_prefix="model", num_batches_tracked=True):
    """The model's state_dict with the key spelling of a given checkpoint generation.

    Args:
        model: a ``ReferenceGeoMatchModel``.
        key_prefix: ``"model"`` (newer files) or ``"vgg"`` (older files): the name
            after ``FeatureExtraction.``.
        num_batches_tracked: keep the BatchNorm ``num_batches_tracked`` entries
            (PyTorch ≥ 0.4 writes them; older files do not have them).
    """
    if key_prefix not in ("model", "vgg"):
        raise ValueError(
            f"key_prefix must be 'model' or 'vgg'. Received: key_prefix={key_prefix!r}"
        )
    state = {}
    for key, value in model.state_dict().items():
        if not num_batches_tracked and key.endswith("num_batches_tracked"):
            continue
        if key.startswith("FeatureExtraction.model."):
            key = f"FeatureExtraction.{key_prefix}." + key[len("FeatureExtraction.model."):]
        state[key] = value.detach().clone()
    return state


def save_reference_checkpoint(
    model, path, key_prefix="model", num_batches_tracked=True, args=None
):
    """Writes ``torch.save({"state_dict": ...}, path)`` like the reference's trainer.

    Args:
        model, key_prefix, num_batches_tracked: see ``reference_state_dict``.
        path: where to write the ``.pth.tar`` file.
        args: optional picklable object stored under ``"args"``, as the reference
            stores its ``argparse.Namespace`` (which ``weights_only=True`` loading
            refuses, the case a converter must fall back for).
    """
    state = reference_state_dict(model, key_prefix, num_batches_tracked)
    checkpoint = {"state_dict": state, "epoch": 1}
    if args is not None:
        checkpoint["args"] = args
    torch.save(checkpoint, path)
    return path


def normalize_images(images_nhwc):
    """uint8-valued RGB (B, H, W, 3) array → normalised NCHW float32 torch tensor."""
    images = torch.as_tensor(np.asarray(images_nhwc, dtype=np.float32))
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)
    images = (images / 255.0 - mean) / std
    return images.permute(0, 3, 1, 2).contiguous()
