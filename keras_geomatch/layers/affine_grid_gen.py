"""AffineGridGen: affine θ (6 values) → sampling grid."""

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

    geometric_model = "affine"
