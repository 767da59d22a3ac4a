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
export) calls the functions below; there is no second copy of a warp.
"""

from keras_geomatch.geometry.affine import affine_map_points
from keras_geomatch.geometry.coordinates import identity_grid
from keras_geomatch.geometry.coordinates import normalized_to_pixel
from keras_geomatch.geometry.coordinates import pixel_to_normalized
from keras_geomatch.geometry.homography import homography_4pt_to_matrix
from keras_geomatch.geometry.homography import homography_map_points
from keras_geomatch.geometry.resize import resize_images
from keras_geomatch.geometry.sampler import bilinear_sample
from keras_geomatch.geometry.tps import TPS_CONTROL_X
from keras_geomatch.geometry.tps import TPS_CONTROL_Y
from keras_geomatch.geometry.tps import tps_coefficients
from keras_geomatch.geometry.tps import tps_map_points
from keras_geomatch.geometry.transforms import GEOMETRIC_MODELS
from keras_geomatch.geometry.transforms import GeometricModel
from keras_geomatch.geometry.transforms import compose_map_points
from keras_geomatch.geometry.transforms import get_geometric_model
from keras_geomatch.geometry.transforms import identity_theta
from keras_geomatch.geometry.transforms import map_points
from keras_geomatch.geometry.transforms import transform_grid
