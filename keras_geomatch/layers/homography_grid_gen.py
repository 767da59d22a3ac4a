"""HomographyGridGen: `GridGen("hom" or "hom_matrix", ...)` under one name."""

import keras

from keras_geomatch.layers.grid_gen import GridGen


@keras.saving.register_keras_serializable(package="keras_geomatch")
class HomographyGridGen(GridGen):
    """Sampling grid of a homography.

    Args:
        output_size: `(height, width)` of the grid.
        matrix_form: False: θ is the 4-point form, the source positions of the
            target corners (8 values, `geometric_model="hom"`); True: θ is the
            3×3 matrix row-major (9 values, `geometric_model="hom_matrix"`).

    Input: `(batch, 8)` or `(batch, 9)`. Output: `(batch, height, width, 2)`.
    """

    def __init__(self, output_size=(240, 240), matrix_form=False, **kwargs):
        super().__init__("hom_matrix" if matrix_form else "hom", output_size, **kwargs)
        self.matrix_form = bool(matrix_form)

    def get_config(self):
        config = super().get_config()
        del config["geometric_model"]  # given by matrix_form
        return {**config, "matrix_form": self.matrix_form}
