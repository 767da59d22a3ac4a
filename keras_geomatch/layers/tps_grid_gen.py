"""TpsGridGen: thin-plate-spline θ (18 values) → sampling grid."""

import keras

from keras_geomatch.geometry import tps
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

    geometric_model = "tps"

    def __init__(self, output_size=(240, 240), reg_factor=0.0, **kwargs):
        super().__init__(output_size, **kwargs)
        if reg_factor < 0:
            raise ValueError(f"Expected reg_factor >= 0. Received: reg_factor={reg_factor}")
        self.reg_factor = float(reg_factor)
        tps.tps_system_inverse(self.reg_factor)  # solve once, up front

    def _map_options(self):
        return {"reg_factor": self.reg_factor}

    def get_config(self):
        return {**super().get_config(), "reg_factor": self.reg_factor}
