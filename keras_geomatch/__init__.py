"""keras-geomatch: the CNN for geometric matching (Rocco, Arandjelović, Sivic,
CVPR 2017 / TPAMI 2018) in Keras 3.

Importing the package registers its layers and loss, so saved `.keras`
models load with `keras.models.load_model` without `custom_objects`. Imported
before TensorFlow, it turns on TensorFlow's oneDNN CPU kernels, unless
`TF_ENABLE_ONEDNN_OPTS` is set (see `keras_geomatch.cpu_kernels`).
"""

from keras_geomatch import cpu_kernels

cpu_kernels.prefer_onednn()

from keras_geomatch import geometry
from keras_geomatch import layers
from keras_geomatch import losses
from keras_geomatch import models
from keras_geomatch.losses import TransformedGridLoss
from keras_geomatch.models import add_warped_image_output
from keras_geomatch.models import build_geomatch_model
from keras_geomatch.pretrained import list_pretrained
from keras_geomatch.pretrained import load_pretrained

__version__ = "0.1.0"
