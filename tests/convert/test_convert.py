"""End-to-end tests of the converter and trainers/convert_checkpoint.py against the PyTorch reference."""

import argparse
import warnings

import keras
import numpy as np
import pytest
import torch

import keras_geomatch  # noqa: F401  (registers the layers for load_model)
from keras_geomatch.convert import converter
from keras_geomatch.convert import torch_checkpoint
from keras_geomatch.convert import weights_mapping
from keras_geomatch.models import build_geomatch_model
from keras_geomatch.models import GeomatchModel
from tests.trainers.cli import run_program
from tests.trainers.cli import run_program_process
from trainers import convert_checkpoint

from .reference_torch_model import (
    build_reference_model,
    normalize_images,
    reference_state_dict,
    save_reference_checkpoint,
    smooth_images,
)

TOLERANCE = 1e-4


def main(argv):
    """trainers/convert_checkpoint.py on the command line `argv`; returns the exit status."""
    return run_program(convert_checkpoint, argv)


class _Opaque:
    """Stands for any pickled object that the safe loader must refuse."""


@pytest.fixture(scope="module")
def image_pair():
    """(source, target) batches of 2: a shifted copy, and an unrelated image."""
    source = smooth_images(seed=0, count=2)
    target = np.roll(source, (20, -12), axis=(1, 2))
    target[1] = smooth_images(seed=1, count=1)[0]
    return source, target


def _torch_theta(reference, source, target):
    with torch.no_grad():
        return reference(normalize_images(source), normalize_images(target)).numpy()


def _keras_theta(model, source, target):
    return np.asarray(model({"source_image": source, "target_image": target}))


@pytest.fixture(scope="module")
def vgg_affine_reference():
    return build_reference_model("vgg16", output_dim=6, seed=0)


@pytest.mark.parametrize(
    "output_dim, geometric_model, checkpoint_options",
    [
        (6, "affine", dict(key_prefix="model")),
        # The older layout: 'vgg' prefix, no num_batches_tracked, and the
        # trainer's argparse options stored beside the weights.
        (8, "hom", dict(key_prefix="vgg", num_batches_tracked=False,
                        args=argparse.Namespace(lr=1e-3, geometric_model="hom"))),
        (18, "tps", dict(key_prefix="vgg")),
    ],
)
def test_cli_converts_vgg_checkpoint_to_same_theta(
    tmp_path, image_pair, output_dim, geometric_model, checkpoint_options
):
    reference = build_reference_model("vgg16", output_dim, seed=output_dim)
    checkpoint = save_reference_checkpoint(
        reference, tmp_path / "best.pth.tar", **checkpoint_options
    )
    output = tmp_path / "converted.keras"

    assert main([str(checkpoint), str(output)]) == 0

    model = keras.models.load_model(output)
    assert isinstance(model, GeomatchModel)
    assert model.geometric_model == geometric_model
    assert (model.backbone, model.image_size, model.preprocessing) == ("vgg16", (240, 240), "torch")
    source, target = image_pair
    expected = _torch_theta(reference, source, target)
    got = _keras_theta(model, source, target)
    assert got.shape == (2, output_dim)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_in_memory_and_saved_models_agree(tmp_path, image_pair, vgg_affine_reference):
    checkpoint = save_reference_checkpoint(vgg_affine_reference, tmp_path / "a.pth.tar")
    output = tmp_path / "a.keras"
    model = converter.convert_checkpoint(checkpoint, output, backbone="vgg16")
    loaded = keras.models.load_model(output)
    source, target = image_pair
    np.testing.assert_allclose(
        _keras_theta(loaded, source, target), _keras_theta(model, source, target),
        rtol=0, atol=1e-6,
    )
    assert loaded.get_layer("preprocess").mode == "torch"


def _sabotaged_plain_transpose(weight, height, width, channels):
    del height, width, channels
    return np.ascontiguousarray(np.asarray(weight).T)


def _sabotaged_batch_norm(mapping, state_dict, flatten_hwc=None):
    values = _original_convert_layer(mapping, state_dict, flatten_hwc)
    if mapping.kind == "batch_norm":  # as if the converter kept Keras's defaults
        values = {k: (np.ones_like(v) if k in ("gamma", "moving_variance") else
                      np.zeros_like(v)) for k, v in values.items()}
    return values


_original_convert_layer = weights_mapping.convert_layer


@pytest.mark.parametrize(
    "target, replacement",
    [
        ("dense_kernel_from_torch_chw", _sabotaged_plain_transpose),
        ("convert_layer", _sabotaged_batch_norm),
    ],
)
def test_comparison_catches_mapping_mistakes(
    monkeypatch, image_pair, vgg_affine_reference, target, replacement
):
    """The 1e-4 comparison would fail for a converter with a classic mistake."""
    monkeypatch.setattr(weights_mapping, target, replacement)
    state = {k: v.numpy() for k, v in reference_state_dict(vgg_affine_reference).items()}
    model = build_geomatch_model("affine", "vgg16", weights=None, preprocessing="torch")
    converter.load_reference_weights(model, state)
    source, target_images = image_pair
    error = np.max(np.abs(
        _keras_theta(model, source, target_images)
        - _torch_theta(vgg_affine_reference, source, target_images)
    ))
    assert error > 100 * TOLERANCE


@pytest.fixture(scope="module")
def resnet_tps(tmp_path_factory, image_pair):
    """A ResNet-101 TPS reference, its checkpoint (older 'vgg' keys) and its θ."""
    reference = build_reference_model("resnet101", output_dim=18, seed=3)
    checkpoint = save_reference_checkpoint(
        reference, tmp_path_factory.mktemp("resnet") / "r.pth.tar", key_prefix="vgg"
    )
    return reference, checkpoint, _torch_theta(reference, *image_pair)


def test_cli_converts_resnet101_checkpoint_to_same_theta(tmp_path, image_pair, resnet_tps):
    """ResNet-101 files get `resnet101_torch` (torchvision's layout): exact."""
    _, checkpoint, expected = resnet_tps
    output = tmp_path / "resnet.keras"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([str(checkpoint), str(output)]) == 0
    assert not [w for w in caught if "approximates" in str(w.message)]

    model = keras.models.load_model(output)
    assert model.name == "geomatch_tps_resnet101_torch"
    assert model.get_layer("preprocess").mode == "torch"
    got = _keras_theta(model, *image_pair)
    assert got.shape == (2, 18)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


def test_keras_applications_resnet101_is_an_approximation_with_every_key_used(
    monkeypatch, image_pair, resnet_tps
):
    """backbone='resnet101' loads every tensor but is another network (v1 strides)."""
    reference, checkpoint, expected = resnet_tps
    expected_keys = {
        k for k in torch.load(checkpoint, weights_only=True)["state_dict"]
        if not k.endswith("num_batches_tracked")
    }

    read = set()
    normalize_keys = weights_mapping.normalize_keys

    class RecordingDict(dict):
        def __getitem__(self, key):
            read.add(key)
            return super().__getitem__(key)

    monkeypatch.setattr(
        weights_mapping, "normalize_keys", lambda s: RecordingDict(normalize_keys(s))
    )
    with pytest.warns(UserWarning, match="only approximates"):
        model = converter.convert_checkpoint(checkpoint, backbone="resnet101")

    assert model.name == "geomatch_tps_resnet101"
    assert {k.replace(".model.", ".vgg.", 1) for k in read} >= expected_keys
    regression = model.get_layer("feature_regression")
    np.testing.assert_array_equal(
        np.asarray(regression.bn1.moving_variance),
        reference.FeatureRegression.conv[1].running_var.numpy(),
    )
    block = model.get_layer("feature_extraction").get_layer("conv4_block23_3_bn")
    np.testing.assert_array_equal(
        np.asarray(block.moving_mean),
        reference.FeatureExtraction.model[6][22].bn3.running_mean.numpy(),
    )
    conv = model.get_layer("feature_extraction").get_layer("conv3_block1_0_conv")
    np.testing.assert_array_equal(np.asarray(conv.bias), 0.0)
    theta = _keras_theta(model, *image_pair)
    assert theta.shape == (2, 18)
    assert np.all(np.isfinite(theta))
    # The reason resnet101_torch exists: the v1 network misses the reference's θ.
    assert np.max(np.abs(theta - expected)) > 10 * TOLERANCE


def test_missing_and_unexpected_keys_are_listed(tmp_path, vgg_affine_reference):
    state = reference_state_dict(vgg_affine_reference)
    del state["FeatureRegression.conv.4.running_mean"]
    state["FeatureRegression.extra.weight"] = torch.zeros(3)
    path = tmp_path / "broken.pth.tar"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ValueError) as info:
        converter.convert_checkpoint(path)
    message = str(info.value)
    assert "Missing keys (1): ['FeatureRegression.conv.4.running_mean']" in message
    assert "Unexpected keys (1): ['FeatureRegression.extra.weight']" in message


def test_cli_reports_errors_without_traceback(tmp_path, capsys, vgg_affine_reference):
    checkpoint = save_reference_checkpoint(vgg_affine_reference, tmp_path / "a.pth.tar")
    # The reference regression sees 15·15 = 225 channels; 256×256 gives 16·16.
    assert main([str(checkpoint), str(tmp_path / "a.keras"), "--image_size=256"]) == 2
    error = capsys.readouterr().err
    assert "FeatureRegression.conv.0 → " in error and "(7, 7, 256, 128)" in error
    assert "FeatureRegression.linear: Expected a linear weight of shape (P, 64·6·6" in error
    assert main([str(tmp_path / "missing.pth.tar"), str(tmp_path / "b.keras")]) == 2
    assert "Expected a checkpoint file" in capsys.readouterr().err
    assert not (tmp_path / "a.keras").exists()


def test_explicit_backbone_must_match_keys(tmp_path, vgg_affine_reference):
    checkpoint = save_reference_checkpoint(vgg_affine_reference, tmp_path / "a.pth.tar")
    with pytest.raises(ValueError, match="vgg16 backbone. Received: backbone='resnet101'"):
        converter.convert_checkpoint(checkpoint, backbone="resnet101")
    with pytest.raises(ValueError, match="Received: backbone='resnet101_torch'"):
        converter.convert_checkpoint(checkpoint, backbone="resnet101_torch")
    with pytest.raises(ValueError, match="auto"):
        converter.convert_checkpoint(checkpoint, backbone="small")


def test_load_reference_weights_reads_the_models_backbone(vgg_affine_reference):
    state = {k: v.numpy() for k, v in reference_state_dict(vgg_affine_reference).items()}
    model = build_geomatch_model("affine", "vgg16", weights=None, preprocessing="torch")
    with pytest.raises(ValueError, match="Expected backbone='vgg16'.*Received: backbone='resnet101'"):
        converter.load_reference_weights(model, state, "resnet101")
    with pytest.raises(ValueError, match="Expected a keras_geomatch GeomatchModel"):
        converter.load_reference_weights(keras.Model(model.input, model.output), state)
    converter.load_reference_weights(model, state, "vgg16")  # the model's: fine


def test_output_must_be_a_keras_file(tmp_path, vgg_affine_reference):
    checkpoint = save_reference_checkpoint(vgg_affine_reference, tmp_path / "a.pth.tar")
    with pytest.raises(ValueError, match=r"\.keras"):
        converter.convert_checkpoint(checkpoint, tmp_path / "a.h5")


def test_unsafe_pickle_needs_explicit_permission(tmp_path, vgg_affine_reference):
    path = save_reference_checkpoint(
        vgg_affine_reference, tmp_path / "odd.pth.tar", args=_Opaque()
    )
    with pytest.raises(ValueError, match="allow_unsafe_pickle"):
        torch_checkpoint.read_state_dict(path)
    state = torch_checkpoint.read_state_dict(path, allow_unsafe_pickle=True)
    assert state["FeatureRegression.linear.weight"].shape == (6, 1600)


def test_bare_state_dict_and_bad_contents(tmp_path, vgg_affine_reference):
    path = tmp_path / "bare.pth"
    torch.save(reference_state_dict(vgg_affine_reference), path)
    state = torch_checkpoint.read_state_dict(path)
    assert state["FeatureExtraction.model.0.weight"].shape == (64, 3, 3, 3)
    torch.save({"epoch": 3, "optimizer": {}}, path)
    with pytest.raises(ValueError, match=r"'state_dict'.*\['epoch', 'optimizer'\]"):
        torch_checkpoint.read_state_dict(path)


def test_cli_help_lists_options():
    completed = run_program_process("convert_checkpoint.py", "--help")
    assert completed.returncode == 0
    for option in ("--backbone", "--image_size", "--allow_unsafe_pickle"):
        assert option in completed.stdout


def test_cli_rejects_three_image_size_values(capsys):
    assert main(["a.pth.tar", "b.keras", "--image_size=240,240,3"]) == 2
    assert "1 or 2 values" in capsys.readouterr().err
