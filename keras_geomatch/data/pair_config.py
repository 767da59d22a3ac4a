"""`PairConfig`: how synthetic training pairs are made (SPEC §3).

The defaults are the reference's: images resized to 480×640 (H×W), mirror
padded by half their size on each side, a crop factor of 9/16, output pairs
of 240×240, and the random θ ranges below.
"""

import dataclasses
import math
from typing import Tuple

from keras_geomatch.geometry import transforms


def _check_size(name, value):
    try:
        size = tuple(int(v) for v in value)
        ok = len(size) == 2 and all(v >= 2 and v == w for v, w in zip(size, value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"Expected {name} as (height, width), two integers >= 2. Received: {name}={value!r}"
        )
    return size


def _check_range(name, value, low, high, low_open=False, high_open=False):
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = math.nan
    ok = math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"Expected {name} in {interval}. Received: {name}={value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class PairConfig:
    """How a synthetic pair is cut from one image and how θgt is drawn.

    Geometry of a pair: the image is resized to `resize_size`, mirror padded
    by `int(padding_factor · size)` pixels on each side, and sampled twice at
    `image_size`: the source on the identity grid and the target on the grid
    of T_θgt, both grids scaled by `grid_scale = padding_factor ·
    crop_factor` (0.28125) in the padded image's normalised coordinates.
    With the default padding of one half, the padded image spans twice the
    resized one, so the source is the central `crop_factor` (9/16) of the
    resized image in each direction.

    Random θgt (each U(a, b) independent, SPEC §3):

    * affine: `A = R(α)·R(-φ)·diag(λ1, λ2)·R(φ)`, α ~ U(±affine_max_rotation),
      φ ~ U(±affine_max_shear_angle), λ1, λ2 ~ U(affine_scale_range),
      tx, ty ~ U(±affine_max_translation); θ = [a11, a12, tx, a21, a22, ty].
    * tps: identity θ + U(±tps_max_offset) on each of the 18 values.
    * hom: the corners + U(±hom_max_offset) on each of the 8 values;
      `hom_matrix`: the same homography as a 9-value matrix (h33 = 1).

    Attributes:
        geometric_model: one of `keras_geomatch.geometry.GEOMETRIC_MODELS`.
        image_size: `(height, width)` of the source and target images.
        resize_size: `(height, width)` every image is resized to first.
        padding_factor: mirror padding on each side, a fraction of the size,
            in (0, 1].
        crop_factor: in (0, 1]; see above.
        affine_max_rotation: radians, >= 0.
        affine_max_shear_angle: radians, >= 0 (φ, the axis of the scaling).
        affine_scale_range: `(low, high)` with 0 < low <= high.
        affine_max_translation: >= 0, in normalised units.
        tps_max_offset: >= 0, in normalised units.
        hom_max_offset: in [0, 0.5): below 0.5 each corner stays in its own
            quadrant box, so the quadrilateral is convex and the homography
            well defined.

    Example:
        >>> config = PairConfig("tps", image_size=(64, 64))
        >>> config.grid_scale
        0.28125
    """

    geometric_model: str = "affine"
    image_size: Tuple[int, int] = (240, 240)
    resize_size: Tuple[int, int] = (480, 640)
    padding_factor: float = 0.5
    crop_factor: float = 9.0 / 16.0
    affine_max_rotation: float = math.pi / 12.0
    affine_max_shear_angle: float = math.pi / 6.0
    affine_scale_range: Tuple[float, float] = (0.75, 1.25)
    affine_max_translation: float = 0.25
    tps_max_offset: float = 0.4
    hom_max_offset: float = 0.4

    def __post_init__(self):
        # frozen=True forbids plain assignment, even in __post_init__.
        def store(name, value):
            object.__setattr__(self, name, value)

        store("geometric_model", transforms.get_geometric_model(self.geometric_model).name)
        store("image_size", _check_size("image_size", self.image_size))
        store("resize_size", _check_size("resize_size", self.resize_size))
        store("padding_factor", _check_range("padding_factor", self.padding_factor, 0.0, 1.0, low_open=True))
        store("crop_factor", _check_range("crop_factor", self.crop_factor, 0.0, 1.0, low_open=True))
        for name in (
            "affine_max_rotation",
            "affine_max_shear_angle",
            "affine_max_translation",
            "tps_max_offset",
        ):
            store(name, _check_range(name, getattr(self, name), 0.0, math.inf, high_open=True))
        store("hom_max_offset", _check_range("hom_max_offset", self.hom_max_offset, 0.0, 0.5, high_open=True))
        scale = self.affine_scale_range
        try:
            scale = tuple(float(s) for s in scale)
            ok = len(scale) == 2 and 0.0 < scale[0] <= scale[1] < math.inf
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                "Expected affine_scale_range as (low, high) with 0 < low <= high. "
                f"Received: affine_scale_range={self.affine_scale_range!r}"
            )
        store("affine_scale_range", scale)

    @property
    def num_params(self):
        """Size of θ for `geometric_model`."""
        return transforms.get_geometric_model(self.geometric_model).num_params

    @property
    def grid_scale(self):
        """Scale of the sampling grids in the padded image (0.28125 by default)."""
        return self.padding_factor * self.crop_factor

    @property
    def padding(self):
        """`(pad_height, pad_width)` in pixels, on each side of the resized image."""
        return tuple(int(s * self.padding_factor) for s in self.resize_size)

    @property
    def padded_size(self):
        """`(height, width)` of the mirror-padded image (960×1280 by default)."""
        return tuple(s + 2 * p for s, p in zip(self.resize_size, self.padding))
