"""Synthetic training pairs (SPEC §3): image files → `tf.data` pipeline.

    files = list_image_files("VOC2011/JPEGImages")       # or read_image_list(...)
    config = PairConfig("affine", image_size=(240, 240))
    dataset = make_pair_dataset(files, config, batch_size=16, seed=0)
    # ({"source_image": (16, 240, 240, 3), "target_image": ...}, theta_gt (16, 6))

Without any data set, `builtin_sample_images()` gives a few photographs
shipped with scikit-image.

`PairConfig` and `random_theta` are imported here (neither starts
TensorFlow on import); the rest on first use, so that the command-line
programs read the config without starting TensorFlow.
"""

from keras_geomatch.data.pair_config import PairConfig
from keras_geomatch.data.random_theta import random_theta
from keras_geomatch.lazy_names import lazy_names

# Public name -> the submodule defining it (these import TensorFlow).
_LAZY = {
    "ViewAugmentation": "augmentation",
    "CHECK_MODES": "image_check",
    "SkippedImages": "image_check",
    "check_image_file": "image_check",
    "check_image_files": "image_check",
    "decode_rgb": "image_decoding",
    "load_resized_image": "image_decoding",
    "IMAGE_EXTENSIONS": "image_files",
    "list_image_files": "image_files",
    "read_image_list": "image_files",
    "make_pair_dataset": "pair_dataset",
    "builtin_sample_images": "sample_images",
    "crop_grid_to_image_grid": "synthetic_pair",
    "make_synthetic_pair": "synthetic_pair",
    "make_synthetic_pairs": "synthetic_pair",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
