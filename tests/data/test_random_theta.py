"""Random θgt: stateless, and inside the configured ranges (SPEC §3)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import data
from keras_geomatch import geometry


def _draw(model, config=None, num=300, seed=3):
    return np.stack([data.random_theta(model, (seed, i), config).numpy() for i in range(num)])


@pytest.mark.parametrize("model", ["affine", "hom", "hom_matrix", "tps"])
def test_same_seed_same_theta_other_seed_other_theta(model):
    a = data.random_theta(model, (1, 2)).numpy()
    b = data.random_theta(model, (1, 2)).numpy()
    c = data.random_theta(model, (1, 3)).numpy()
    assert a.dtype == np.float32 and a.shape == (data.PairConfig(model).num_params,)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def _polar(a):
    """A = R(α)·S with S symmetric positive definite: returns α and S's eigenvalues."""
    u, sigma, vt = np.linalg.svd(a)
    rotation = u @ vt
    return math.atan2(rotation[1, 0], rotation[0, 0]), sigma


def test_affine_within_ranges_and_spanning_them():
    theta = _draw("affine")
    config = data.PairConfig()
    alphas, scales = [], []
    for t in theta:
        a = np.array([[t[0], t[1]], [t[3], t[4]]], dtype=np.float64)
        assert np.linalg.det(a) > 0
        alpha, sigma = _polar(a)
        alphas.append(alpha)
        scales.extend(sigma)
        # S = R(-φ)·D·R(φ) is symmetric: the polar factor carries all of α.
        s = np.array([[math.cos(alpha), math.sin(alpha)], [-math.sin(alpha), math.cos(alpha)]]) @ a
        np.testing.assert_allclose(s, s.T, atol=1e-5)
    alphas, scales = np.abs(alphas), np.asarray(scales)
    assert alphas.max() <= config.affine.max_rotation + 1e-5
    assert alphas.max() > 0.9 * config.affine.max_rotation
    assert scales.min() >= 0.75 - 1e-5 and scales.max() <= 1.25 + 1e-5
    assert scales.min() < 0.77 and scales.max() > 1.23
    translation = np.abs(theta[:, [2, 5]])
    assert translation.max() <= 0.25 and translation.max() > 0.24


def test_affine_follows_custom_ranges():
    config = data.PairConfig(
        affine=geometry.AffineRanges(
            max_rotation=0.0, max_shear_angle=0.0, scale_range=(2.0, 2.0), max_translation=0.0
        )
    )
    theta = _draw("affine", config, num=5)
    np.testing.assert_allclose(theta, np.tile([[2, 0, 0, 0, 2, 0]], (5, 1)), atol=1e-6)


@pytest.mark.parametrize("model, offset", [("tps", 0.4), ("hom", 0.4), ("tps", 0.1), ("hom", 0.2)])
def test_offsets_from_identity_within_range(model, offset):
    config = data.PairConfig(tps={"max_offset": offset}, hom={"max_offset": offset})
    deviation = np.abs(_draw(model, config) - geometry.identity_theta(model))
    assert deviation.max() <= offset + 1e-6
    assert deviation.max() > 0.97 * offset
    # Every one of the values moves, not just some of them.
    assert (deviation.max(axis=0) > 0.5 * offset).all()


def test_hom_matrix_is_the_matrix_of_hom():
    for i in range(5):
        corners = data.random_theta("hom", (0, i))
        matrix = data.random_theta("hom_matrix", (0, i)).numpy()
        expected = geometry.homography_4pt_to_matrix(corners[None]).numpy().reshape(9)
        np.testing.assert_allclose(matrix, expected, rtol=1e-6)


def test_unknown_model_lists_allowed():
    with pytest.raises(ValueError, match="affine"):
        data.random_theta("similarity", (0, 0))


def test_affine_draw_layout_against_numpy():
    # One U(-1, 1)^6 draw gives α, φ, λ1, λ2, tx, ty in this order: the θ of a
    # seed is pinned, built here independently in float64.
    ranges = geometry.AffineRanges(max_rotation=0.4, max_shear_angle=0.3,
                                   scale_range=(0.6, 1.4), max_translation=0.2)
    config = data.PairConfig(affine=ranges)

    def rotation(angle):
        return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])

    for seed in [(0, 0), (3, 11), (2**40, 5)]:
        u = tf.random.stateless_uniform([6], seed=tf.constant(seed, tf.int64), minval=-1.0, maxval=1.0)
        u = u.numpy().astype(np.float64)
        alpha, phi = u[0] * 0.4, u[1] * 0.3
        scales = 0.6 + (u[2:4] + 1) / 2 * 0.8
        a = rotation(alpha) @ rotation(phi).T @ np.diag(scales) @ rotation(phi)
        tx, ty = u[4:6] * 0.2
        expected = [a[0, 0], a[0, 1], tx, a[1, 0], a[1, 1], ty]
        np.testing.assert_allclose(data.random_theta("affine", seed, config), expected, atol=1e-6)


@pytest.mark.parametrize("model", ["tps", "hom"])
def test_offset_draw_layout_against_numpy(model):
    config = data.PairConfig(tps={"max_offset": 0.3}, hom={"max_offset": 0.3})
    seed = (4, 9)
    size = geometry.get_geometric_model(model).num_params
    u = tf.random.stateless_uniform([size], seed=seed, minval=-0.3, maxval=0.3).numpy()
    np.testing.assert_array_equal(
        data.random_theta(model, seed, config), geometry.identity_theta(model) + u
    )


@pytest.mark.parametrize("model", ["affine", "hom", "hom_matrix", "tps"])
def test_config_picks_the_models_ranges(model):
    # The registry entry draws; `random_theta` only hands it the config's ranges.
    config = data.PairConfig(tps={"max_offset": 0.1}, hom={"max_offset": 0.2})
    entry = geometry.get_geometric_model(model)
    np.testing.assert_array_equal(
        data.random_theta(model, (1, 1), config),
        entry.random_theta(tf.constant([1, 1], tf.int64), config.ranges_for(model)),
    )
