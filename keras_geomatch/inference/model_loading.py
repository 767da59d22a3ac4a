"""Loading a saved geomatch model and checking that it is one.

A geomatch model is a `keras_geomatch.models.GeomatchModel` (possibly
wrapped, e.g. by `add_warped_image_output`): it says what it is
(`geometric_model`, `image_size`, `backbone`, ...), and the inference tools
split it on the paper's layer names (see `split_model`). Files saved by
keras-geomatch 0.1 hold a plain functional model of the same layout; they
are upgraded here (`models.legacy`), so every loader of the package takes
them. Anything else is refused early with a message that says what was
expected.
"""

import os

import keras

from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models import GeomatchModel
from keras_geomatch.models import legacy
from keras_geomatch.models import require_geomatch_model
from keras_geomatch.models.mixed_precision import set_compute_dtype_policy

GEOMATCH_LAYERS = legacy.LEGACY_LAYERS


def load_geomatch_model(path, mixed_precision=None):
    """Loads a `.keras` geomatch model saved by this project.

    Args:
        path: a `.keras` file (e.g. `saved_models/NAME/model.keras`).
        mixed_precision: None computes as saved (float32 for the models the
            trainer exports); 'auto', 'float32' or 'mixed_bfloat16' switch
            the model to that policy ('auto': bf16 where it is native; see
            `models.mixed_precision`).

    Returns:
        The `GeomatchModel` (`{source_image, target_image} → θ`); if the
        file holds a wrapper around one, the inner model; a file of
        keras-geomatch 0.1 gives the `GeomatchModel` it describes.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a Keras model file, or not a geomatch model.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model file not found: {path}")
    if not os.path.isfile(path):
        raise ValueError(
            "Expected a .keras model file (a SavedModel folder is for TF Serving only). "
            f"Received a directory: {path}"
        )
    try:
        model = keras.models.load_model(path, compile=False)
    # Keras raises many types for a bad file (ValueError, OSError, zipfile
    # errors, TypeError for unknown layers): all mean "not a model we can use".
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(
            f"Cannot load {path} as a Keras model: expected a .keras file saved by "
            f"keras-geomatch. Reason: {type(error).__name__}: {reason[:300]}"
        ) from None
    model = find_geomatch_model(model, where=path)
    if mixed_precision is not None:
        set_compute_dtype_policy(model, mixed_precision)
    return model


def find_geomatch_model(model, where=None):
    """Returns `model` or the `GeomatchModel` nested in it.

    A functional model of keras-geomatch 0.1 (e.g. loaded from an old file
    by `keras.models.load_model`) is upgraded: the result is a new
    `GeomatchModel` with a copy of its weights (`models.upgrade_legacy_model`).

    Args:
        model: a Keras model.
        where: a name for error messages (e.g. the file path).

    Raises:
        ValueError: neither `model` nor any model inside it is a geomatch
            model; the message lists the missing layers.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"Expected a keras.Model built by keras_geomatch.build_geomatch_model. "
            f"Received: {type(model).__name__}"
        )
    for candidate in _models_depth_first(model):
        if isinstance(candidate, GeomatchModel):
            return candidate
        if legacy.is_legacy_model(candidate):
            return legacy.upgrade_legacy_model(candidate)
    missing = _missing_layers(model)
    label = f" ({where})" if where else ""
    raise ValueError(
        f"Expected a geomatch model{label}: inputs {SOURCE_IMAGE!r} and {TARGET_IMAGE!r} "
        f"and the layers {list(GEOMATCH_LAYERS)}. Received: model {model.name!r} without "
        f"{missing or 'the inputs'}"
    )


def describe_geomatch_model(model):
    """A short description, e.g. `'affine, 240×240 input (geomatch_affine_vgg16)'`."""
    model = require_geomatch_model(model)
    height, width = model.image_size
    return f"{model.geometric_model}, {height}×{width} input ({model.name})"


def _models_depth_first(model):
    yield model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _models_depth_first(layer)


def _missing_layers(model):
    names = {layer.name for layer in model.layers}
    return [name for name in GEOMATCH_LAYERS if name not in names]


def load_stages(model, model2=None, mixed_precision=None):
    """The one or two stages a user names, as `(first, second or None)`.

    Args:
        model: a geomatch `keras.Model`, the path of a `.keras` file, the
            name of a shipped model (`keras_geomatch.list_pretrained()`;
            a two-stage name gives both stages), or a `(first, second)` pair
            (what `load_pretrained` returns for two stages).
        model2: optional second stage (model, path or one-stage name); not
            with a two-stage `model`.
        mixed_precision: as in `load_geomatch_model`, for every stage.

    Raises:
        ValueError: two second stages, or what loading raises.
    """
    from keras_geomatch import pretrained

    def one(value, what):
        named = isinstance(value, str) and not os.path.exists(value)
        if named and pretrained.is_pretrained_name(value):
            value = pretrained.load_pretrained(value)
        if isinstance(value, (tuple, list)):
            return tuple(one(v, what) for v in value)
        if isinstance(value, (str, os.PathLike)):
            return load_geomatch_model(value, mixed_precision=mixed_precision)
        try:
            value = find_geomatch_model(value)
        except ValueError as error:
            raise ValueError(f"{what}: {error}") from None
        if mixed_precision is not None:
            set_compute_dtype_policy(value, mixed_precision)
        return value

    first = one(model, "model")
    second = None if model2 is None else one(model2, "model2")
    if isinstance(first, tuple):
        if len(first) != 2 or second is not None:
            raise ValueError(
                "Expected one or two stages in all. Received: a model of "
                f"{len(first)} stages{' and a second stage' if second is not None else ''}"
            )
        first, second = first
    if isinstance(second, tuple):
        raise ValueError("Expected model2 to be one stage. Received: a two-stage model")
    return first, second
