"""Points shared by the whole batch, `(n, 2)`, map exactly like the same points given per θ.

Every point map takes shared points unbroadcast (the TPS computes its kernel
values once for all θ: a performance path, see benchmarks/RESULTS.md); the
result must not depend on which path ran.
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import geometry
from keras_geomatch.geometry import affine_map_points
from keras_geomatch.geometry import homography_map_points
from keras_geomatch.geometry import tps_map_points
from tests.geometry import reference_maps


@pytest.mark.parametrize("geometric_model", ["affine", "hom", "hom_matrix", "tps"])
def test_shared_points_equal_per_batch_points(geometric_model):
    rng = np.random.default_rng(0)
    spec = geometry.get_geometric_model(geometric_model)
    theta = reference_maps.random_theta(geometric_model, rng, 3, scale=0.2).astype(np.float32)
    # The control points themselves are included (U(0) = 0 on both paths).
    points = np.concatenate(
        [rng.uniform(-1.2, 1.2, (40, 2)), [[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0]]]
    ).astype(np.float32)
    shared = geometry.map_points(theta, points, geometric_model).numpy()
    per_batch = geometry.map_points(theta, np.tile(points[None], (3, 1, 1)), geometric_model)
    assert shared.shape == (3, len(points), 2) and spec.num_params == theta.shape[1]
    np.testing.assert_allclose(shared, per_batch.numpy(), rtol=1e-6, atol=1e-6)
    expected = np.stack([reference_maps.map_points(t, points.astype(np.float64), geometric_model)
                         for t in theta.astype(np.float64)])
    np.testing.assert_allclose(shared, expected, atol=1e-4)


def test_each_map_accepts_shared_points_directly():
    rng = np.random.default_rng(1)
    points = rng.uniform(-1, 1, (7, 2)).astype(np.float32)
    tiled = np.tile(points[None], (2, 1, 1))
    cases = [
        (affine_map_points, reference_maps.random_theta("affine", rng, 2, scale=0.2)),
        (tps_map_points, reference_maps.random_theta("tps", rng, 2, scale=0.2)),
        (homography_map_points, reference_maps.random_theta("hom_matrix", rng, 2, scale=0.1)),
    ]
    for fn, theta in cases:
        theta = tf.constant(theta, tf.float32)
        np.testing.assert_allclose(
            fn(theta, tf.constant(points)).numpy(), fn(theta, tf.constant(tiled)).numpy(),
            rtol=1e-6, atol=1e-6,
        )


def test_tps_grid_gradient_is_finite_on_the_shared_path():
    theta = tf.Variable(geometry.identity_theta("tps", 2))
    with tf.GradientTape() as tape:
        grid = geometry.transform_grid(theta, "tps", 5, 5)  # contains the control points
        loss = tf.reduce_sum(tf.square(grid))
    gradient = tape.gradient(loss, theta).numpy()
    assert np.all(np.isfinite(gradient))
