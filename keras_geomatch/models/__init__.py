"""The geometric matching CNN (`GeomatchModel`) and its backbones."""

from keras_geomatch.models.backbones import BACKBONES
from keras_geomatch.models.backbones import build_backbone
from keras_geomatch.models.backbones import get_backbone
from keras_geomatch.models.geomatch_model import SOURCE_IMAGE
from keras_geomatch.models.geomatch_model import TARGET_IMAGE
from keras_geomatch.models.geomatch_model import GeomatchModel
from keras_geomatch.models.geomatch_model import add_warped_image_output
from keras_geomatch.models.geomatch_model import build_geomatch_model
from keras_geomatch.models.geomatch_model import check_image_size
from keras_geomatch.models.geomatch_model import require_geomatch_model
from keras_geomatch.models.geomatch_model import smallest_image_side
from keras_geomatch.models.legacy import is_legacy_model
from keras_geomatch.models.legacy import upgrade_if_legacy
from keras_geomatch.models.legacy import upgrade_legacy_model
