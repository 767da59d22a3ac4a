"""A handful of photographs for trying the pipeline without any download.

They are the colour photographs shipped inside the scikit-image wheel
(`skimage/data/`), read as files: scikit-image is only used to locate its
folder, none of its fetchers (which may download) is called.

Fixed split, chosen by hand and disjoint:

* train (7): astronaut, coffee, hubble_deep_field, ihc, motorcycle_left,
  motorcycle_right, retina. The two motorcycle images are a stereo pair of
  one scene, so both stay on the same side of the split.
* val (2): chelsea (a cat), rocket.

Left out: grayscale images (camera, moon, coins, ...), synthetic or binary
images (horse silhouette, logo, chessboard, color wheel, phantom) and the
tiny GIF.
"""

import importlib.util
import os

SAMPLE_TRAIN_NAMES = (
    "astronaut.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "retina.jpg",
)
SAMPLE_VAL_NAMES = ("chelsea.png", "rocket.jpg")


def _skimage_data_folder():
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The built-in sample images are the photographs shipped with scikit-image, "
            'which is not installed. Install it with: pip install "keras-geomatch[samples]"'
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def builtin_sample_images():
    """The scikit-image sample photographs, split into train and val.

    Returns:
        `(train_files, val_files)`: lists of absolute paths, 7 and 2 files,
        disjoint (see the module docstring for the split).

    Raises:
        ImportError: scikit-image is not installed.
        FileNotFoundError: the installed scikit-image lacks one of the files.

    Example:
        >>> train_files, val_files = builtin_sample_images()
    """
    folder = _skimage_data_folder()
    train = [os.path.join(folder, name) for name in SAMPLE_TRAIN_NAMES]
    val = [os.path.join(folder, name) for name in SAMPLE_VAL_NAMES]
    missing = [f for f in train + val if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(
            f"Expected the sample photographs in the scikit-image package folder {folder!r}. "
            f"Missing: {missing}"
        )
    return train, val
