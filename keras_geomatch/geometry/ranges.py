"""The ranges random θgt is drawn from, one dataclass per geometric model (SPEC §3).

Each geometric model's `random_theta(seed, ranges)` takes one of these;
`data.PairConfig` holds one of each, with the reference's values as defaults.

Standard library only: the command-line programs read these classes (field
names, defaults, help texts) to define their flags before TensorFlow starts.
`flag_prefix` is the prefix of the flat names (`affine_max_rotation`): the
names of the flags and of the values in error messages.
"""

import dataclasses
import math
from typing import ClassVar, Tuple


def check_range(name, value, low, high, low_open=False, high_open=False):
    """`value` as a float in the interval, else `ValueError` naming `name`."""
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


def _store(instance, name, value):
    # frozen=True forbids plain assignment, even in __post_init__.
    object.__setattr__(instance, name, value)


def _non_negative(instance, name):
    flat_name = instance.flag_prefix + name
    _store(instance, name, check_range(flat_name, getattr(instance, name), 0.0, math.inf, high_open=True))


def _field(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class AffineRanges:
    """Affine θgt: `A = R(α)·R(-φ)·diag(λ1, λ2)·R(φ)`, t = (tx, ty).

    α ~ U(±max_rotation), φ ~ U(±max_shear_angle), λ1, λ2 ~ U(scale_range),
    tx, ty ~ U(±max_translation), all independent.
    """

    flag_prefix: ClassVar[str] = "affine_"

    max_rotation: float = _field(math.pi / 12.0, "Affine θgt: max rotation α, radians.")
    max_shear_angle: float = _field(
        math.pi / 6.0, "Affine θgt: max angle φ of the scaling axes, radians."
    )
    scale_range: Tuple[float, float] = _field(
        (0.75, 1.25), "Affine θgt: range of the scales λ1, λ2: low,high."
    )
    max_translation: float = _field(0.25, "Affine θgt: max translation (normalised units).")

    def __post_init__(self):
        for name in ("max_rotation", "max_shear_angle", "max_translation"):
            _non_negative(self, name)
        scale = self.scale_range
        try:
            scale = tuple(float(s) for s in scale)
            ok = len(scale) == 2 and 0.0 < scale[0] <= scale[1] < math.inf
        except (TypeError, ValueError):
            ok = False
        if not ok:
            name = self.flag_prefix + "scale_range"
            raise ValueError(
                f"Expected {name} as (low, high) with 0 < low <= high. "
                f"Received: {name}={self.scale_range!r}"
            )
        _store(self, "scale_range", scale)


@dataclasses.dataclass(frozen=True)
class TpsRanges:
    """TPS θgt: the identity plus U(±max_offset) on each of the 18 values."""

    flag_prefix: ClassVar[str] = "tps_"

    max_offset: float = _field(0.4, "TPS θgt: max offset of each control point value.")

    def __post_init__(self):
        _non_negative(self, "max_offset")


@dataclasses.dataclass(frozen=True)
class HomographyRanges:
    """Homography θgt: the corners plus U(±max_offset) on each of the 8 values.

    `max_offset` < 0.5 keeps each corner in its own quadrant box, so the
    quadrilateral is convex and the homography well defined.
    """

    flag_prefix: ClassVar[str] = "hom_"

    max_offset: float = _field(0.4, "Homography θgt: max offset of each corner value (< 0.5).")

    def __post_init__(self):
        name = self.flag_prefix + "max_offset"
        _store(self, "max_offset", check_range(name, self.max_offset, 0.0, 0.5, high_open=True))
