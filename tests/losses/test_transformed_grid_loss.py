"""TransformedGridLoss (SPEC §3): value, zero at equality, gradients, serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch.geometry import identity_theta
from keras_geomatch.layers import FeatureRegression
from keras_geomatch.losses import TransformedGridLoss
from tests.geometry import reference_maps

MODELS = ("affine", "hom", "hom_matrix", "tps")
SIZES = {"affine": 6, "hom": 8, "hom_matrix": 9, "tps": 18}


def _numpy_loss(theta_pred, theta_gt, model_pred, model_gt, grid_size=20):
    """mean over batch and grid points of |T_pred(p) - T_gt(p)|²."""
    axis = np.linspace(-1, 1, grid_size)
    xs, ys = np.meshgrid(axis, axis)
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    per_sample = [
        np.mean(
            np.sum(
                (
                    reference_maps.map_points(p, points, model_pred)
                    - reference_maps.map_points(g, points, model_gt)
                )
                ** 2,
                axis=1,
            )
        )
        for p, g in zip(theta_pred, theta_gt)
    ]
    return float(np.mean(per_sample))


@pytest.mark.parametrize("geometric_model", MODELS)
def test_zero_when_prediction_equals_ground_truth(geometric_model):
    theta = reference_maps.random_theta(geometric_model, np.random.default_rng(0), 4)
    assert float(TransformedGridLoss(geometric_model)(theta, theta)) == 0.0


@pytest.mark.parametrize("geometric_model", MODELS)
def test_equals_numpy_spec_formula(geometric_model):
    rng = np.random.default_rng(1)
    theta_gt = reference_maps.random_theta(geometric_model, rng, 5)
    theta_pred = reference_maps.random_theta(geometric_model, rng, 5)
    value = float(TransformedGridLoss(geometric_model)(theta_gt, theta_pred))
    expected = _numpy_loss(theta_pred, theta_gt, geometric_model, geometric_model)
    assert expected > 1e-3
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_translation_has_the_closed_form_value():
    # Every point moves by (tx, ty): the loss is tx² + ty².
    theta_gt = identity_theta("affine", 2)
    theta_pred = theta_gt + np.array([0, 0, 0.3, 0, 0, -0.4], np.float32)
    np.testing.assert_allclose(float(TransformedGridLoss("affine")(theta_gt, theta_pred)), 0.25, rtol=1e-6)


def test_grid_size_and_different_target_model():
    rng = np.random.default_rng(2)
    theta_gt = reference_maps.random_theta("tps", rng, 3)
    theta_pred = reference_maps.random_theta("affine", rng, 3)
    loss = TransformedGridLoss("affine", grid_size=7, target_geometric_model="tps")
    expected = _numpy_loss(theta_pred, theta_gt, "affine", "tps", grid_size=7)
    np.testing.assert_allclose(float(loss(theta_gt, theta_pred)), expected, rtol=1e-5)


@pytest.mark.parametrize("geometric_model", MODELS)
def test_gradient_wrt_theta_is_finite_and_non_zero(geometric_model):
    rng = np.random.default_rng(3)
    theta_gt = reference_maps.random_theta(geometric_model, rng, 2)
    theta_pred = tf.Variable(reference_maps.random_theta(geometric_model, rng, 2))
    with tf.GradientTape() as tape:
        value = TransformedGridLoss(geometric_model)(theta_gt, theta_pred)
    grad = tape.gradient(value, theta_pred).numpy()
    assert np.all(np.isfinite(grad))
    assert np.all(np.abs(grad).sum(axis=1) > 0)
    # Also finite (and zero) at the optimum: no NaN from TPS's U(0) or |·|.
    with tf.GradientTape() as tape:
        value = TransformedGridLoss(geometric_model)(theta_gt, theta_pred * 0 + theta_gt)
    grad = tape.gradient(value, theta_pred).numpy()
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


@pytest.mark.parametrize("geometric_model", ["affine", "tps"])
def test_gradient_reaches_the_feature_regression_weights(geometric_model):
    correlation = keras.Input((11, 11, 121))
    regression = FeatureRegression(SIZES[geometric_model], conv_filters=(8, 4), name="regression")
    model = keras.Model(correlation, regression(correlation))
    rng = np.random.default_rng(4)
    inputs = rng.uniform(size=(3, 11, 11, 121)).astype(np.float32)
    theta_gt = reference_maps.random_theta(geometric_model, rng, 3)
    loss = TransformedGridLoss(geometric_model)
    with tf.GradientTape() as tape:
        value = loss(theta_gt, model(inputs, training=True))
    grads = tape.gradient(value, model.trainable_weights)
    assert len(grads) == len(regression.trainable_weights) == 10
    for variable, grad in zip(model.trainable_weights, grads):
        assert grad is not None, variable.path
        grad = grad.numpy()
        assert np.all(np.isfinite(grad)), variable.path
        assert np.abs(grad).max() > 0, variable.path


@pytest.mark.parametrize("geometric_model", MODELS)
def test_wrong_theta_size_raises(geometric_model):
    size = SIZES[geometric_model]
    loss = TransformedGridLoss(geometric_model)
    good = identity_theta(geometric_model, 2)
    bad = np.zeros((2, size - 1), np.float32)
    with pytest.raises(ValueError, match=rf"\(batch, {size}\).*Received: shape=\(2, {size - 1}\)"):
        loss(good, bad)
    with pytest.raises(ValueError, match=rf"\(batch, {size}\).*Received: shape=\(2, {size - 1}\)"):
        loss(bad, good)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="Expected one of.*Received: geometric_model='rigid'"):
        TransformedGridLoss("rigid")
    with pytest.raises(ValueError, match="Received: geometric_model='x'"):
        TransformedGridLoss("tps", target_geometric_model="x")
    with pytest.raises(ValueError, match="grid_size >= 2. Received: grid_size=1"):
        TransformedGridLoss("tps", grid_size=1)


def test_config_round_trip_without_custom_objects():
    loss = TransformedGridLoss("hom", grid_size=5, target_geometric_model="hom_matrix", name="grid")
    config = loss.get_config()
    assert TransformedGridLoss.from_config(config).get_config() == config
    serialized = keras.losses.serialize(loss)
    assert serialized["registered_name"] == "keras_geomatch>TransformedGridLoss"
    revived = keras.losses.deserialize(serialized)
    assert type(revived) is TransformedGridLoss and revived.get_config() == config


def test_compiled_model_keeps_the_loss_through_keras_save(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(18, name="theta")(inputs))
    model.compile(optimizer="sgd", loss=TransformedGridLoss("tps", grid_size=6))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 4)).astype(np.float32)
    y = reference_maps.random_theta("tps", rng, 4)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.loss) is TransformedGridLoss
    assert loaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(
        loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6
    )
