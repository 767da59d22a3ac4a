"""GridGen: θ → sampling grid over the target image, for every geometric model."""

import keras

from keras_geomatch import geometry
from keras_geomatch.geometry import transforms


@keras.saving.register_keras_serializable(package="keras_geomatch")
class GridGen(keras.layers.Layer):
    """θ `(batch, num_params)` → sampling grid `(batch, height, width, 2)`.

    Convention: grid[b, i, j] = T_θ(x_j, y_i), normalised, corner-aligned,
    target → source (see `keras_geomatch.geometry`). Computed in float32.
    The paper's layers are the named subclasses `AffineGridGen`,
    `TpsGridGen` (and `HomographyGridGen`); this one serves any entry of
    `geometry.GEOMETRIC_MODELS`.

    Args:
        geometric_model: a name from `geometry.GEOMETRIC_MODELS`.
        output_size: `(height, width)` of the grid (the target image).
        **kwargs: the options of the model's point map (TPS: `reg_factor`,
            ≥ 0, added to the kernel matrix's diagonal), then the usual
            layer arguments (`name`, ...).

    Input: `(batch, num_params)`. Output: `(batch, height, width, 2)`.

    Example:
        >>> GridGen("tps", (240, 240), reg_factor=0.1)(geometry.identity_theta("tps", 2))
    """

    def __init__(self, geometric_model, output_size=(240, 240), **kwargs):
        model = transforms.get_geometric_model(geometric_model)
        option_names = model.map_options().keys()
        options = {name: kwargs.pop(name) for name in option_names if name in kwargs}
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        output_size = tuple(int(s) for s in output_size)
        if len(output_size) != 2 or min(output_size) < 1:
            raise ValueError(
                "Expected output_size = (height, width) of positive integers. "
                f"Received: output_size={output_size}"
            )
        self.geometric_model = model.name
        self.output_size = output_size
        # Checked and completed by the model (TPS: L⁻¹ is solved here, once).
        self.map_options = model.map_options(**options)

    def build(self, theta_shape):
        transforms.check_theta_shape(theta_shape, self.geometric_model)

    def call(self, theta):
        height, width = self.output_size
        return geometry.transform_grid(
            theta, self.geometric_model, height, width, **self.map_options
        )

    def compute_output_shape(self, theta_shape):
        return (theta_shape[0], *self.output_size, 2)

    def get_config(self):
        return {
            **super().get_config(),
            "geometric_model": self.geometric_model,
            "output_size": self.output_size,
            **self.map_options,
        }
