"""AffineGridGen: the paper's name for `GridGen("affine", ...)`."""

import keras

from keras_geomatch.layers.grid_gen import GridGen


@keras.saving.register_keras_serializable(package="keras_geomatch")
class AffineGridGen(GridGen):
    """Sampling grid of an affine θ = [a11, a12, tx, a21, a22, ty].

    Args:
        output_size: `(height, width)` of the grid (the target image).

    Input: `(batch, 6)`. Output: `(batch, height, width, 2)`.

    Example:
        >>> AffineGridGen((240, 240))(np.array([[1., 0, 0, 0, 1, 0]]))  # identity grid
    """

    def __init__(self, output_size=(240, 240), **kwargs):
        super().__init__("affine", output_size, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["geometric_model"]  # fixed by the class
        return config
