"""Tests of the pure key/array mapping functions of the converter."""

import keras
import numpy as np
import pytest

from keras_geomatch.convert import weights_mapping as wm

from .reference_torch_model import ReferenceGeoMatchModel, reference_state_dict


def _numpy_state(backbone, output_dim=6, **kwargs):
    model = ReferenceGeoMatchModel(backbone, output_dim)
    return {k: v.numpy() for k, v in reference_state_dict(model, **kwargs).items()}


@pytest.fixture(scope="module")
def vgg_state():
    return _numpy_state("vgg16", 6)


@pytest.fixture(scope="module")
def resnet_state():
    return _numpy_state("resnet101", 18, key_prefix="vgg")


def test_conv_kernel_from_torch_moves_each_entry():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((5, 4, 3, 2)).astype(np.float32)  # out, in, kh, kw
    kernel = wm.conv_kernel_from_torch(weight)
    assert kernel.shape == (3, 2, 4, 5)
    for o, i, y, x in [(0, 0, 0, 0), (4, 3, 2, 1), (2, 1, 0, 1)]:
        assert kernel[y, x, i, o] == weight[o, i, y, x]


def test_conv_kernel_same_result_as_correlation():
    # A 3×3 valid conv at one output position = sum of kernel × patch; PyTorch
    # convs are cross-correlations, so no kernel flip may happen.
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    patch_hwc = rng.standard_normal((3, 3, 3)).astype(np.float32)
    torch_out = np.einsum("oiyx,yxi->o", weight, patch_hwc)
    keras_layer = keras.layers.Conv2D(2, 3, use_bias=False)
    keras_layer.build((None, 3, 3, 3))
    keras_layer.kernel.assign(wm.conv_kernel_from_torch(weight))
    keras_out = np.asarray(keras_layer(patch_hwc[None]))[0, 0, 0]
    np.testing.assert_allclose(keras_out, torch_out, rtol=1e-5, atol=1e-5)


def test_dense_kernel_from_torch_chw_matches_flatten_orders():
    rng = np.random.default_rng(2)
    height, width, channels, outputs = 3, 4, 5, 6
    weight = rng.standard_normal((outputs, channels * height * width)).astype(np.float32)
    features_hwc = rng.standard_normal((height, width, channels)).astype(np.float32)
    torch_out = weight @ features_hwc.transpose(2, 0, 1).reshape(-1)  # C,H,W flatten
    kernel = wm.dense_kernel_from_torch_chw(weight, height, width, channels)
    assert kernel.shape == (height * width * channels, outputs)
    keras_out = features_hwc.reshape(-1) @ kernel  # H,W,C flatten
    np.testing.assert_allclose(keras_out, torch_out, rtol=1e-5, atol=1e-5)


def test_dense_kernel_wrong_size_raises():
    with pytest.raises(ValueError, match="64·5·5=1600"):
        wm.dense_kernel_from_torch_chw(np.zeros((6, 1000)), 5, 5, 64)


def test_conv_kernel_wrong_rank_raises():
    with pytest.raises(ValueError, match="rank 4"):
        wm.conv_kernel_from_torch(np.zeros((3, 3)))


@pytest.mark.parametrize(
    "output_dim, name", [(6, "affine"), (8, "hom"), (9, "hom_matrix"), (18, "tps")]
)
def test_infer_geometric_model(output_dim, name):
    state = {"FeatureRegression.linear.bias": np.zeros(output_dim)}
    assert wm.infer_geometric_model(state) == name


def test_infer_geometric_model_rejects_other_sizes():
    with pytest.raises(ValueError, match="Received: size 7"):
        wm.infer_geometric_model({"FeatureRegression.linear.bias": np.zeros(7)})
    with pytest.raises(ValueError, match="FeatureRegression.linear.bias"):
        wm.infer_geometric_model({"something.else": np.zeros(6)})


def test_infer_backbone(vgg_state, resnet_state):
    assert wm.infer_backbone(vgg_state) == "vgg16"
    assert wm.infer_backbone(resnet_state) == "resnet101_torch"
    assert wm.infer_layout(vgg_state) == "vgg16"
    assert wm.infer_layout(resnet_state) == "resnet101"
    with pytest.raises(ValueError, match="FeatureExtraction"):
        wm.infer_backbone({"FeatureRegression.linear.bias": np.zeros(6)})


def test_normalize_keys_renames_legacy_prefix_only():
    state = {
        "FeatureExtraction.vgg.0.weight": 1,
        "FeatureRegression.linear.bias": 2,
    }
    assert wm.normalize_keys(state) == {
        "FeatureExtraction.model.0.weight": 1,
        "FeatureRegression.linear.bias": 2,
    }
    with pytest.raises(ValueError, match="both"):
        wm.normalize_keys({
            "FeatureExtraction.vgg.0.weight": 1,
            "FeatureExtraction.model.0.weight": 1,
        })


@pytest.mark.parametrize("backbone", ["vgg16", "resnet101_torch", "resnet101"])
def test_mappings_cover_exactly_the_reference_keys(backbone):
    reference_backbone = wm.CHECKPOINT_LAYOUT[backbone]
    state = wm.normalize_keys(_numpy_state(reference_backbone, key_prefix="vgg"))
    mappings = wm.model_mappings(backbone)
    wm.check_keys(state, mappings)  # no error
    used = [key for mapping in mappings for key in mapping.torch_keys()]
    assert len(used) == len(set(used))
    assert set(used) == {k for k in state if not k.endswith("num_batches_tracked")}


def test_check_keys_lists_missing_and_unexpected(vgg_state):
    state = dict(vgg_state)
    del state["FeatureRegression.conv.1.running_var"]
    state["FeatureExtraction.model.99.weight"] = np.zeros(1)
    with pytest.raises(ValueError) as info:
        wm.check_keys(state, wm.model_mappings("vgg16"))
    message = str(info.value)
    assert "Missing keys (1): ['FeatureRegression.conv.1.running_var']" in message
    assert "Unexpected keys (1): ['FeatureExtraction.model.99.weight']" in message


def test_check_keys_vgg_file_against_resnet_layout(vgg_state):
    with pytest.raises(ValueError, match=r"Missing keys \(\d+\).*and \d+ more"):
        wm.check_keys(vgg_state, wm.model_mappings("resnet101"))


def test_unknown_backbone_raises():
    with pytest.raises(ValueError, match="resnet101_torch"):
        wm.backbone_mappings("alexnet")


def test_checkpoint_backbones_are_registered_keras_backbones():
    from keras_geomatch.models import BACKBONES

    assert set(wm.BACKBONES) <= set(BACKBONES)
    assert set(wm.DEFAULT_BACKBONE.values()) <= set(wm.BACKBONES)


@pytest.mark.parametrize("backbone", ["vgg16", "resnet101_torch", "resnet101"])
def test_keras_layer_names_exist_with_matching_shapes(backbone):
    from keras_geomatch.models import build_backbone

    keras_model = build_backbone(backbone, (64, 64), weights=None)
    state = wm.normalize_keys(_numpy_state(wm.CHECKPOINT_LAYOUT[backbone]))
    mapped = set()
    for mapping in wm.backbone_mappings(backbone):
        layer = keras_model.get_layer(mapping.keras_path[-1])
        values = wm.convert_layer(mapping, state)
        for attribute, value in values.items():
            variable = getattr(layer, attribute, None)
            if value is not None:
                assert tuple(variable.shape) == value.shape, mapping
                mapped.add(id(variable))
            elif backbone == "resnet101_torch":  # torchvision layout: no bias to zero
                assert variable is None, mapping
    # Every backbone weight receives a checkpoint tensor (resnet101's biases excepted).
    unmapped = [v.path for v in keras_model.weights if id(v) not in mapped]
    assert all(path.endswith("bias") for path in unmapped), unmapped[:5]
    if backbone != "resnet101":
        assert not unmapped
