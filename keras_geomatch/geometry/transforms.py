"""The registry of geometric models and the functions everything else calls.

`geometric_model` is one of `GEOMETRIC_MODELS`:

| name         | θ size | θ layout                                  |
|--------------|--------|-------------------------------------------|
| `affine`     | 6      | [a11, a12, tx, a21, a22, ty]              |
| `hom`        | 8      | source positions of the 4 target corners |
| `hom_matrix` | 9      | the 3×3 matrix, row-major                 |
| `tps`        | 18     | source positions of the 3×3 control grid  |

All map target → source in normalised, corner-aligned coordinates.

A new model is one geometry file defining its `GeometricModel` (θ size,
identity, point map, random θ, ranges) plus one line below; if it needs new
ranges, a dataclass in `ranges.py` and a field of `data.PairConfig`.
"""

import numpy as np
import tensorflow as tf

from keras_geomatch.geometry import affine
from keras_geomatch.geometry import coordinates
from keras_geomatch.geometry import homography
from keras_geomatch.geometry import tps
from keras_geomatch.geometry.geometric_model import GeometricModel

# One line per model; each entry is defined in its own geometry file.
GEOMETRIC_MODELS = {
    model.name: model
    for model in (
        affine.AFFINE,
        homography.HOMOGRAPHY_4PT,
        homography.HOMOGRAPHY_MATRIX,
        tps.TPS,
    )
}


def get_geometric_model(name):
    """Looks up a `GeometricModel` by name; unknown names raise `ValueError`."""
    if isinstance(name, GeometricModel):
        return name
    if name not in GEOMETRIC_MODELS:
        raise ValueError(
            f"Unknown geometric_model. Expected one of "
            f"{sorted(GEOMETRIC_MODELS)}. Received: geometric_model={name!r}"
        )
    return GEOMETRIC_MODELS[name]


def identity_theta(geometric_model, batch_size=None, dtype="float32"):
    """Identity θ, `(num_params,)`, or `(batch_size, num_params)` if given."""
    model = get_geometric_model(geometric_model)
    theta = np.asarray(model.identity, dtype=dtype)
    if batch_size is not None:
        theta = np.tile(theta[None], (batch_size, 1))
    return theta


def check_theta_shape(shape, geometric_model):
    """Raises `ValueError` unless θ's shape is `(batch, num_params)`."""
    model = get_geometric_model(geometric_model)
    shape = tuple(shape)
    if len(shape) != 2 or (shape[-1] is not None and shape[-1] != model.num_params):
        raise ValueError(
            f"Expected theta of shape (batch, {model.num_params}) for "
            f"geometric_model={model.name!r}. Received: shape={shape}"
        )


def map_points(theta, points, geometric_model, **options):
    """Maps normalised target points to the source by θ.

    Args:
        theta: `(batch, num_params)`.
        points: `(batch, n, 2)` normalised `(x, y)` on the target, or `(n, 2)`
            shared by the whole batch.
        geometric_model: a name from `GEOMETRIC_MODELS`.
        **options: passed to the model's map (e.g. `reg_factor` for TPS).

    Returns:
        `(batch, n, 2)` normalised points on the source, float32 (θ of a
        lower precision is cast: coordinates are computed in float32).
    """
    model = get_geometric_model(geometric_model)
    theta = tf.cast(theta, "float32")
    check_theta_shape(theta.shape, model)
    points = tf.cast(points, "float32")
    # Shared `(n, 2)` points go to the map unbroadcast: each map returns
    # `(batch, n, 2)` and computes what depends only on the points once
    # (the TPS kernel values of a 240×240 grid, for instance).
    return model.map_points(theta, points, **options)


def compose_map_points(points, stages):
    """Maps target points through several stages, the last applied first.

    For a two-stage alignment (SPEC §4) `stages = [("affine", θ1), ("tps", θ2)]`
    gives T_θ1(T_θ2(p)): stage 2 was estimated between the stage-1-warped
    source and the target, so a target point goes through it first.

    Args:
        points: as in `map_points`.
        stages: sequence of `(geometric_model, theta)`.
    """
    for geometric_model, theta in reversed(list(stages)):
        points = map_points(theta, points, geometric_model)
    return points


def transform_grid(theta, geometric_model, height, width, **options):
    """The sampling grid `(batch, height, width, 2)` of θ over a target image."""
    grid = coordinates.identity_grid(height, width)
    points = map_points(
        theta, tf.reshape(grid, [height * width, 2]), geometric_model, **options
    )
    return tf.reshape(points, [-1, height, width, 2])
