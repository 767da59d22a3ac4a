"""BilinearSampler: warps an image by a sampling grid, differentiably."""

import keras

from keras_geomatch import geometry


@keras.saving.register_keras_serializable(package="keras_geomatch")
class BilinearSampler(keras.layers.Layer):
    """Samples `image` at `grid` (see `geometry.bilinear_sample`).

    Corner-aligned normalised coordinates; zeros outside the image; gradients
    flow to the image and the grid.

    Computed in float32 whatever the dtype policy (like the grid
    generators): under `mixed_float16` an autocast float16 grid would be off
    by up to 1/16 pixel on a 240-pixel side.

    Input: `image` `(batch, H, W, C)`, `grid` `(batch, h, w, 2)`.
    Output: `(batch, h, w, C)`, float32 unless `dtype` says otherwise.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def build(self, image_shape, grid_shape):
        if len(image_shape) != 4:
            raise ValueError(
                "Expected image of rank 4 (batch, height, width, channels). "
                f"Received: shape={tuple(image_shape)}"
            )
        if len(grid_shape) != 4 or grid_shape[-1] != 2:
            raise ValueError(
                "Expected grid of shape (batch, height, width, 2). "
                f"Received: shape={tuple(grid_shape)}"
            )

    def call(self, image, grid):
        return geometry.bilinear_sample(image, grid)

    def compute_output_shape(self, image_shape, grid_shape):
        return (image_shape[0], grid_shape[1], grid_shape[2], image_shape[3])
