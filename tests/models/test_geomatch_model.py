"""The geometric matching CNN: structure, what it says it is, errors, one XLA fit
step, .keras round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import geometry
from keras_geomatch import layers as gm_layers
from keras_geomatch.losses import TransformedGridLoss
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models import GeomatchModel
from keras_geomatch.models import add_warped_image_output
from keras_geomatch.models import backbones
from keras_geomatch.models import build_geomatch_model
from keras_geomatch.models import check_image_size
from keras_geomatch.models import smallest_image_side
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
    assert isinstance(model, GeomatchModel)
    assert model.geometric_model == geometric_model
    assert (model.backbone, model.image_size, model.preprocessing) == ("small", (88, 88), "unit")
    assert model.normalize_matches is True and model.train_backbone is False


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
    assert plain.normalize_matches is False and plain.preprocessing == "torch"
    vgg = build_geomatch_model("affine", "vgg16", weights=None, image_size=(176, 176))
    assert vgg.get_layer("preprocess").mode == "caffe" and vgg.preprocessing == "caffe"
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
    assert type(loaded) is GeomatchModel
    assert loaded.get_config() == model.get_config()
    assert loaded.geometric_model == geometric_model and loaded.image_size == (88, 88)
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
def test_every_backbone_is_told_and_checked_by_its_stride(backbone):
    size = (88, 88) if backbone == "small" else (176, 176)
    model = build_geomatch_model("affine", backbone, weights=None, image_size=size)
    assert model.backbone == backbone
    assert model.get_config()["backbone"] == backbone
    # The smallest size gives the regression its smallest input, 11×11.
    assert model.get_layer("feature_correlation").output.shape[1:3] == (11, 11)
    assert smallest_image_side(backbone) == size[0]


def test_the_smallest_image_comes_from_the_regression_kernels(monkeypatch):
    from keras_geomatch.layers import feature_regression

    assert feature_regression.smallest_valid_input((7, 5)) == 11
    assert feature_regression.smallest_valid_input((3, 3)) == 5
    assert gm_layers.FeatureRegression(6, kernel_sizes=(5, 3)).smallest_input == 7
    assert smallest_image_side("vgg16") == 11 * 16 and smallest_image_side("small") == 11 * 8
    monkeypatch.setattr(feature_regression, "KERNEL_SIZES", (3, 3))
    assert smallest_image_side("small") == 5 * 8


def test_check_image_size():
    assert check_image_size([88, 96], "small") == (88, 96)
    assert check_image_size((np.int64(176), 176.0), "vgg16") == (176, 176)
    for bad in [(88.5, 88), (87, 88), (88,), "88", None]:
        with pytest.raises(ValueError, match="Expected image_size = .*≥ 88 .*Received: image_size="):
            check_image_size(bad, "small")
    with pytest.raises(ValueError, match="Received: backbone='alexnet'"):
        check_image_size((240, 240), "alexnet")


def test_config_rebuilds_the_model_and_holds_what_it_is():
    model = _tiny("hom", preprocessing="caffe", normalize_matches=False, name="n",
                  train_backbone=True)
    config = model.get_config()
    assert config == {
        "name": "n", "trainable": True, "geometric_model": "hom", "backbone": "small",
        "image_size": [88, 88], "preprocessing": "caffe", "normalize_matches": False,
        "train_backbone": True, "dtype": "float32",
    }
    clone = GeomatchModel.from_config(config)
    assert clone.get_config() == config
    assert [w.path for w in clone.weights] == [w.path for w in model.weights]
    # Trainable state, not the argument given: freezing the backbone later is saved.
    model.get_layer("feature_extraction").trainable = False
    assert model.train_backbone is False and model.get_config()["train_backbone"] is False
    model.trainable = False
    frozen = GeomatchModel.from_config(model.get_config())
    assert frozen.trainable is False and not frozen.trainable_weights


def test_loading_builds_without_backbone_weights(tmp_path, monkeypatch):
    """The saved weights are loaded: nothing is downloaded or read from the
    file the model was built from."""
    weights = tmp_path / "backbone.weights.h5"
    _tiny("affine").get_layer("feature_extraction").save_weights(weights)
    model = build_geomatch_model("affine", "small", weights=str(weights), image_size=(88, 88))
    model.save(tmp_path / "m.keras")
    asked = []
    build_backbone = backbones.build_backbone

    def recording(name, image_size, weights):
        asked.append(weights)
        return build_backbone(name, image_size, weights)

    monkeypatch.setattr(backbones, "build_backbone", recording)
    weights.unlink()
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert asked == [None]
    images = _images(seed=5)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_a_mixed_precision_model_loads_computing_as_saved(tmp_path):
    from keras_geomatch.models.mixed_precision import set_compute_dtype_policy

    model = _tiny("affine")
    set_compute_dtype_policy(model, "mixed_bfloat16")
    assert model.get_config()["dtype"] == "mixed_bfloat16"
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("feature_extraction").compute_dtype == "bfloat16"
    assert loaded.get_layer("feature_regression").linear.compute_dtype == "float32"
    assert loaded.get_layer("feature_correlation").compute_dtype == "float32"
    images = _images(seed=6)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_non_geomatch_models_are_refused_with_the_upgrade_named():
    from keras_geomatch.models import require_geomatch_model

    model = _tiny("tps")
    assert (model.geometric_model, model.backbone) == ("tps", "small")
    plain = keras.Model(model.input, model.output)
    for function in (require_geomatch_model, add_warped_image_output):
        with pytest.raises(ValueError, match="Expected a keras_geomatch GeomatchModel.*upgrade_legacy_model"):
            function(plain)
