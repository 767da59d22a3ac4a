"""PairSplit: the two halves of a batch that holds the source and the target images."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_geomatch")
class PairSplit(keras.layers.Layer):
    """Splits `(2·batch, ...)` into its first and second halves.

    The geomatch model runs its backbone once on source and target images
    concatenated along the batch axis (one batch of 2·B instead of two of B:
    the same features, faster on CPU, see benchmarks/RESULTS.md); this layer
    hands the features of the sources and of the targets back to the
    matching layers.

    Computed in float32 whatever the dtype policy (pass `dtype` to
    override), like the feature L2 norm before it and the correlation
    after it, so that a mixed policy does not round the features here.

    Input: `(2·batch, ...)`. Output: two tensors `(batch, ...)`: the first
    half (sources) and the second half (targets).

    Example:
        >>> a, b = PairSplit()(np.arange(4.0).reshape(4, 1))  # [[0], [1]], [[2], [3]]
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise ValueError(
                f"Expected an input with a batch axis. Received: input_shape={input_shape}"
            )
        if input_shape[0] is not None and input_shape[0] % 2:
            raise ValueError(
                "Expected an even batch (sources then targets). "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, pairs):
        half = ops.shape(pairs)[0] // 2
        return pairs[:half], pairs[half:]

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] // 2
        shape = (batch, *input_shape[1:])
        return shape, shape
