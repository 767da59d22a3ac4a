"""keras-geomatch: the CNN for geometric matching (Rocco, Arandjelović, Sivic,
CVPR 2017 / TPAMI 2018) in Keras 3.

Importing the package registers its layers and loss, so saved `.keras`
models load with `keras.models.load_model` without `custom_objects`. Imported
before TensorFlow, it turns on TensorFlow's oneDNN CPU kernels, unless
`TF_ENABLE_ONEDNN_OPTS` is set (see `keras_geomatch.cpu_kernels`).

The command-line programs (`trainers/*.py`) set `KERAS_GEOMATCH_DEFER_IMPORT=1`
before importing the package: then `import keras_geomatch` loads neither
TensorFlow nor Keras, so that they can read their flags, answer `--help`
and check their input files first. The public names below are then loaded
(and the layers registered) on first use, or by `import_all()`.
"""

import importlib
import os

from keras_geomatch import cpu_kernels

cpu_kernels.prefer_onednn()

__version__ = "0.1.0"

DEFER_IMPORT_ENV = "KERAS_GEOMATCH_DEFER_IMPORT"

# The names `import_all` adds to the package.
_PUBLIC = (
    "geometry",
    "layers",
    "losses",
    "models",
    "GeomatchModel",
    "TransformedGridLoss",
    "add_warped_image_output",
    "build_geomatch_model",
    "list_pretrained",
    "load_pretrained",
)


def import_all():
    """Imports TensorFlow, Keras and the package's public API (registering its layers and loss)."""
    # importlib, not `from keras_geomatch import ...`: that would ask
    # `__getattr__` for the names, which calls this function.
    geometry = importlib.import_module("keras_geomatch.geometry")
    layers = importlib.import_module("keras_geomatch.layers")
    losses = importlib.import_module("keras_geomatch.losses")
    models = importlib.import_module("keras_geomatch.models")
    pretrained = importlib.import_module("keras_geomatch.pretrained")
    globals().update(
        geometry=geometry,
        layers=layers,
        losses=losses,
        models=models,
        GeomatchModel=models.GeomatchModel,
        TransformedGridLoss=losses.TransformedGridLoss,
        add_warped_image_output=models.add_warped_image_output,
        build_geomatch_model=models.build_geomatch_model,
        list_pretrained=pretrained.list_pretrained,
        load_pretrained=pretrained.load_pretrained,
    )


def __getattr__(name):
    # Only reached for names not loaded yet, i.e. after a deferred import.
    if name in _PUBLIC:
        import_all()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))


if os.environ.get(DEFER_IMPORT_ENV) != "1":
    import_all()
