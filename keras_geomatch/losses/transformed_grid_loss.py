"""TransformedGridLoss: the paper's loss for every geometric model (SPEC §3)."""

import keras
import tensorflow as tf

from keras_geomatch import geometry


@keras.saving.register_keras_serializable(package="keras_geomatch")
class TransformedGridLoss(keras.losses.Loss):
    """Mean squared distance between a grid mapped by θ_pred and by θ_gt.

    A `grid_size × grid_size` grid of points over [-1, 1]² is mapped by both
    transformations; per sample the loss is the mean over points of
    `|T_pred(p) - T_gt(p)|²` (summed over x and y), then averaged over the
    batch by the reduction. Computed in float32.

    Args:
        geometric_model: the model of θ_pred (and of θ_gt unless
            `target_geometric_model` says otherwise).
        grid_size: points per side of the grid (20 in the paper).
        target_geometric_model: model of θ_gt, if different.

    Example:
        >>> model.compile(optimizer="adam", loss=TransformedGridLoss("tps"))
    """

    def __init__(
        self,
        geometric_model="affine",
        grid_size=20,
        target_geometric_model=None,
        reduction="sum_over_batch_size",
        name="transformed_grid_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        geometry.get_geometric_model(geometric_model)
        if target_geometric_model is not None:
            geometry.get_geometric_model(target_geometric_model)
        if int(grid_size) < 2:
            raise ValueError(f"Expected grid_size >= 2. Received: grid_size={grid_size}")
        self.geometric_model = geometric_model
        self.grid_size = int(grid_size)
        self.target_geometric_model = target_geometric_model

    def call(self, y_true, y_pred):
        points = tf.reshape(geometry.identity_grid(self.grid_size, self.grid_size), [-1, 2])
        predicted = geometry.map_points(y_pred, points, self.geometric_model)
        expected = geometry.map_points(
            y_true, points, self.target_geometric_model or self.geometric_model
        )
        return tf.reduce_mean(tf.reduce_sum(tf.square(predicted - expected), axis=-1), axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "geometric_model": self.geometric_model,
            "grid_size": self.grid_size,
            "target_geometric_model": self.target_geometric_model,
        }
