"""The geometric-model registry, `map_points`, `transform_grid` and θ's direction."""

import numpy as np
import pytest

from keras_geomatch.geometry import GEOMETRIC_MODELS
from keras_geomatch.geometry import bilinear_sample
from keras_geomatch.geometry import compose_map_points
from keras_geomatch.geometry import get_geometric_model
from keras_geomatch.geometry import identity_grid
from keras_geomatch.geometry import identity_theta
from keras_geomatch.geometry import map_points
from keras_geomatch.geometry import pixel_to_normalized
from keras_geomatch.geometry import transform_grid
from keras_geomatch.geometry.transforms import check_theta_shape
from tests.geometry import reference_maps

MODELS = ("affine", "hom", "hom_matrix", "tps")


def test_registry_names_and_sizes():
    assert {name: m.num_params for name, m in GEOMETRIC_MODELS.items()} == {
        "affine": 6,
        "hom": 8,
        "hom_matrix": 9,
        "tps": 18,
    }
    for name, model in GEOMETRIC_MODELS.items():
        assert len(model.identity) == model.num_params
        assert get_geometric_model(name) is model
        assert get_geometric_model(model) is model


def test_unknown_geometric_model_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"affine.*hom.*hom_matrix.*tps.*Received.*'projective'"):
        get_geometric_model("projective")
    with pytest.raises(ValueError, match="Received"):
        identity_theta("nope")


@pytest.mark.parametrize("geometric_model", MODELS)
def test_wrong_theta_size_raises(geometric_model):
    size = GEOMETRIC_MODELS[geometric_model].num_params
    with pytest.raises(ValueError, match=rf"\(batch, {size}\).*Received: shape=\(2, {size + 1}\)"):
        check_theta_shape((2, size + 1), geometric_model)
    with pytest.raises(ValueError, match=rf"Received: shape=\({size},\)"):
        map_points(np.zeros(size, np.float32), np.zeros((3, 2), np.float32), geometric_model)
    check_theta_shape((None, size), geometric_model)


def test_identity_theta_shapes():
    assert identity_theta("tps").shape == (18,)
    assert identity_theta("affine", batch_size=3).shape == (3, 6)
    np.testing.assert_array_equal(identity_theta("hom_matrix"), np.eye(3).reshape(9))


@pytest.mark.parametrize("geometric_model", MODELS)
def test_identity_theta_gives_identity_grid(geometric_model):
    grid = transform_grid(identity_theta(geometric_model, 2), geometric_model, 7, 10).numpy()
    assert grid.shape == (2, 7, 10, 2)
    np.testing.assert_allclose(grid, np.tile(identity_grid(7, 10).numpy(), (2, 1, 1, 1)), atol=1e-5)


@pytest.mark.parametrize("geometric_model", MODELS)
def test_map_points_matches_numpy(geometric_model):
    rng = np.random.default_rng(0)
    theta = reference_maps.random_theta(geometric_model, rng, 3)
    points = rng.uniform(-1, 1, size=(50, 2)).astype(np.float32)
    out = map_points(theta, points, geometric_model).numpy()  # shared points broadcast
    assert out.shape == (3, 50, 2)
    for b in range(3):
        np.testing.assert_allclose(
            out[b], reference_maps.map_points(theta[b], points, geometric_model), atol=2e-5
        )


@pytest.mark.parametrize("geometric_model", MODELS)
def test_transform_grid_is_the_mapped_identity_grid(geometric_model):
    rng = np.random.default_rng(1)
    theta = reference_maps.random_theta(geometric_model, rng, 2)
    grid = transform_grid(theta, geometric_model, 5, 6).numpy()
    points = identity_grid(5, 6).numpy().reshape(-1, 2)
    for b in range(2):
        expected = reference_maps.map_points(theta[b], points, geometric_model)
        np.testing.assert_allclose(grid[b].reshape(-1, 2), expected, atol=2e-5)


def test_compose_applies_the_last_stage_first():
    rng = np.random.default_rng(2)
    theta1 = reference_maps.random_theta("affine", rng, 1)
    theta2 = reference_maps.random_theta("tps", rng, 1)
    points = rng.uniform(-1, 1, size=(20, 2)).astype(np.float32)
    out = compose_map_points(points, [("affine", theta1), ("tps", theta2)]).numpy()[0]
    expected = reference_maps.affine_map(
        theta1[0], reference_maps.tps_map(theta2[0], points)
    )
    np.testing.assert_allclose(out, expected, atol=2e-5)


def test_convention_theta_maps_target_to_source():
    # A bright dot at source pixel s; θ a translation. The warped image (the
    # target frame) has the dot at the pixel t with T_θ(t) = s.
    height, width = 11, 21
    source = np.zeros((1, height, width, 1), np.float32)
    s = np.array([12.0, 4.0])  # (x, y) = (column, row)
    source[0, int(s[1]), int(s[0]), 0] = 1.0
    # Translation by +4 pixels in x and -2 in y, in normalised units.
    tx, ty = 4 * 2 / (width - 1), -2 * 2 / (height - 1)
    theta = np.array([[1, 0, tx, 0, 1, ty]], np.float32)
    warped = bilinear_sample(source, transform_grid(theta, "affine", height, width)).numpy()
    row, col = np.unravel_index(np.argmax(warped[0, ..., 0]), (height, width))
    t = np.array([col, row], float)
    np.testing.assert_allclose(t, s - [4, -2])  # T_θ(t) = t + (4, -2) = s
    np.testing.assert_allclose(warped[0, row, col, 0], 1.0, atol=1e-5)
    mapped = map_points(theta, pixel_to_normalized(t[None].astype(np.float32), (height, width)), "affine")
    np.testing.assert_allclose(
        mapped.numpy()[0, 0], pixel_to_normalized(s[None], (height, width)).numpy()[0], atol=1e-6
    )


def test_low_precision_theta_is_mapped_in_float32():
    theta = identity_theta("affine", 1).astype(np.float16)
    out = map_points(theta, np.zeros((2, 2), np.float32), "affine")
    assert out.dtype.name == "float32"


def test_the_names_readable_without_tensorflow_are_the_registry():
    from keras_geomatch.geometry.geometric_model import GEOMETRIC_MODEL_NAMES

    assert GEOMETRIC_MODEL_NAMES == tuple(sorted(GEOMETRIC_MODELS))
