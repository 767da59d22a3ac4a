"""The grid-generator base and `make_grid_gen`'s choice per geometric model."""

import keras
import pytest

from keras_geomatch.layers import AffineGridGen
from keras_geomatch.layers import HomographyGridGen
from keras_geomatch.layers import TpsGridGen
from keras_geomatch.layers import make_grid_gen


@pytest.mark.parametrize(
    "geometric_model, cls, size",
    [("affine", AffineGridGen, 6), ("hom", HomographyGridGen, 8),
     ("hom_matrix", HomographyGridGen, 9), ("tps", TpsGridGen, 18)],
)
def test_make_grid_gen_picks_the_layer(geometric_model, cls, size):
    layer = make_grid_gen(geometric_model, (5, 7), name="grid")
    assert type(layer) is cls and layer.name == "grid"
    assert layer.geometric_model == geometric_model
    assert layer(keras.Input((size,))).shape == (None, 5, 7, 2)
    assert layer.compute_output_shape((3, size)) == (3, 5, 7, 2)


def test_make_grid_gen_rejects_unknown_models():
    with pytest.raises(ValueError, match=r"Expected one of \['affine', 'hom', 'hom_matrix', 'tps'\]"):
        make_grid_gen("similarity", (5, 5))


def test_grid_is_float32_under_mixed_precision_policy():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = AffineGridGen((4, 4))
        assert layer(keras.Input((6,))).dtype == "float32"
    finally:
        keras.config.set_dtype_policy(policy)
