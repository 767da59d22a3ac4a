"""FeatureRegression: correlation map → θ (Rocco et al. 2017, §3.3)."""

import keras
from keras import ops

# The paper's two 'valid' convolutions.
KERNEL_SIZES = (7, 5)


def smallest_valid_input(kernel_sizes=None):
    """The smallest correlation map side that 'valid' convolutions of these
    kernel sizes (default `KERNEL_SIZES`) reduce to at least one position
    (11 for the paper's 7 and 5)."""
    kernel_sizes = KERNEL_SIZES if kernel_sizes is None else kernel_sizes
    return 1 + sum(int(k) - 1 for k in kernel_sizes)


@keras.saving.register_keras_serializable(package="keras_geomatch")
class FeatureRegression(keras.layers.Layer):
    """Conv 7×7 → BN → ReLU → Conv 5×5 → BN → ReLU → flatten → Dense(P).

    Both convolutions are 'valid' (15×15 → 9×9 → 5×5 for the paper's 240×240
    input). BatchNorm uses PyTorch's epsilon (1e-5) and momentum (0.1, i.e.
    Keras momentum 0.9) so that converted reference weights give the same θ.
    The flatten is Keras's (height, width, channels) order; the converter
    permutes the reference's (channels, height, width) Dense weights.

    Args:
        output_dim: P, the number of θ values (6, 8, 9 or 18).
        conv_filters: filters of the two convolutions.
        kernel_sizes: kernel sizes of the two convolutions.
        initial_theta: optional P values the Dense bias starts at (the
            builder passes the identity θ, so an untrained model predicts
            identity instead of collapsing everything onto one point; the
            reference starts from PyTorch's random bias).
        **kwargs: base layer arguments.

    Input: `(batch, h, w, h·w)` correlation, h and w ≥ `smallest_input`
    (11 with the default kernels). Output: `(batch, output_dim)`, float32 whatever the policy: θ
    feeds the geometry, which is float32.
    """

    # Name of the Dense that computes θ (pinned to float32).
    THETA_LAYER = "linear"

    def __init__(
        self,
        output_dim,
        conv_filters=(128, 64),
        kernel_sizes=KERNEL_SIZES,
        initial_theta=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(output_dim) < 1:
            raise ValueError(f"Expected output_dim >= 1. Received: output_dim={output_dim}")
        if len(conv_filters) != 2 or len(kernel_sizes) != 2:
            raise ValueError(
                "Expected two conv_filters and two kernel_sizes. Received: "
                f"conv_filters={conv_filters}, kernel_sizes={kernel_sizes}"
            )
        self.output_dim = int(output_dim)
        if initial_theta is not None:
            initial_theta = tuple(float(v) for v in initial_theta)
            if len(initial_theta) != self.output_dim:
                raise ValueError(
                    f"Expected initial_theta of {self.output_dim} values. "
                    f"Received: {len(initial_theta)} values"
                )
        self.initial_theta = initial_theta
        self.conv_filters = tuple(int(f) for f in conv_filters)
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.conv1 = keras.layers.Conv2D(
            self.conv_filters[0], self.kernel_sizes[0], padding="valid", name="conv1"
        )
        self.bn1 = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="bn1")
        self.conv2 = keras.layers.Conv2D(
            self.conv_filters[1], self.kernel_sizes[1], padding="valid", name="conv2"
        )
        self.bn2 = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name="bn2")
        self.flatten = keras.layers.Flatten(name="flatten")
        bias_initializer = (
            "zeros"
            if initial_theta is None
            else keras.initializers.Constant(list(initial_theta))
        )
        self.linear = keras.layers.Dense(
            self.output_dim,
            dtype="float32",
            bias_initializer=bias_initializer,
            name=self.THETA_LAYER,
        )

    @property
    def smallest_input(self):
        """The smallest height and width of correlation map this layer takes."""
        return smallest_valid_input(self.kernel_sizes)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "Expected a correlation of rank 4 (batch, height, width, h*w). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        height, width = input_shape[1], input_shape[2]
        needed = self.smallest_input
        if height is not None and width is not None and min(height, width) < needed:
            raise ValueError(
                f"Expected a correlation map of at least {needed}×{needed} "
                "positions for the valid convolutions (use larger images or a "
                f"backbone with less downsampling). Received: {height}×{width}"
            )
        self.conv1.build(input_shape)
        shape = self.conv1.compute_output_shape(input_shape)
        self.bn1.build(shape)
        self.conv2.build(shape)
        shape = self.conv2.compute_output_shape(shape)
        self.bn2.build(shape)
        shape = self.flatten.compute_output_shape(shape)
        self.linear.build(shape)

    def call(self, correlation, training=None):
        x = ops.relu(self.bn1(self.conv1(correlation), training=training))
        x = ops.relu(self.bn2(self.conv2(x), training=training))
        return self.linear(self.flatten(x))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "output_dim": self.output_dim,
            "conv_filters": self.conv_filters,
            "kernel_sizes": self.kernel_sizes,
            "initial_theta": self.initial_theta,
        }
