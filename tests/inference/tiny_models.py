"""Tiny real geomatch models for the inference and evaluation tests.

No stub replaces the pipeline: these are `build_geomatch_model` models with
the 'small' backbone and random weights. `constant_theta_model` zeroes the
kernel of FeatureRegression's final Dense layer and sets its bias to θ, so
the whole real pipeline runs and outputs that θ for every pair, and the
expected results can be computed independently in numpy.
"""

import keras
import numpy as np

from keras_geomatch import geometry
from keras_geomatch.models import build_geomatch_model

TINY_SIZE = (88, 88)  # the smallest size the 'small' backbone (stride 8) allows


def tiny_model(
    geometric_model="affine", image_size=TINY_SIZE, seed=0, near_identity=True, **kwargs
):
    """A small-backbone model with seeded random weights.

    With `near_identity`, the final bias is the identity θ, so θ is the
    identity plus an input-dependent perturbation (the raw random model
    outputs θ ≈ 0, which collapses every warp to one point).
    """
    keras.utils.set_random_seed(seed)
    model = build_geomatch_model(
        geometric_model, "small", weights=None, image_size=image_size, **kwargs
    )
    if near_identity:
        linear = model.get_layer("feature_regression").linear
        linear.bias.assign(geometry.identity_theta(geometric_model))
    return model


def constant_theta_model(geometric_model, theta, image_size=TINY_SIZE, seed=0):
    """A real geomatch model whose output is `theta` for every input pair."""
    model = tiny_model(geometric_model, image_size, seed, near_identity=False)
    linear = model.get_layer("feature_regression").linear
    linear.kernel.assign(np.zeros(linear.kernel.shape, dtype="float32"))
    linear.bias.assign(np.asarray(theta, dtype="float32"))
    return model


def numpy_affine_map(theta, points):
    """Affine θ (6,) applied to normalised `(N, 2)` points, in float64."""
    matrix = np.asarray(theta, dtype=np.float64).reshape(2, 3)
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def numpy_tps_map(theta, points):
    """TPS θ (18,) on the SPEC §2 3×3 control grid, solved directly in float64."""
    control_x = np.repeat([-1.0, 0.0, 1.0], 3)  # x varies slowest
    control_y = np.tile([-1.0, 0.0, 1.0], 3)
    control = np.stack([control_x, control_y], axis=1)

    def kernel(squared):
        return np.where(squared > 0, squared * np.log(np.where(squared > 0, squared, 1.0)), 0.0)

    k = kernel(np.sum((control[:, None] - control[None]) ** 2, axis=-1))
    p = np.concatenate([np.ones((9, 1)), control], axis=1)
    system = np.block([[k, p], [p.T, np.zeros((3, 3))]])
    theta = np.asarray(theta, np.float64)
    rhs = np.stack(
        [np.concatenate([theta[:9], np.zeros(3)]), np.concatenate([theta[9:], np.zeros(3)])], 1
    )
    coefficients = np.linalg.solve(system, rhs)  # (12, 2)
    points = np.asarray(points, np.float64)
    basis = np.concatenate(
        [
            kernel(np.sum((points[:, None] - control[None]) ** 2, axis=-1)),
            np.ones((len(points), 1)),
            points,
        ],
        axis=1,
    )
    return basis @ coefficients


def pixels_to_normalised(points, size):
    height, width = size
    points = np.asarray(points, np.float64)
    return np.stack([2 * points[:, 0] / (width - 1) - 1, 2 * points[:, 1] / (height - 1) - 1], 1)


def normalised_to_pixels(points, size):
    height, width = size
    points = np.asarray(points, np.float64)
    return np.stack(
        [(points[:, 0] + 1) * (width - 1) / 2, (points[:, 1] + 1) * (height - 1) / 2], 1
    )
