"""ImageNormalization: RGB pixels in [0, 255] → what a backbone's weights expect."""

import keras
from keras import ops

# SPEC §3: the reference's PyTorch weights expect RGB/255 with ImageNet
# mean/std; Keras's VGG16/ResNet ImageNet weights expect 'caffe' (BGR, mean
# subtracted, no scaling).
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
MODES = ("caffe", "torch", "unit")


@keras.saving.register_keras_serializable(package="keras_geomatch")
class ImageNormalization(keras.layers.Layer):
    """Normalises RGB images given in [0, 255].

    Args:
        mode: 'caffe' (Keras `vgg16.preprocess_input`: RGB→BGR, subtract the
            ImageNet BGR mean), 'torch' (RGB/255, subtract mean, divide by
            std) or 'unit' (RGB/255).

    Input/output: `(batch, H, W, 3)`.
    """

    def __init__(self, mode="caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Unknown mode. Expected one of {MODES}. Received: mode={mode!r}")
        self.mode = mode

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] != 3:
            raise ValueError(
                "Expected RGB images of shape (batch, height, width, 3). "
                f"Received: shape={tuple(input_shape)}"
            )

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        if self.mode == "caffe":
            return ops.flip(images, axis=-1) - ops.array(_CAFFE_MEAN_BGR, self.compute_dtype)
        images = images / 255.0
        if self.mode == "torch":
            mean = ops.array(_TORCH_MEAN, self.compute_dtype)
            std = ops.array(_TORCH_STD, self.compute_dtype)
            images = (images - mean) / std
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
