"""`PairConfig`: how synthetic training pairs are made (SPEC §3).

The defaults are the reference's: images resized to 480×640 (H×W), mirror
padded by half their size on each side, a crop factor of 9/16, output pairs
of 240×240, and the random θ ranges of `keras_geomatch.geometry.ranges`.

Flat names. The command-line programs define one flag per value, named by
flattening the fields: a field whose metadata has a `flag_prefix` holds a
nested ranges dataclass, and each of its fields `f` becomes
`flag_prefix + f` (`affine.max_rotation` → `affine_max_rotation`,
`tps.max_offset` → `tps_max_offset`); every other field keeps its name.
Every field has its help text in `metadata["help"]`.

Only the standard library is imported here (and `geometry.ranges`, which
imports nothing else): flags are defined, and a `PairConfig` is built and
checked, before TensorFlow starts.
"""

import dataclasses
import sys
from typing import Tuple

from keras_geomatch.geometry.geometric_model import GEOMETRIC_MODEL_NAMES
from keras_geomatch.geometry.geometric_model import GeometricModel
from keras_geomatch.geometry.ranges import AffineRanges
from keras_geomatch.geometry.ranges import HomographyRanges
from keras_geomatch.geometry.ranges import TpsRanges
from keras_geomatch.geometry.ranges import check_range


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


def _check_geometric_model(name):
    """The name of a geometric model (a name or a `GeometricModel`), without TensorFlow.

    The built-in names are known without the registry; a model registered
    at run time (an entry added to `transforms.GEOMETRIC_MODELS`) is known
    once the registry is loaded, which adding it did.
    """
    if isinstance(name, GeometricModel):
        name = name.name
    known = set(GEOMETRIC_MODEL_NAMES)
    registry = sys.modules.get("keras_geomatch.geometry.transforms")
    if registry is not None:
        known.update(registry.GEOMETRIC_MODELS)
    if name not in known:
        raise ValueError(
            f"Unknown geometric_model. Expected one of {sorted(known)}. "
            f"Received: geometric_model={name!r}"
        )
    return name


def _field(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


def _ranges_field(ranges_class, help_text):
    return dataclasses.field(
        default_factory=ranges_class,
        metadata={"flag_prefix": ranges_class.flag_prefix, "help": help_text},
    )


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

    Random θgt: `geometric_model`'s `random_theta` with its ranges from
    `ranges_for()`; the distributions are described by the ranges classes
    (`geometry.AffineRanges`, `TpsRanges`, `HomographyRanges`).

    Attributes:
        geometric_model: one of `keras_geomatch.geometry.GEOMETRIC_MODELS`.
        image_size: `(height, width)` of the source and target images.
        resize_size: `(height, width)` every image is resized to first.
        padding_factor: mirror padding on each side, a fraction of the size,
            in (0, 1].
        crop_factor: in (0, 1]; see above.
        affine: `AffineRanges` of affine θgt (a dict of its fields works too).
        tps: `TpsRanges` of TPS θgt.
        hom: `HomographyRanges` of homography θgt (`hom` and `hom_matrix`).

    Example:
        >>> config = PairConfig("tps", image_size=(64, 64), tps={"max_offset": 0.2})
        >>> config.grid_scale
        0.28125
        >>> config.ranges_for()
        TpsRanges(max_offset=0.2)
    """

    geometric_model: str = dataclasses.field(
        default="affine",
        metadata={"help": "Geometric model of θ.", "choices": GEOMETRIC_MODEL_NAMES},
    )
    image_size: Tuple[int, int] = _field(
        (240, 240), "Size of the source and target images: height,width."
    )
    resize_size: Tuple[int, int] = _field(
        (480, 640), "Images are resized to height,width before cutting pairs."
    )
    padding_factor: float = _field(
        0.5, "Mirror padding on each side, a fraction of the size."
    )
    crop_factor: float = _field(
        9.0 / 16.0,
        "In (0, 1]: the pair's grids are scaled by padding_factor·crop_factor in the padded "
        "image (with the default padding, the fraction of the resized image the source covers).",
    )
    affine: AffineRanges = _ranges_field(AffineRanges, "Ranges of random affine θgt.")
    tps: TpsRanges = _ranges_field(TpsRanges, "Ranges of random TPS θgt.")
    hom: HomographyRanges = _ranges_field(HomographyRanges, "Ranges of random homography θgt.")

    def __post_init__(self):
        # frozen=True forbids plain assignment, even in __post_init__.
        def store(name, value):
            object.__setattr__(self, name, value)

        store("geometric_model", _check_geometric_model(self.geometric_model))
        store("image_size", _check_size("image_size", self.image_size))
        store("resize_size", _check_size("resize_size", self.resize_size))
        store("padding_factor", check_range("padding_factor", self.padding_factor, 0.0, 1.0, low_open=True))
        store("crop_factor", check_range("crop_factor", self.crop_factor, 0.0, 1.0, low_open=True))
        for field in _ranges_fields():
            store(field.name, _as_ranges(field, getattr(self, field.name)))

    def ranges_for(self, geometric_model=None):
        """The ranges of `geometric_model`'s random θgt (default: this config's model)."""
        from keras_geomatch.geometry import transforms

        model = transforms.get_geometric_model(geometric_model or self.geometric_model)
        for field in _ranges_fields():
            ranges = getattr(self, field.name)
            if isinstance(ranges, model.ranges):
                return ranges
        raise ValueError(
            f"PairConfig has no field of type {model.ranges.__name__} for "
            f"geometric_model={model.name!r}: add one (a new model's ranges)."
        )

    @property
    def num_params(self):
        """Size of θ for `geometric_model`."""
        from keras_geomatch.geometry import transforms

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


def _ranges_fields():
    return [f for f in dataclasses.fields(PairConfig) if "flag_prefix" in f.metadata]


def _as_ranges(field, value):
    """The ranges dataclass of `field` from an instance or a dict of its fields."""
    ranges_class = field.default_factory
    if isinstance(value, ranges_class):
        return value
    if isinstance(value, dict):
        names = {f.name for f in dataclasses.fields(ranges_class)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(
                f"Unknown {field.name} range(s) {unknown}. Expected some of "
                f"{sorted(names)}. Received: {field.name}={value!r}"
            )
        return ranges_class(**value)
    raise ValueError(
        f"Expected {field.name} as a {ranges_class.__name__} or a dict of its fields. "
        f"Received: {field.name}={value!r}"
    )
