"""The trained models that ship with the package, loaded offline by name.

    >>> import keras_geomatch as kg
    >>> kg.list_pretrained()                      # names, how trained, validation figures
    >>> model = kg.load_pretrained("affine_vgg16")           # a keras.Model
    >>> first, second = kg.load_pretrained("affine_tps_vgg16")  # two stages
    >>> kg.inference.align((first, second), "a.jpg", "b.jpg")

What ships (`keras_geomatch/pretrained/`): the VGG-16 backbone once
(`weights/vgg16_torchvision_pool4.h5`, torchvision's ImageNet weights,
BSD-3), the weights of each trained regression head (a few MB each) and
`registry.json`, written by `trainers/publish_pretrained.py` from the
training runs: for each model its stages, how it was trained (images,
pairs, epochs, time) and its figures on the synthetic validation pairs. A
model is rebuilt from these parts (a `GeomatchModel` with
`weights="torchvision"`, then its heads' weights), so no copy of the
backbone is stored per model.
"""

import json
import os

import h5py
import numpy as np

_FOLDER = os.path.dirname(os.path.abspath(__file__))
REGISTRY_FILE = os.path.join(_FOLDER, "registry.json")
WEIGHTS_FOLDER = os.path.join(_FOLDER, "weights")
DEFAULT_TWO_STAGE = "affine_tps_vgg16"


def _registry():
    if not os.path.isfile(REGISTRY_FILE):
        return {}
    with open(REGISTRY_FILE, encoding="utf-8") as f:
        return json.load(f)


def list_pretrained():
    """`{name: description dict}` of the shipped models.

    Each description has `stages` (a list of `{geometric_model, head}`),
    `backbone`, `weights`, `image_size`, `training` (images, pairs, epochs,
    time, ...) and `validation` (synthetic validation PCK, model and
    identity).
    """
    return _registry()


def _entry(name):
    registry = _registry()
    if name not in registry:
        raise ValueError(
            f"Unknown pretrained model. Expected one of {sorted(registry)}. Received: name={name!r}"
        )
    return registry[name]


def is_pretrained_name(value):
    """Whether `value` is the name of a shipped model (not a file path)."""
    return isinstance(value, str) and value in _registry()


def _build_stage(stage, entry):
    from keras_geomatch.models import GeomatchModel

    model = GeomatchModel(
        stage["geometric_model"],
        entry["backbone"],
        image_size=tuple(entry["image_size"]),
        weights=entry["weights"],
        name=f"geomatch_{stage['head'].replace('.h5', '')}",
    )
    load_head_weights(model, os.path.join(WEIGHTS_FOLDER, stage["head"]))
    return model


def load_pretrained(name):
    """Builds a shipped model with its trained weights (no download).

    Args:
        name: a key of `list_pretrained()`, e.g. 'affine_vgg16', 'tps_vgg16'
            or 'affine_tps_vgg16' (affine, then TPS on the affine-warped
            source).

    Returns:
        A `GeomatchModel` (inputs `source_image`, `target_image`, RGB in
        [0, 255]; output θ) for a one-stage name; for a two-stage name
        the tuple `(first, second)` of such models, which `align`,
        `trainers/evaluate.py` and `trainers/export.py` take as stages.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    entry = _entry(name)
    models = tuple(_build_stage(stage, entry) for stage in entry["stages"])
    return models[0] if len(models) == 1 else models


def head_weight_arrays(model):
    """`{variable path inside feature_regression: array}` of a geomatch model."""
    layer = model.get_layer("feature_regression")
    prefix = layer.name + "/"
    return {
        variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path:
        np.asarray(variable, np.float32)
        for variable in layer.weights
    }


def save_head_weights(model, path):
    """Writes the regression head's weights of `model` (HDF5, one dataset per variable)."""
    with h5py.File(path, "w") as f:
        for key, value in head_weight_arrays(model).items():
            f.create_dataset(key, data=value)


def load_head_weights(model, path):
    """Loads weights written by `save_head_weights` into `model`'s regression head.

    Raises:
        ValueError: a variable missing from the file or of another shape.
    """
    layer = model.get_layer("feature_regression")
    expected = head_weight_arrays(model)
    with h5py.File(path, "r") as f:
        problems = [
            f"{key}: expected shape {value.shape}, "
            + (f"file has {f[key].shape}" if key in f else "not in the file")
            for key, value in expected.items()
            if key not in f or f[key].shape != value.shape
        ]
        if problems:
            raise ValueError(f"Cannot load head weights from {path}: " + "; ".join(problems))
        values = {key: np.asarray(f[key]) for key in expected}
    for variable, key in zip(layer.weights, expected):
        variable.assign(values[key])
