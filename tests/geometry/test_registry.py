"""The registry entries carry each model's behaviour; a new model is one entry."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import data
from keras_geomatch import geometry
from keras_geomatch.geometry import transforms
from keras_geomatch.layers import GridGen
from keras_geomatch.losses import TransformedGridLoss

MODELS = ("affine", "hom", "hom_matrix", "tps")


@pytest.mark.parametrize("geometric_model", MODELS)
def test_entry_random_theta_shape_and_ranges_type(geometric_model):
    model = geometry.get_geometric_model(geometric_model)
    theta = model.random_theta(tf.constant([0, 1], tf.int64), model.ranges())
    assert theta.shape == (model.num_params,) and theta.dtype == tf.float32
    assert dataclasses.is_dataclass(model.ranges)
    assert isinstance(model.map_options(), dict)


@pytest.mark.parametrize("geometric_model", MODELS)
def test_zero_ranges_draw_the_identity(geometric_model):
    model = geometry.get_geometric_model(geometric_model)
    zero = {
        geometry.AffineRanges: geometry.AffineRanges(0.0, 0.0, (1.0, 1.0), 0.0),
        geometry.TpsRanges: geometry.TpsRanges(0.0),
        geometry.HomographyRanges: geometry.HomographyRanges(0.0),
    }[model.ranges]
    theta = model.random_theta((5, 6), zero)
    np.testing.assert_allclose(theta, geometry.identity_theta(geometric_model), atol=1e-6)


def _translate(theta, points):
    return points + theta[:, None, :]


def _random_translation(seed, ranges):
    offset = ranges.max_offset
    return tf.random.stateless_uniform([2], seed=seed, minval=-offset, maxval=offset)


def test_a_new_model_is_one_entry(monkeypatch):
    # A translation model, registered with one line: the grid layer, the
    # grid loss and the pair θgt work with it without further changes.
    translation = geometry.GeometricModel(
        name="translation", num_params=2, identity=(0.0, 0.0),
        map_points=_translate, random_theta=_random_translation, ranges=geometry.TpsRanges,
    )
    monkeypatch.setitem(transforms.GEOMETRIC_MODELS, "translation", translation)
    theta = np.array([[0.5, -0.25]], np.float32)

    grid = keras.ops.convert_to_numpy(GridGen("translation", (3, 4))(theta))
    np.testing.assert_allclose(grid[0], geometry.identity_grid(3, 4).numpy() + [0.5, -0.25])

    loss = TransformedGridLoss("translation", grid_size=5)
    assert float(loss(theta, theta + [[0.1, 0.0]])) == pytest.approx(0.01, rel=1e-4)

    config = data.PairConfig("translation", tps={"max_offset": 0.2})
    drawn = data.random_theta("translation", (1, 2), config).numpy()
    assert drawn.shape == (2,) and np.abs(drawn).max() <= 0.2
