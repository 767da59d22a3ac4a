"""FeatureL2Norm: L2 normalisation over channels (Rocco et al. 2017, §3)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_geomatch")
class FeatureL2Norm(keras.layers.Layer):
    """Divides each descriptor by its L2 norm: `f / sqrt(sum_c f² + epsilon)`.

    The epsilon sits inside the square root, as in the reference, so the
    layer is smooth at zero.

    Computed in float32 whatever the dtype policy (pass `dtype` to
    override): under `mixed_bfloat16` the sum of squares over 512 (or 225)
    channels and the division lose enough precision to move θ measurably
    (benchmarks/mixed_precision_accuracy.py), for no measurable time saved:
    the layer is elementwise work on small maps.

    Args:
        epsilon: added to the sum of squares, > 0.
        **kwargs: base layer arguments.

    Input shape: `(batch, ..., channels)`. Output shape: the same.

    Example:
        >>> FeatureL2Norm()(np.ones((1, 2, 2, 4)))  # every entry 0.5
    """

    def __init__(self, epsilon=1e-6, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"Expected epsilon > 0. Received: epsilon={epsilon}")
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"Expected an input of rank >= 2 (batch, ..., channels). "
                f"Received: input_shape={input_shape}"
            )

    def call(self, features):
        norm = ops.sqrt(
            ops.sum(ops.square(features), axis=-1, keepdims=True) + self.epsilon
        )
        return features / norm

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
