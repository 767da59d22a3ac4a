"""The geometric matching CNN: structure, errors, one XLA fit step, .keras round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import geometry
from keras_geomatch.losses import TransformedGridLoss
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models import add_warped_image_output
from keras_geomatch.models import build_geomatch_model
from keras_geomatch.models import geometric_model_of
from tests.geometry import reference_maps
from tests.layers.round_trip import assert_saved_model_round_trip

MODELS = ("affine", "hom", "hom_matrix", "tps")
SIZES = {"affine": 6, "hom": 8, "hom_matrix": 9, "tps": 18}


def _images(size=(88, 88), batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return {
        SOURCE_IMAGE: rng.uniform(0, 255, size=(batch, *size, 3)).astype(np.float32),
        TARGET_IMAGE: rng.uniform(0, 255, size=(batch, *size, 3)).astype(np.float32),
    }


def _tiny(geometric_model, **kwargs):
    return build_geomatch_model(geometric_model, "small", weights=None, image_size=(88, 88), **kwargs)


@pytest.mark.parametrize("geometric_model", MODELS)
def test_structure_and_output(geometric_model):
    model = _tiny(geometric_model)
    assert model.name == f"geomatch_{geometric_model}_small"
    names = [layer.name for layer in model.layers]
    for name in ("preprocess", "feature_extraction", "feature_l2_norm", "feature_correlation",
                 "match_relu", "match_l2_norm", "feature_regression"):
        assert name in names
    # Siamese: one backbone, one preprocessing layer, applied once to the
    # sources and targets concatenated along the batch (no BatchNorm in the
    # small backbone), then split back.
    assert names.count("feature_extraction") == 1
    assert len(model.get_layer("feature_extraction")._inbound_nodes) == 1
    assert "pair_batch" in names and "pair_split" in names
    assert model.get_layer("feature_correlation").output.shape == (None, 11, 11, 121)
    assert model.get_layer("preprocess").mode == "unit"
    theta = model(_images())
    assert theta.shape == (2, SIZES[geometric_model])
    assert keras.backend.standardize_dtype(theta.dtype) == "float32"
    assert geometric_model_of(model) == geometric_model


def test_backbone_frozen_by_default():
    frozen = _tiny("affine")
    assert not frozen.get_layer("feature_extraction").trainable
    trainable_paths = [w.path for w in frozen.trainable_weights]
    assert trainable_paths and all("feature_regression" in p for p in trainable_paths)
    trained = _tiny("affine", train_backbone=True)
    assert len(trained.trainable_weights) == len(frozen.trainable_weights) + 12


def test_options():
    plain = _tiny("affine", normalize_matches=False, preprocessing="torch", name="m")
    names = [layer.name for layer in plain.layers]
    assert "match_relu" not in names and "match_l2_norm" not in names
    assert plain.get_layer("preprocess").mode == "torch" and plain.name == "m"
    vgg = build_geomatch_model("affine", "vgg16", weights=None, image_size=(176, 176))
    assert vgg.get_layer("preprocess").mode == "caffe"
    assert vgg.get_layer("feature_correlation").output.shape == (None, 11, 11, 121)


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="Expected one of.*Received: geometric_model='rigid'"):
        _tiny("rigid")
    with pytest.raises(ValueError, match="Received: backbone='alexnet'"):
        build_geomatch_model("affine", "alexnet", weights=None, image_size=(88, 88))
    with pytest.raises(ValueError, match="Received: mode='tf'"):
        _tiny("affine", preprocessing="tf")
    with pytest.raises(ValueError, match=r"both ≥ 88 .*stride 8. Received: image_size=\(88, 80\)"):
        build_geomatch_model("affine", "small", weights=None, image_size=(88, 80))
    with pytest.raises(ValueError, match=r"both ≥ 176 .*stride 16. Received: image_size=\(160, 160\)"):
        build_geomatch_model("affine", "vgg16", weights=None, image_size=(160, 160))
    with pytest.raises(ValueError, match="Received: image_size=88"):
        build_geomatch_model("affine", "small", weights=None, image_size=88)
    with pytest.raises(ValueError, match=r"Received: image_size=\(88, 88, 3\)"):
        build_geomatch_model("affine", "small", weights=None, image_size=(88, 88, 3))
    with pytest.raises(ValueError, match="has no ImageNet weights.*Received: weights='imagenet'"):
        build_geomatch_model("affine", "small", weights="imagenet", image_size=(88, 88))
    with pytest.raises(ValueError, match="no such file"):
        build_geomatch_model("affine", "small", weights=tmp_path / "x.h5", image_size=(88, 88))
    with pytest.raises(ValueError, match=r"Expected image of rank 4|expected shape|Expected"):
        _tiny("affine")({SOURCE_IMAGE: np.zeros((2, 88, 88), np.float32),
                         TARGET_IMAGE: np.zeros((2, 88, 88), np.float32)})


def test_grid_loss_gradient_reaches_every_trainable_weight():
    # Through correlation, normalisation and (when trained) the backbone.
    model = _tiny("tps", train_backbone=True)
    theta_gt = reference_maps.random_theta("tps", np.random.default_rng(4), 2)
    with tf.GradientTape() as tape:
        loss = TransformedGridLoss("tps")(theta_gt, model(_images(), training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    regression = {w.path for w in model.get_layer("feature_regression").trainable_weights}
    assert regression <= {w.path for w in model.trainable_weights}
    for variable, grad in zip(model.trainable_weights, grads):
        assert grad is not None, variable.path
        assert np.all(np.isfinite(grad.numpy())), variable.path
        assert np.abs(grad.numpy()).max() > 0, variable.path


@pytest.mark.parametrize("geometric_model", MODELS)
def test_one_xla_fit_step(geometric_model):
    model = _tiny(geometric_model)
    model.compile(optimizer="adam", loss=TransformedGridLoss(geometric_model), jit_compile=True)
    assert model.jit_compile is True
    backbone_before = [w.numpy().copy() for w in model.get_layer("feature_extraction").weights]
    regression_before = [w.numpy().copy() for w in model.get_layer("feature_regression").trainable_weights]
    theta_gt = reference_maps.random_theta(geometric_model, np.random.default_rng(1), 2)
    history = model.fit(_images(), theta_gt, batch_size=2, epochs=1, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss) and loss > 0
    for before, after in zip(regression_before, model.get_layer("feature_regression").trainable_weights):
        assert not np.array_equal(before, after.numpy())
    for before, after in zip(backbone_before, model.get_layer("feature_extraction").weights):
        np.testing.assert_array_equal(before, after.numpy())


@pytest.mark.parametrize("geometric_model", MODELS)
def test_small_model_keras_round_trip(tmp_path, geometric_model):
    model = _tiny(geometric_model)
    images = _images(seed=2)
    loaded = assert_saved_model_round_trip(model, images, tmp_path)
    assert geometric_model_of(loaded) == geometric_model
    # A loaded model wraps like a built one.
    warped = add_warped_image_output(loaded).predict(images, verbose=0)
    np.testing.assert_allclose(warped["theta"], model.predict(images, verbose=0), atol=1e-5)


def test_warped_image_model(tmp_path):
    base = _tiny("tps")
    model = add_warped_image_output(base)
    assert model.name == "geomatch_tps_small_warp"
    images = _images(seed=3)
    out = model.predict(images, verbose=0)
    assert sorted(out) == ["theta", "warped_image"]
    np.testing.assert_allclose(out["theta"], base.predict(images, verbose=0), atol=1e-5)
    grid = geometry.transform_grid(out["theta"], "tps", 88, 88)
    expected = geometry.bilinear_sample(images[SOURCE_IMAGE], grid).numpy()
    np.testing.assert_allclose(out["warped_image"], expected, atol=1e-3)
    assert_saved_model_round_trip(model, images, tmp_path)


@pytest.mark.parametrize(
    "backbone",
    # ResNet-101 takes about 20 s on 2 CPU cores (a 110 MB file): slow.
    ["vgg16", pytest.param("resnet101", marks=pytest.mark.slow)],
)
def test_large_backbone_keras_round_trip(tmp_path, backbone):
    model = build_geomatch_model("hom", backbone, weights=None, image_size=(176, 176))
    assert_saved_model_round_trip(model, _images((176, 176), batch=1), tmp_path)


def test_an_untrained_model_starts_at_the_identity_theta_bias():
    from keras_geomatch import geometry

    for name in ("affine", "hom", "tps"):
        model = build_geomatch_model(name, "small", weights=None, image_size=(88, 88))
        bias = model.get_layer("feature_regression").linear.bias.numpy()
        np.testing.assert_array_equal(bias, geometry.identity_theta(name))


@pytest.mark.parametrize("backbone", ["small", "vgg16", "resnet101", "resnet101_torch"])
def test_backbone_of_recognises_every_backbone(backbone):
    from keras_geomatch.models import backbone_of

    size = (88, 88) if backbone == "small" else (176, 176)
    model = build_geomatch_model("affine", backbone, weights=None, image_size=size)
    assert backbone_of(model) == backbone
