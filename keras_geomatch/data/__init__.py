"""Synthetic training pairs (SPEC §3): image files → `tf.data` pipeline.

    files = list_image_files("VOC2011/JPEGImages")       # or read_image_list(...)
    config = PairConfig("affine", image_size=(240, 240))
    dataset = make_pair_dataset(files, config, batch_size=16, seed=0)
    # ({"source_image": (16, 240, 240, 3), "target_image": ...}, theta_gt (16, 6))

Without any data set, `builtin_sample_images()` gives a few photographs
shipped with scikit-image.
"""

from keras_geomatch.data.augmentation import ViewAugmentation
from keras_geomatch.data.image_check import CHECK_MODES
from keras_geomatch.data.image_check import SkippedImages
from keras_geomatch.data.image_check import check_image_file
from keras_geomatch.data.image_check import check_image_files
from keras_geomatch.data.image_decoding import decode_rgb
from keras_geomatch.data.image_decoding import load_resized_image
from keras_geomatch.data.image_files import IMAGE_EXTENSIONS
from keras_geomatch.data.image_files import list_image_files
from keras_geomatch.data.image_files import read_image_list
from keras_geomatch.data.pair_config import PairConfig
from keras_geomatch.data.pair_dataset import make_pair_dataset
from keras_geomatch.data.random_theta import random_theta
from keras_geomatch.data.sample_images import builtin_sample_images
from keras_geomatch.data.synthetic_pair import crop_grid_to_image_grid
from keras_geomatch.data.synthetic_pair import make_synthetic_pair
from keras_geomatch.data.synthetic_pair import make_synthetic_pairs
