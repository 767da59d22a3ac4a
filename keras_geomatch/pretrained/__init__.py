"""Trained models shipped with the package: `load_pretrained(name)`, `list_pretrained()`."""

from keras_geomatch.pretrained.pretrained_models import DEFAULT_TWO_STAGE
from keras_geomatch.pretrained.pretrained_models import is_pretrained_name
from keras_geomatch.pretrained.pretrained_models import list_pretrained
from keras_geomatch.pretrained.pretrained_models import load_pretrained
