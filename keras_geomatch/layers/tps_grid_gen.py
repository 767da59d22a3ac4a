"""TpsGridGen: the paper's name for `GridGen("tps", ...)`."""

import keras

from keras_geomatch.layers.grid_gen import GridGen


@keras.saving.register_keras_serializable(package="keras_geomatch")
class TpsGridGen(GridGen):
    """Sampling grid of a TPS on the 3×3 control grid (SPEC §2).

    L⁻¹ depends only on the control points: it is computed once (per
    `reg_factor`, cached) in float64 and enters the graph as a constant.

    Args:
        output_size: `(height, width)` of the grid.
        reg_factor: ≥ 0, added to the kernel matrix's diagonal (smoothing).

    Input: `(batch, 18)` = [x'_1..x'_9, y'_1..y'_9]. Output:
    `(batch, height, width, 2)`.
    """

    def __init__(self, output_size=(240, 240), reg_factor=0.0, **kwargs):
        super().__init__("tps", output_size, reg_factor=reg_factor, **kwargs)

    @property
    def reg_factor(self):
        return self.map_options["reg_factor"]

    def get_config(self):
        config = super().get_config()
        del config["geometric_model"]  # fixed by the class
        return config
