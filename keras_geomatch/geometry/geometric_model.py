"""`GeometricModel`: everything the package knows about one family of transformations.

Each geometry file (`affine.py`, `homography.py`, `tps.py`) defines its
entries; `transforms.GEOMETRIC_MODELS` lists them, one line each. Nothing
else branches on a model's name: the grid layer, the loss, the data pipeline
and the exporter all go through an entry.
"""

import dataclasses
from typing import Callable, Tuple

# The names of the built-in `transforms.GEOMETRIC_MODELS`, readable without
# TensorFlow so that the programs check --geometric_model before it starts (a
# test pins the two together; a built-in model adds its name here too).
GEOMETRIC_MODEL_NAMES = ("affine", "hom", "hom_matrix", "tps")


def no_map_options():
    """The `map_options` of a model whose point map takes no options."""
    return {}


@dataclasses.dataclass(frozen=True)
class GeometricModel:
    """A family of transformations: θ's size and identity, its point map and random θ.

    Attributes:
        name: the `geometric_model` string.
        num_params: size of θ.
        identity: θ of the identity transformation, `num_params` floats.
        map_points: `(theta (batch, num_params), points (batch, n, 2) or
            shared (n, 2), **options) -> (batch, n, 2)`, target → source.
        random_theta: `(seed (2,) ints, ranges) -> (num_params,)`
            float32, a stateless random θgt (SPEC §3).
        ranges: the dataclass `random_theta` takes (`geometry.ranges`).
        map_options: `(**options) -> dict`: checks the options of
            `map_points` and returns them complete; called with no arguments
            it gives their names and defaults (TPS: `{"reg_factor": 0.0}`).
    """

    name: str
    num_params: int
    identity: Tuple[float, ...]
    map_points: Callable
    random_theta: Callable
    ranges: type
    map_options: Callable = no_map_options
