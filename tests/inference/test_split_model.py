import keras
import numpy as np
import pytest

from keras_geomatch.inference import split_geomatch_model
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models.mixed_precision import computing_in
from keras_geomatch.models.mixed_precision import set_compute_dtype_policy
from tests.inference.tiny_models import tiny_model


def _images(batch, size, seed):
    return np.random.default_rng(seed).uniform(0, 255, (batch, *size, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "geometric_model, image_size, normalize_matches",
    [("affine", (88, 88), True), ("tps", (96, 88), True), ("hom", (88, 88), False)],
)
def test_split_model_gives_the_full_models_theta(geometric_model, image_size, normalize_matches):
    model = tiny_model(geometric_model, image_size, normalize_matches=normalize_matches)
    split = split_geomatch_model(model)
    assert split.geometric_model == geometric_model and split.image_size == image_size
    source, target = _images(3, image_size, 1), _images(3, image_size, 2)
    expected = model({SOURCE_IMAGE: source, TARGET_IMAGE: target}).numpy()
    np.testing.assert_allclose(split.predict_theta(source, target), expected, rtol=1e-5, atol=1e-5)
    # Features of A and B computed separately, then paired differently: the same θ.
    fa, fb = split.extract_features(source), split.extract_features(target)
    np.testing.assert_allclose(
        split.regress(fb[::-1], fa),
        model({SOURCE_IMAGE: target[::-1], TARGET_IMAGE: source}).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
    assert np.abs(expected - expected[0]).max() > 1e-4  # θ depends on the images


def test_the_halves_share_the_models_layers_and_weights():
    model = tiny_model("affine")
    split = split_geomatch_model(model)
    assert split.features.get_layer("feature_extraction") is model.get_layer("feature_extraction")
    assert split.head.get_layer("feature_regression") is model.get_layer("feature_regression")
    source, target = _images(1, (88, 88), 3), _images(1, (88, 88), 4)
    before = split.predict_theta(source, target)
    bias = model.get_layer("feature_regression").linear.bias
    bias.assign(bias.numpy() + 1.0)
    np.testing.assert_allclose(split.predict_theta(source, target), before + 1.0, atol=1e-5)


def test_a_model_with_another_graph_fails_the_check():
    base = tiny_model("affine")
    source = keras.Input((88, 88, 3), name=SOURCE_IMAGE)
    target = keras.Input((88, 88, 3), name=TARGET_IMAGE)

    def features(image):
        image = base.get_layer("preprocess")(image)
        return base.get_layer("feature_l2_norm")(base.get_layer("feature_extraction")(image))

    flipped = keras.layers.Lambda(lambda f: f[:, ::-1], name="flip")(features(target))
    correlation = base.get_layer("feature_correlation")(features(source), flipped)
    theta = base.get_layer("feature_regression")(correlation)
    other = keras.Model({SOURCE_IMAGE: source, TARGET_IMAGE: target}, theta)
    # A plain functional model is read as a keras-geomatch 0.1 model, whose
    # upgrade checks the graph (see tests/models/test_legacy.py).
    with pytest.raises(ValueError, match="expected the standard geomatch graph"):
        split_geomatch_model(other)


def test_bad_image_shapes_are_value_errors():
    split = split_geomatch_model(tiny_model("affine"))
    with pytest.raises(ValueError, match=r"\(batch, 88, 88, 3\). Received: shape=\(1, 80, 88, 3\)"):
        split.extract_features(np.zeros((1, 80, 88, 3)))


def test_a_bf16_model_splits_and_its_halves_compute_in_bf16():
    model = tiny_model("tps", (96, 88))
    source, target = _images(2, (96, 88), 5), _images(2, (96, 88), 6)
    float32_theta = model({SOURCE_IMAGE: source, TARGET_IMAGE: target}).numpy()
    set_compute_dtype_policy(model, "mixed_bfloat16")
    bf16_theta = model({SOURCE_IMAGE: source, TARGET_IMAGE: target}).numpy()
    assert not np.array_equal(bf16_theta, float32_theta)

    split = split_geomatch_model(model)  # the check runs in float32, then the policy is back
    backbone = model.get_layer("feature_extraction")
    assert {layer.compute_dtype for layer in backbone.layers[1:]} == {"bfloat16"}
    received = split.predict_theta(source, target)
    # bf16 rounding differs with the batch the backbone runs on: bf16-level agreement.
    np.testing.assert_allclose(received, bf16_theta, atol=2e-2)
    np.testing.assert_allclose(received, float32_theta, atol=2e-2)
    assert not np.array_equal(received, float32_theta)


def test_computing_in_restores_the_policies():
    model = tiny_model("affine")
    set_compute_dtype_policy(model, "mixed_bfloat16")
    conv = model.get_layer("feature_extraction").layers[1]
    with computing_in(model, "float32"):
        assert conv.compute_dtype == "float32"
        assert model.get_layer("feature_correlation").compute_dtype == "float32"
    assert conv.compute_dtype == "bfloat16"
    assert model.get_layer("feature_correlation").compute_dtype == "float32"
