"""Models saved by keras-geomatch 0.1, before `GeomatchModel`: read once, upgraded.

Version 0.1's `build_geomatch_model` returned a plain functional
`keras.Model`; its `.keras` files load as such (`Functional`), which does
not say what it is. `upgrade_legacy_model` reads that v0.1 layout (the
named layers below, θ's size, the backbone's layer names) and rebuilds the
`GeomatchModel` it was, with the same weights. This is the only place that
reads the v0.1 layout; our loaders (`inference.load_geomatch_model`,
`load_stages`, and so align, evaluate and export) call it, so old files
keep working:

    >>> model = keras.models.load_model("old.keras")   # a Functional
    >>> model = upgrade_legacy_model(model)            # a GeomatchModel
    >>> model.save("new.keras")                        # in the current layout
"""

import keras
import numpy as np

from keras_geomatch import geometry
from keras_geomatch.models.geomatch_model import SOURCE_IMAGE
from keras_geomatch.models.geomatch_model import TARGET_IMAGE
from keras_geomatch.models.geomatch_model import GeomatchModel

# The layers every v0.1 geomatch model has (paper names).
LEGACY_LAYERS = (
    "preprocess",
    "feature_extraction",
    "feature_l2_norm",
    "feature_correlation",
    "feature_regression",
)


def is_legacy_model(model):
    """Whether `model` is a geomatch model of the v0.1 layout (not a `GeomatchModel`)."""
    if isinstance(model, GeomatchModel) or not isinstance(model, keras.Model):
        return False
    names = {layer.name for layer in model.layers}
    if not all(name in names for name in LEGACY_LAYERS):
        return False
    try:
        inputs = model.input
    except (AttributeError, ValueError):  # a subclassed model that was never called
        return False
    return isinstance(inputs, dict) and {SOURCE_IMAGE, TARGET_IMAGE} <= set(inputs)


# --- Reading the v0.1 layout (nothing else should) ---


def _legacy_geometric_model(model):
    # v0.1: the geometric model is the one whose θ has the regression's size.
    num_params = model.get_layer("feature_regression").output_dim
    for spec in geometry.GEOMETRIC_MODELS.values():
        if spec.num_params == num_params:
            return spec.name
    raise ValueError(f"No geometric model has {num_params} parameters (θ of {model.name!r})")


def _legacy_backbone(model):
    # v0.1: the backbone is recognised from the layer names of 'feature_extraction'.
    names = {layer.name for layer in model.get_layer("feature_extraction").layers}
    if "conv4_block23_out" in names:
        # Only the torchvision layout pads before its stride-2 3×3 convs.
        return "resnet101_torch" if "conv3_block1_2_pad" in names else "resnet101"
    if "block4_pool" in names:
        return "vgg16"
    if "block3_pool" in names:
        return "small"
    raise ValueError(
        f"Cannot tell the backbone of the v0.1 model {model.name!r} from the layer names "
        "of its 'feature_extraction'"
    )


def _legacy_image_size(model):
    shape = model.input[SOURCE_IMAGE].shape
    if shape[1] is None or shape[2] is None:
        raise ValueError(f"Expected a fixed input size. Received: input shape {shape}")
    return int(shape[1]), int(shape[2])


def legacy_description(model):
    """The `GeomatchModel` arguments of a v0.1 model, read from its layout."""
    names = {layer.name for layer in model.layers}
    feature_extraction = model.get_layer("feature_extraction")
    return {
        "geometric_model": _legacy_geometric_model(model),
        "backbone": _legacy_backbone(model),
        "image_size": _legacy_image_size(model),
        "preprocessing": model.get_layer("preprocess").mode,
        "normalize_matches": "match_l2_norm" in names,
        "train_backbone": feature_extraction.trainable,
        "name": model.name,
        "trainable": model.trainable,
        "dtype": feature_extraction.dtype_policy.name,
    }


def upgrade_legacy_model(model):
    """The `GeomatchModel` a v0.1 functional geomatch model was, with its weights.

    Args:
        model: a geomatch model of the v0.1 layout, e.g. what
            `keras.models.load_model` returns for a `.keras` file saved by
            keras-geomatch 0.1 (not a wrapper: see
            `inference.find_geomatch_model`). A `GeomatchModel` is returned
            as it is.

    Returns:
        A new `GeomatchModel` (its own variables, copied from `model`).

    Raises:
        ValueError: not a v0.1 geomatch model, or its weights do not fit.
    """
    if isinstance(model, GeomatchModel):
        return model
    if not is_legacy_model(model):
        raise ValueError(
            "Expected a geomatch model of keras-geomatch 0.1: inputs "
            f"{SOURCE_IMAGE!r} and {TARGET_IMAGE!r} and the layers {list(LEGACY_LAYERS)}. "
            f"Received: {type(model).__name__} {getattr(model, 'name', '')!r}"
        )
    upgraded = GeomatchModel(weights=None, **legacy_description(model))
    _check_same_layers(model, upgraded)
    copied = set()
    for layer in upgraded.layers:
        if not layer.weights:
            continue
        try:
            old = model.get_layer(layer.name)
            layer.set_weights(old.get_weights())
        except ValueError as error:
            raise ValueError(
                f"Cannot upgrade the v0.1 model {model.name!r}: layer {layer.name!r} "
                f"does not fit ({error})"
            ) from None
        copied.add(layer.name)
    left = [layer.name for layer in model.layers if layer.weights and layer.name not in copied]
    if left:
        raise ValueError(
            f"Cannot upgrade the v0.1 model {model.name!r}: its layers {left} have weights "
            "that the rebuilt model has no place for"
        )
    _check_same_theta(model, upgraded)
    return upgraded


def _check_same_layers(model, upgraded):
    old = sorted(layer.name for layer in model.layers)
    new = sorted(layer.name for layer in upgraded.layers)
    if old != new:
        raise ValueError(
            f"Cannot upgrade {model.name!r}: expected the standard geomatch graph of "
            "keras-geomatch 0.1. Its layers differ: "
            f"extra {sorted(set(old) - set(new))}, missing {sorted(set(new) - set(old))}"
        )


def _check_same_theta(model, upgraded):
    # Same names could still be wired differently: the two must compute the same θ.
    from keras_geomatch.models.mixed_precision import computing_in

    rng = np.random.default_rng(0)
    shape = (1, *upgraded.image_size, 3)
    inputs = {
        SOURCE_IMAGE: rng.uniform(0.0, 255.0, shape).astype(np.float32),
        TARGET_IMAGE: rng.uniform(0.0, 255.0, shape).astype(np.float32),
    }
    with computing_in(model, "float32"), computing_in(upgraded, "float32"):
        expected = np.asarray(model(inputs, training=False))
        received = np.asarray(upgraded(inputs, training=False))
    if not np.allclose(received, expected, rtol=0.0, atol=1e-4 * (1.0 + np.abs(expected).max())):
        raise ValueError(
            f"Cannot upgrade {model.name!r}: expected the standard geomatch graph of "
            f"keras-geomatch 0.1. The rebuilt model's θ differs: {expected.tolist()} "
            f"before, {received.tolist()} rebuilt"
        )


def upgrade_if_legacy(model):
    """`upgrade_legacy_model(model)` for a v0.1 geomatch model, else `model` unchanged."""
    return upgrade_legacy_model(model) if is_legacy_model(model) else model
