"""Synthetic PCK: the definition, pinned with hand-computed cases and numpy."""

import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import geometry
from keras_geomatch.training import evaluate_synthetic_pck
from keras_geomatch.training import synthetic_pck_per_pair

IDENTITY = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def shifted(tx, ty=0.0):
    return [1.0, 0.0, tx, 0.0, 1.0, ty]


def test_identical_thetas_are_all_correct():
    theta = np.array([shifted(0.3, -0.2)], "float32")
    pck = synthetic_pck_per_pair(theta, theta, "affine", (60, 80))
    assert pck[0.05][0] == 1.0 and pck[0.1][0] == 1.0


def test_a_translation_is_judged_in_pixels_of_the_longer_side():
    # tx = 0.1 normalised = 0.1 * (W - 1) / 2 = 4.95 pixels for W = 100.
    # L = max(H, W) = 100: correct at α = 0.05 (5 px), wrong at α = 0.04 (4 px).
    pred = np.array([IDENTITY], "float32")
    gt = np.array([shifted(0.1)], "float32")
    pck = synthetic_pck_per_pair(pred, gt, "affine", (50, 100), alphas=(0.04, 0.05))
    assert pck[0.04][0] == 0.0
    assert pck[0.05][0] == 1.0


def test_the_height_sets_the_scale_of_y():
    # ty = 0.1 → 0.1 * (H - 1) / 2 = 2.45 px for H = 50; L = 100: correct at α = 0.025.
    pred = np.array([IDENTITY], "float32")
    gt = np.array([shifted(0.0, 0.1)], "float32")
    pck = synthetic_pck_per_pair(pred, gt, "affine", (50, 100), alphas=(0.024, 0.025))
    assert pck[0.024][0] == 0.0 and pck[0.025][0] == 1.0


def test_against_numpy_for_random_affines():
    rng = np.random.default_rng(0)
    pred = (np.array(IDENTITY) + rng.normal(0, 0.1, (5, 6))).astype("float32")
    gt = (np.array(IDENTITY) + rng.normal(0, 0.1, (5, 6))).astype("float32")
    height, width, n = 30, 40, 7
    xs, ys = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    points = np.stack([xs.ravel(), ys.ravel(), np.ones(n * n)], axis=-1)

    def to_pixels(theta):
        mapped = points @ theta.reshape(-1, 2, 3).transpose(0, 2, 1)  # (B, N, 2)
        return (mapped + 1) / 2 * np.array([width - 1, height - 1])

    distance = np.linalg.norm(to_pixels(pred) - to_pixels(gt), axis=-1)
    expected = np.mean(distance <= 0.1 * 40, axis=-1)
    pck = synthetic_pck_per_pair(pred, gt, "affine", (height, width), alphas=(0.1,), grid_size=n)
    np.testing.assert_allclose(pck[0.1], expected)
    assert 0 < expected.mean() < 1  # the case is not trivial


def test_tps_identity_against_tps_ground_truth():
    identity = geometry.identity_theta("tps", batch_size=1)
    gt = identity.copy()
    gt[0, 4] += 0.5  # moves the centre control point by 0.5 in x
    pck = synthetic_pck_per_pair(identity, gt, "tps", (64, 64), alphas=(0.01, 1.0))
    assert 0.0 < pck[0.01][0] < 1.0  # points near the corners barely move
    assert pck[1.0][0] == 1.0


def test_evaluate_returns_model_and_identity_figures():
    gt = np.array([shifted(0.1), IDENTITY], "float32")
    images = np.zeros((2, 16, 16, 3), "float32")
    dataset = [({"source_image": images, "target_image": images}, tf.constant(gt))] * 3

    def perfect(inputs, training=False):
        return tf.constant(gt)

    result = evaluate_synthetic_pck(perfect, dataset, "affine", (50, 100), alphas=(0.04, 0.05))
    assert result["num_pairs"] == 6
    assert result["pck@0.04"] == 1.0 and result["pck@0.05"] == 1.0
    assert result["identity_pck@0.04"] == pytest.approx(0.5)  # the shifted half fails
    assert result["identity_pck@0.05"] == 1.0


def test_evaluate_rejects_an_empty_dataset():
    with pytest.raises(ValueError, match="at least one pair"):
        evaluate_synthetic_pck(lambda x, training=False: x, [], "affine", (8, 8))
