"""Base of the grid generators: θ → sampling grid over the target image."""

import keras

from keras_geomatch import geometry
from keras_geomatch.geometry import transforms


class GridGen(keras.layers.Layer):
    """θ `(batch, P)` → sampling grid `(batch, height, width, 2)`.

    Convention: grid[b, i, j] = T_θ(x_j, y_i), normalised, corner-aligned,
    target → source (see `keras_geomatch.geometry`). Computed in float32.
    Subclasses set `geometric_model`.
    """

    geometric_model = None

    def __init__(self, output_size=(240, 240), **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        output_size = tuple(int(s) for s in output_size)
        if len(output_size) != 2 or min(output_size) < 1:
            raise ValueError(
                "Expected output_size = (height, width) of positive integers. "
                f"Received: output_size={output_size}"
            )
        self.output_size = output_size

    def _map_options(self):
        return {}

    def build(self, theta_shape):
        transforms.check_theta_shape(theta_shape, self.geometric_model)

    def call(self, theta):
        height, width = self.output_size
        return geometry.transform_grid(
            theta, self.geometric_model, height, width, **self._map_options()
        )

    def compute_output_shape(self, theta_shape):
        return (theta_shape[0], *self.output_size, 2)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}
