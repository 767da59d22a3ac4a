"""The geometric matching CNN (Rocco et al. 2017) as a model that describes itself.

    source_image ─┐                                  ┌─ feature_l2_norm ─┐
                  ├─ preprocess ─ feature_extraction ┤                   ├─ feature_correlation
    target_image ─┘   (shared, siamese)              └─ feature_l2_norm ─┘
        ─ match_relu ─ match_l2_norm ─ feature_regression ─ θ

`GeomatchModel` is a functional `keras.Model` built in its `__init__` (the
keras-hub `Backbone` pattern): it holds what it is (`geometric_model`,
`backbone`, `image_size`, `preprocessing`, `normalize_matches`,
`train_backbone`), its config rebuilds it, and a `.keras` file loads back
as a `GeomatchModel` (after `import keras_geomatch`), without downloading
backbone weights again. Export, inference, evaluation and the converter
read these attributes. Files saved before this class existed (plain
functional models) are read by `models.legacy`.

Inputs are RGB images in [0, 255] (float, `(batch, H, W, 3)`); the model
normalises them itself for its backbone's weights, so exported models take
raw pixels. θ maps target → source (see `keras_geomatch.geometry`).

The siamese backbone runs once on the sources and targets concatenated along
the batch axis (`pair_batch` → … → `feature_l2_norm` → `pair_split`), which
is faster on CPU than two calls and gives the same features; backbones with
BatchNormalization (ResNet) are called once per image set instead, so that
training-mode batch statistics never mix A and B. Either way the layers
named above are the same objects, applied in the same order.
"""

import keras

from keras_geomatch import geometry
from keras_geomatch import layers as gm_layers
from keras_geomatch.layers import feature_regression as feature_regression_module
from keras_geomatch.models import backbones

SOURCE_IMAGE = "source_image"
TARGET_IMAGE = "target_image"
# Keras layers the model pins to float32 (the package's own layers pin
# themselves); `mixed_precision.set_compute_dtype_policy` leaves them alone.
PAIR_BATCH = "pair_batch"
MATCH_RELU = "match_relu"
FLOAT32_LAYER_NAMES = (PAIR_BATCH, MATCH_RELU)


def smallest_image_side(backbone):
    """The smallest image height and width a geomatch model with `backbone` takes.

    The backbone divides the size by its stride, and the regression's valid
    convolutions need `FeatureRegression`'s smallest input on each side.
    """
    stride = backbones.get_backbone(backbone).stride
    return feature_regression_module.smallest_valid_input() * stride


def check_image_size(image_size, backbone):
    """`image_size` as a `(height, width)` tuple of ints, if `backbone` can take it.

    The one check of a model's image size (the model calls it; configs that
    build models can call it early).

    Raises:
        ValueError: not two integers, or a side below `smallest_image_side`;
            also an unknown backbone.
    """
    smallest = smallest_image_side(backbone)
    stride = backbones.get_backbone(backbone).stride
    expected = (
        f"Expected image_size = (height, width) with both ≥ {smallest} for a "
        f"backbone of stride {stride}. Received: image_size="
    )
    try:
        size = tuple(int(s) for s in image_size)
        integral = all(s == given for s, given in zip(size, image_size))
    except (TypeError, ValueError):
        raise ValueError(f"{expected}{image_size!r}") from None
    if len(size) != 2 or not integral or min(size) < smallest:
        raise ValueError(f"{expected}{tuple(image_size)}")
    return size


@keras.saving.register_keras_serializable(package="keras_geomatch")
class GeomatchModel(keras.Model):
    """`{source_image, target_image} → θ`, and what it is.

    Args:
        geometric_model: 'affine' (6), 'hom' (8), 'hom_matrix' (9) or 'tps' (18).
        backbone: a name of `backbones.BACKBONES`: 'vgg16', 'resnet101',
            'resnet101_torch' (torchvision layout, for converted reference
            weights) or 'small'.
        image_size: `(height, width)` of both inputs (240×240 in the paper);
            see `check_image_size`.
        weights: backbone weights to start from: 'imagenet', 'torchvision'
            (vgg16: the shipped torchvision ImageNet weights, no download),
            None or a local HDF5 file. Not part of the config: a loaded
            model is rebuilt with None and gets its saved weights.
        preprocessing: 'caffe', 'torch' or 'unit'; None picks what the
            weights expect ('torch' for the shipped torchvision weights, else
            the backbone's default; pass 'torch' for other weights converted
            from PyTorch).
        normalize_matches: ReLU + L2 normalisation of the correlation (paper).
        train_backbone: False (the paper) freezes the backbone.
        name: model name; default `geomatch_{geometric_model}_{backbone}`.
        dtype: a dtype policy name the model computes under (see
            `mixed_precision.set_compute_dtype_policy`); None: the global one.
        **kwargs: `keras.Model` arguments (e.g. `trainable`).

    Attributes:
        geometric_model, backbone, image_size (a tuple), preprocessing,
        normalize_matches: as built (`preprocessing` resolved).
        train_backbone: whether the backbone is trainable (its current state).

    Example:
        >>> model = GeomatchModel("tps", "small", image_size=(88, 88), weights=None)
        >>> theta = model({"source_image": a, "target_image": b})  # (batch, 18)
        >>> model.geometric_model, model.image_size
        ('tps', (88, 88))
    """

    def __init__(
        self,
        geometric_model="affine",
        backbone="vgg16",
        image_size=(240, 240),
        weights="imagenet",
        preprocessing=None,
        normalize_matches=True,
        train_backbone=False,
        name=None,
        dtype=None,
        **kwargs,
    ):
        spec = geometry.get_geometric_model(geometric_model)
        image_size = check_image_size(image_size, backbone)

        # === Layers ===
        preprocess = gm_layers.ImageNormalization(
            preprocessing or backbones.default_preprocessing(backbone, weights), name="preprocess"
        )
        feature_extraction = backbones.build_backbone(backbone, image_size, weights)
        feature_extraction.trainable = bool(train_backbone)
        feature_l2_norm = gm_layers.FeatureL2Norm(name="feature_l2_norm")
        feature_correlation = gm_layers.FeatureCorrelation(name="feature_correlation")
        feature_regression = gm_layers.FeatureRegression(
            spec.num_params, initial_theta=spec.identity, name="feature_regression"
        )

        # === Functional Model ===
        source = keras.Input((*image_size, 3), name=SOURCE_IMAGE)
        target = keras.Input((*image_size, 3), name=TARGET_IMAGE)
        if _has_batch_statistics(feature_extraction):
            # BatchNorm in training mode would mix the statistics of A and B:
            # each image set goes through the backbone on its own.
            features_a = feature_l2_norm(feature_extraction(preprocess(source)))
            features_b = feature_l2_norm(feature_extraction(preprocess(target)))
        else:
            # One backbone call on [A; B]: the same features, faster on CPU
            # than two calls (benchmarks/RESULTS.md).
            pair = keras.layers.Concatenate(axis=0, dtype="float32", name=PAIR_BATCH)(
                [source, target]
            )
            features = feature_l2_norm(feature_extraction(preprocess(pair)))
            features_a, features_b = gm_layers.PairSplit(name="pair_split")(features)
        correlation = feature_correlation(features_a, features_b)
        if normalize_matches:
            # float32 like the correlation and L2 norm around it (a mixed policy
            # would round the correlation to bf16 here).
            correlation = keras.layers.ReLU(name=MATCH_RELU, dtype="float32")(correlation)
            correlation = gm_layers.FeatureL2Norm(name="match_l2_norm")(correlation)
        theta = feature_regression(correlation)
        super().__init__(
            inputs={SOURCE_IMAGE: source, TARGET_IMAGE: target},
            outputs=theta,
            name=name or f"geomatch_{spec.name}_{backbone}",
            **kwargs,
        )

        # === Config ===
        self.geometric_model = spec.name
        self.backbone = backbone
        self.image_size = image_size
        self.preprocessing = preprocess.mode
        self.normalize_matches = bool(normalize_matches)
        if dtype is not None:
            from keras_geomatch.models.mixed_precision import set_compute_dtype_policy

            set_compute_dtype_policy(self, dtype)

    @property
    def train_backbone(self):
        """Whether the backbone ('feature_extraction') is trainable, as it is now."""
        return self.get_layer("feature_extraction").trainable

    def get_config(self):
        # What rebuilds the graph; the weights come from the saved file.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "geometric_model": self.geometric_model,
            "backbone": self.backbone,
            "image_size": list(self.image_size),
            "preprocessing": self.preprocessing,
            "normalize_matches": self.normalize_matches,
            "train_backbone": self.train_backbone,
            # The policy the model computes under (the backbone's; the layers
            # pinned to float32 keep theirs whatever it is).
            "dtype": self.get_layer("feature_extraction").dtype_policy.name,
        }

    @classmethod
    def from_config(cls, config):
        # weights=None: a loaded model gets its saved weights, nothing is downloaded.
        return cls(**{**config, "weights": None})


def build_geomatch_model(
    geometric_model="affine",
    backbone="vgg16",
    weights="imagenet",
    image_size=(240, 240),
    train_backbone=False,
    preprocessing=None,
    normalize_matches=True,
    name=None,
):
    """A `GeomatchModel` (this function keeps the older argument order).

    Example:
        >>> model = build_geomatch_model("tps", "small", weights=None,
        ...                              image_size=(88, 88))
        >>> theta = model({"source_image": a, "target_image": b})  # (batch, 18)
    """
    return GeomatchModel(
        geometric_model,
        backbone,
        image_size=image_size,
        weights=weights,
        preprocessing=preprocessing,
        normalize_matches=normalize_matches,
        train_backbone=train_backbone,
        name=name,
    )


def _has_batch_statistics(model):
    """Whether `model` (or a model nested in it) has a BatchNormalization layer."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            return True
        if isinstance(layer, keras.Model) and _has_batch_statistics(layer):
            return True
    return False


def require_geomatch_model(model):
    """`model` if it is a `GeomatchModel`, else a ValueError that says what to do."""
    if isinstance(model, GeomatchModel):
        return model
    hint = ""
    if isinstance(model, keras.Model):
        hint = (
            " A model loaded from a .keras file of keras-geomatch 0.1 (a plain functional "
            "model) becomes one with keras_geomatch.models.upgrade_legacy_model(model); "
            "keras_geomatch.inference.load_geomatch_model(path) does that itself."
        )
    raise ValueError(
        "Expected a keras_geomatch GeomatchModel (build_geomatch_model / GeomatchModel). "
        f"Received: {type(model).__name__} {getattr(model, 'name', '')!r}.{hint}"
    )


def add_warped_image_output(model, name=None):
    """Wraps a θ model into one that also outputs the warped source image.

    Args:
        model: a `GeomatchModel`.
        name: name of the new model.

    Returns:
        A `keras.Model` with the same inputs and the outputs
        {'theta': θ, 'warped_image': the source warped onto the target}.
    """
    model = require_geomatch_model(model)
    source = keras.Input((*model.image_size, 3), name=SOURCE_IMAGE)
    target = keras.Input((*model.image_size, 3), name=TARGET_IMAGE)
    theta = model({SOURCE_IMAGE: source, TARGET_IMAGE: target})
    grid = gm_layers.make_grid_gen(model.geometric_model, model.image_size, name="grid_gen")(theta)
    warped = gm_layers.BilinearSampler(name="warped_image")(source, grid)
    return keras.Model(
        {SOURCE_IMAGE: source, TARGET_IMAGE: target},
        {"theta": theta, "warped_image": warped},
        name=name or f"{model.name}_warp",
    )

