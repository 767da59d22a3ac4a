"""FeatureCorrelation: the matching layer (Rocco et al. 2017, §3.2)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_geomatch")
class FeatureCorrelation(keras.layers.Layer):
    """All-pairs dot products between two feature maps.

    Convention (SPEC §1.3, needed to load the reference's weights): the
    output's spatial position `(i, j)` is a position of **B** (the target);
    channel `k = row_A + h·col_A` is a position of **A** (the source),
    enumerated column-major.

    Input: `features_a`, `features_b`, each `(batch, h, w, d)`, usually
    L2-normalised. Output: `(batch, h, w, h·w)`.

    Computed in float32 whatever the dtype policy (pass `dtype` to
    override), like the L2 norms around it: the correlation is 0.1% of the
    model's FLOPs, and bf16 dot products of unit descriptors move θ
    measurably (benchmarks/mixed_precision_accuracy.py).

    Example:
        >>> corr = FeatureCorrelation()(fa, fb)  # (2, 15, 15, 225) for 15×15 maps
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def build(self, features_a_shape, features_b_shape):
        for name, shape in (("features_a", features_a_shape), ("features_b", features_b_shape)):
            if len(shape) != 4:
                raise ValueError(
                    f"Expected {name} of rank 4 (batch, height, width, channels). "
                    f"Received: shape={tuple(shape)}"
                )
        if tuple(features_a_shape[1:]) != tuple(features_b_shape[1:]):
            raise ValueError(
                "Expected features_a and features_b of the same "
                "(height, width, channels). Received: "
                f"features_a shape={tuple(features_a_shape)}, "
                f"features_b shape={tuple(features_b_shape)}"
            )

    def call(self, features_a, features_b):
        shape = ops.shape(features_a)
        height, width, depth = shape[1], shape[2], shape[3]
        # Column-major over A: transpose to (batch, w, h, d) before flattening.
        a = ops.reshape(ops.transpose(features_a, (0, 2, 1, 3)), (-1, width * height, depth))
        b = ops.reshape(features_b, (-1, height * width, depth))
        correlation = ops.einsum("bnd,bkd->bnk", b, a)
        return ops.reshape(correlation, (-1, height, width, height * width))

    def compute_output_shape(self, features_a_shape, features_b_shape):
        batch, height, width = features_a_shape[:3]
        channels = None if height is None or width is None else height * width
        return (batch, height, width, channels)
