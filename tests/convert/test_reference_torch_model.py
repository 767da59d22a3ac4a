"""Self-tests of the PyTorch reference re-creation used by the converter tests."""

import numpy as np
import pytest
import torch

from .reference_torch_model import (
    VGG16_CONV_INDICES,
    FeatureCorrelation,
    FeatureL2Norm,
    ReferenceGeoMatchModel,
    build_reference_model,
    normalize_images,
    randomize_batchnorm,
    reference_state_dict,
    save_reference_checkpoint,
    smooth_images,
)

REGRESSION_KEYS = [
    "FeatureRegression.conv.0.weight",
    "FeatureRegression.conv.0.bias",
    "FeatureRegression.conv.1.weight",
    "FeatureRegression.conv.1.bias",
    "FeatureRegression.conv.1.running_mean",
    "FeatureRegression.conv.1.running_var",
    "FeatureRegression.conv.1.num_batches_tracked",
    "FeatureRegression.conv.3.weight",
    "FeatureRegression.conv.3.bias",
    "FeatureRegression.conv.4.weight",
    "FeatureRegression.conv.4.bias",
    "FeatureRegression.conv.4.running_mean",
    "FeatureRegression.conv.4.running_var",
    "FeatureRegression.conv.4.num_batches_tracked",
    "FeatureRegression.linear.weight",
    "FeatureRegression.linear.bias",
]


@pytest.fixture(scope="module")
def vgg_affine():
    return build_reference_model("vgg16", output_dim=6, seed=0)


def _numpy_correlation(feature_a, feature_b):
    """Triple loop straight from SPEC §1.3 on NCHW arrays."""
    b, c, h, w = feature_a.shape
    out = np.zeros((b, h * w, h, w), dtype=np.float64)
    for row_b in range(h):
        for col_b in range(w):
            for row_a in range(h):
                for col_a in range(w):
                    k = row_a + h * col_a
                    out[:, k, row_b, col_b] = np.sum(
                        feature_a[:, :, row_a, col_a] * feature_b[:, :, row_b, col_b],
                        axis=1,
                    )
    return out


@pytest.mark.parametrize("hw", [(4, 4), (3, 5)])
def test_correlation_channel_order_matches_spec_loop(hw):
    rng = np.random.default_rng(0)
    feature_a = rng.standard_normal((2, 7, *hw)).astype(np.float32)
    feature_b = rng.standard_normal((2, 7, *hw)).astype(np.float32)
    got = FeatureCorrelation()(torch.from_numpy(feature_a), torch.from_numpy(feature_b))
    expected = _numpy_correlation(feature_a, feature_b)
    assert tuple(got.shape) == (2, hw[0] * hw[1], *hw)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_correlation_channel_is_column_major_over_a():
    # A one-hot A descriptor at (rowA=1, colA=2) must light channel 1 + 3 * 2 = 7.
    h, w = 3, 4
    feature_a = torch.zeros(1, 1, h, w)
    feature_a[0, 0, 1, 2] = 1.0
    feature_b = torch.ones(1, 1, h, w)
    got = FeatureCorrelation()(feature_a, feature_b)
    nonzero_channels = torch.nonzero(got[0].sum(dim=(1, 2))).flatten().tolist()
    assert nonzero_channels == [7]


def test_l2norm_unit_length_with_epsilon():
    features = torch.tensor([[[[3.0]], [[4.0]]]])
    got = FeatureL2Norm()(features)
    np.testing.assert_allclose(
        got.flatten().numpy(), np.array([3.0, 4.0]) / np.sqrt(25.0 + 1e-6), rtol=1e-6
    )


class _RowMajorCorrelation(torch.nn.Module):
    """A wrong channel order (row-major over A), to measure the tests' sensitivity."""

    def forward(self, feature_a, feature_b):
        b, c, h, w = feature_a.shape
        return torch.einsum("bck,bcij->bkij", feature_a.reshape(b, c, h * w), feature_b)


def test_vgg_forward_shape_and_sensitivity(vgg_affine):
    images = smooth_images(seed=1, count=2)
    source, target = normalize_images(images[:1]), normalize_images(images[1:])
    source, target = torch.cat([source, target]), torch.cat([target, source])
    with torch.no_grad():
        theta = vgg_affine(source, target)
        assert tuple(theta.shape) == (2, 6)
        assert torch.all(torch.isfinite(theta))
        # θ must react to the inputs and to the correlation's channel order far
        # beyond the converter tests' 1e-4, or those tests would prove little.
        assert torch.max(torch.abs(theta[0] - theta[1])) > 1e-2
        vgg_affine.FeatureCorrelation = _RowMajorCorrelation()
        try:
            theta_row_major = vgg_affine(source, target)
        finally:
            vgg_affine.FeatureCorrelation = FeatureCorrelation()
        assert torch.max(torch.abs(theta - theta_row_major)) > 1e-2
        # The BatchNorm statistics are randomised so that ignoring them shows.
        plain = ReferenceGeoMatchModel("vgg16", output_dim=6).eval()
        plain.load_state_dict(vgg_affine.state_dict())
        for module in plain.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_parameters()
        theta_default_bn = plain(source, target)
    assert torch.max(torch.abs(theta - theta_default_bn)) > 1e-2


def test_randomize_batchnorm_is_seeded():
    a = randomize_batchnorm(ReferenceGeoMatchModel("vgg16", 8), seed=3)
    b = randomize_batchnorm(ReferenceGeoMatchModel("vgg16", 8), seed=3)
    for key in ("FeatureRegression.conv.1.running_mean", "FeatureRegression.conv.4.weight"):
        torch.testing.assert_close(a.state_dict()[key], b.state_dict()[key])


@pytest.mark.parametrize("key_prefix", ["model", "vgg"])
def test_vgg_state_dict_keys_follow_spec(key_prefix):
    model = ReferenceGeoMatchModel("vgg16", output_dim=18)
    state = reference_state_dict(model, key_prefix=key_prefix)
    expected = set(REGRESSION_KEYS)
    for index in VGG16_CONV_INDICES:
        expected.add(f"FeatureExtraction.{key_prefix}.{index}.weight")
        expected.add(f"FeatureExtraction.{key_prefix}.{index}.bias")
    assert set(state) == expected
    assert tuple(state["FeatureExtraction." + key_prefix + ".21.weight"].shape) == (
        512, 512, 3, 3,
    )
    assert tuple(state["FeatureRegression.conv.0.weight"].shape) == (128, 225, 7, 7)
    assert tuple(state["FeatureRegression.linear.weight"].shape) == (18, 1600)


@pytest.mark.parametrize("key_prefix", ["model", "vgg"])
def test_resnet_state_dict_keys_follow_spec(key_prefix):
    model = ReferenceGeoMatchModel("resnet101", output_dim=6)
    state = reference_state_dict(model, key_prefix=key_prefix, num_batches_tracked=False)
    p = f"FeatureExtraction.{key_prefix}."
    for key in [
        "0.weight",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "4.0.conv1.weight",
        "4.0.bn1.running_mean",
        "4.0.downsample.0.weight",
        "4.0.downsample.1.running_var",
        "4.2.conv3.weight",
        "5.3.bn3.bias",
        "6.0.conv2.weight",
        "6.22.bn3.running_var",
    ]:
        assert p + key in state, key
    assert not any(k.endswith("num_batches_tracked") for k in state)
    assert p + "6.23.conv1.weight" not in state
    assert p + "6.1.downsample.0.weight" not in state
    # v1.5: the stride-2 block of layer2 keeps a 1×1 conv1 and strides in conv2.
    assert model.FeatureExtraction.model[5][0].conv2.stride == (2, 2)
    assert model.FeatureExtraction.model[5][0].conv1.stride == (1, 1)
    assert tuple(state[p + "6.22.conv3.weight"].shape) == (1024, 256, 1, 1)
    assert set(REGRESSION_KEYS) - set(state) == {
        "FeatureRegression.conv.1.num_batches_tracked",
        "FeatureRegression.conv.4.num_batches_tracked",
    }


def test_resnet_features_are_15x15x1024():
    extractor = ReferenceGeoMatchModel("resnet101", output_dim=6).FeatureExtraction.eval()
    with torch.no_grad():
        features = extractor(torch.zeros(1, 3, 240, 240))
    assert tuple(features.shape) == (1, 1024, 15, 15)


def test_save_reference_checkpoint_round_trip(tmp_path, vgg_affine):
    path = save_reference_checkpoint(vgg_affine, tmp_path / "m.pth.tar", key_prefix="vgg")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint["state_dict"]
    assert "FeatureExtraction.vgg.0.weight" in state
    assert not any(k.startswith("FeatureExtraction.model.") for k in state)
    torch.testing.assert_close(
        state["FeatureRegression.linear.weight"],
        vgg_affine.state_dict()["FeatureRegression.linear.weight"],
    )


def test_unknown_prefix_and_backbone_raise():
    with pytest.raises(ValueError, match="key_prefix"):
        reference_state_dict(ReferenceGeoMatchModel("vgg16", 6), key_prefix="features")
    with pytest.raises(ValueError, match="backbone"):
        ReferenceGeoMatchModel("alexnet", 6)
