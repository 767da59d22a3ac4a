"""Geometry of keras-geomatch: one implementation of every transformation.

Conventions (SPEC §2), stated once here and pinned by `tests/geometry`:

* Images are channels-last `(batch, height, width, channels)`.
* A point is `(x, y)`: x runs along the width (column), y along the height (row).
* Normalised coordinates lie in [-1, 1] and are **corner-aligned**
  (align_corners=True): -1 and +1 are the centres of the first and last
  pixels, so `x_n = 2 * x / (W - 1) - 1` for a 0-based pixel x.
* θ maps **target to source** (backward warping): for a point p of the target
  grid, `T_θ(p)` is where the source is sampled. Warping the source with θ
  gives an image aligned with the target.
* Bilinear sampling outside the image reads zeros.

Everything that warps or maps points (layers, the data pipeline, metrics,
export) calls the functions below; there is no second copy of a warp. Each
geometric model is one `GeometricModel` entry of `GEOMETRIC_MODELS`, defined
in its own file (`affine.py`, `homography.py`, `tps.py`).

The ranges of random θgt (`ranges.py`) and `GeometricModel` are imported
here; everything else on first use, so that `data.PairConfig` and the
ranges can be read without starting TensorFlow (the command-line programs
define their flags from them).
"""

from keras_geomatch.geometry.geometric_model import GeometricModel
from keras_geomatch.geometry.ranges import AffineRanges
from keras_geomatch.geometry.ranges import HomographyRanges
from keras_geomatch.geometry.ranges import TpsRanges
from keras_geomatch.lazy_names import lazy_names

# Public name -> the submodule defining it (these import TensorFlow).
_LAZY = {
    "affine_map_points": "affine",
    "identity_grid": "coordinates",
    "normalized_to_pixel": "coordinates",
    "pixel_to_normalized": "coordinates",
    "homography_4pt_to_matrix": "homography",
    "homography_map_points": "homography",
    "resize_images": "resize",
    "bilinear_sample": "sampler",
    "TPS_CONTROL_X": "tps",
    "TPS_CONTROL_Y": "tps",
    "tps_coefficients": "tps",
    "tps_map_points": "tps",
    "GEOMETRIC_MODELS": "transforms",
    "compose_map_points": "transforms",
    "get_geometric_model": "transforms",
    "identity_theta": "transforms",
    "map_points": "transforms",
    "transform_grid": "transforms",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
