"""GridGen: one grid layer for every geometric model; the paper's named layers;
configs saved by earlier versions still load."""

import keras
import numpy as np
import pytest

from keras_geomatch import geometry
from keras_geomatch.layers import AffineGridGen
from keras_geomatch.layers import GridGen
from keras_geomatch.layers import HomographyGridGen
from keras_geomatch.layers import TpsGridGen
from keras_geomatch.layers import make_grid_gen
from tests.geometry import reference_maps
from tests.layers.round_trip import assert_config_round_trip
from tests.layers.round_trip import assert_saved_model_round_trip

MODELS = ["affine", "hom", "hom_matrix", "tps"]


@pytest.mark.parametrize("geometric_model", MODELS)
def test_grid_gen_serves_every_model(geometric_model):
    size = geometry.get_geometric_model(geometric_model).num_params
    layer = make_grid_gen(geometric_model, (5, 7), name="grid")
    assert type(layer) is GridGen and layer.name == "grid"
    assert layer.geometric_model == geometric_model
    assert layer(keras.Input((size,))).shape == (None, 5, 7, 2)
    assert layer.compute_output_shape((3, size)) == (3, 5, 7, 2)
    theta = reference_maps.random_theta(geometric_model, np.random.default_rng(0), 2, scale=0.2)
    grid = keras.ops.convert_to_numpy(layer(theta))
    points = geometry.identity_grid(5, 7).numpy().reshape(-1, 2)
    for b in range(2):
        expected = reference_maps.map_points(theta[b], points, geometric_model).reshape(5, 7, 2)
        np.testing.assert_allclose(grid[b], expected, atol=2e-5)


@pytest.mark.parametrize(
    "named, geometric_model, kwargs",
    [(AffineGridGen((6, 5)), "affine", {}),
     (TpsGridGen((6, 5), reg_factor=0.3), "tps", {"reg_factor": 0.3}),
     (HomographyGridGen((6, 5)), "hom", {}),
     (HomographyGridGen((6, 5), matrix_form=True), "hom_matrix", {})],
)
def test_named_layers_are_grid_gen_of_their_model(named, geometric_model, kwargs):
    generic = GridGen(geometric_model, (6, 5), **kwargs)
    assert isinstance(named, GridGen) and named.geometric_model == geometric_model
    assert named.map_options == generic.map_options
    theta = reference_maps.random_theta(geometric_model, np.random.default_rng(1), 3, scale=0.2)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(named(theta)), keras.ops.convert_to_numpy(generic(theta))
    )


def test_map_options_come_from_the_model():
    assert GridGen("tps", (4, 4)).map_options == {"reg_factor": 0.0}
    assert GridGen("affine", (4, 4)).map_options == {}
    with pytest.raises(ValueError, match="reg_factor >= 0. Received: reg_factor=-0.5"):
        GridGen("tps", (4, 4), reg_factor=-0.5)
    for bad in (float("nan"), "smooth", None):
        with pytest.raises(ValueError, match="Expected a finite reg_factor >= 0"):
            GridGen("tps", (4, 4), reg_factor=bad)
    # An option of another model is not an option here: Keras rejects it.
    with pytest.raises(ValueError, match="Unrecognized keyword arguments.*reg_factor"):
        GridGen("affine", (4, 4), reg_factor=0.1)


def test_unknown_models_are_rejected():
    with pytest.raises(ValueError, match=r"Expected one of \['affine', 'hom', 'hom_matrix', 'tps'\]"):
        make_grid_gen("similarity", (5, 5))
    with pytest.raises(ValueError, match="Received: geometric_model='similarity'"):
        GridGen("similarity", (5, 5))


@pytest.mark.parametrize("geometric_model", MODELS)
def test_config_round_trip(geometric_model):
    clone = assert_config_round_trip(GridGen(geometric_model, (12, 20), name="grid"))
    assert clone.geometric_model == geometric_model and clone.output_size == (12, 20)
    assert GridGen.from_config(GridGen("tps", (3, 3), reg_factor=0.2).get_config()).map_options == {
        "reg_factor": 0.2
    }


@pytest.mark.parametrize("geometric_model", ["hom", "tps"])
def test_saved_model_round_trip(geometric_model, tmp_path):
    size = geometry.get_geometric_model(geometric_model).num_params
    inputs = keras.Input((size,))
    model = keras.Model(inputs, GridGen(geometric_model, (7, 9))(inputs))
    theta = reference_maps.random_theta(geometric_model, np.random.default_rng(2), 2, scale=0.2)
    loaded = assert_saved_model_round_trip(model, theta, tmp_path)
    assert loaded.layers[-1].geometric_model == geometric_model


def _dtype():
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}


# Serialised layers exactly as the version before GridGen wrote them into .keras files.
EARLIER_FORMAT = [
    ({"module": "keras_geomatch.layers.affine_grid_gen", "class_name": "AffineGridGen",
      "config": {"name": "aff", "trainable": True, "dtype": _dtype(), "output_size": [12, 20]},
      "registered_name": "keras_geomatch>AffineGridGen"},
     AffineGridGen, "affine", {}),
    ({"module": "keras_geomatch.layers.tps_grid_gen", "class_name": "TpsGridGen",
      "config": {"name": "tps", "trainable": True, "dtype": _dtype(), "output_size": [12, 20],
                 "reg_factor": 0.1},
      "registered_name": "keras_geomatch>TpsGridGen"},
     TpsGridGen, "tps", {"reg_factor": 0.1}),
    ({"module": "keras_geomatch.layers.homography_grid_gen", "class_name": "HomographyGridGen",
      "config": {"name": "hm", "trainable": True, "dtype": _dtype(), "output_size": [12, 20],
                 "matrix_form": True},
      "registered_name": "keras_geomatch>HomographyGridGen"},
     HomographyGridGen, "hom_matrix", {}),
]


@pytest.mark.parametrize("serialized, cls, geometric_model, options", EARLIER_FORMAT)
def test_configs_of_the_earlier_version_load(serialized, cls, geometric_model, options):
    layer = keras.saving.deserialize_keras_object(serialized)
    assert type(layer) is cls and layer.geometric_model == geometric_model
    assert layer.output_size == (12, 20) and layer.map_options == options
    # And they are written back in the same format.
    assert keras.saving.serialize_keras_object(layer)["config"] == {
        **serialized["config"], "output_size": (12, 20)
    }
    theta = reference_maps.random_theta(geometric_model, np.random.default_rng(3), 2, scale=0.2)
    expected = geometry.transform_grid(theta, geometric_model, 12, 20, **options)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(theta)), expected, atol=1e-6)


def test_grid_is_float32_under_mixed_precision_policy():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = AffineGridGen((4, 4))
        assert layer(keras.Input((6,))).dtype == "float32"
        assert GridGen("tps", (4, 4))(keras.Input((18,))).dtype == "float32"
    finally:
        keras.config.set_dtype_policy(policy)
