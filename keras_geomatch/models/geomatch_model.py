"""The geometric matching CNN as a Keras functional model (Rocco et al. 2017).

    source_image ─┐                                  ┌─ feature_l2_norm ─┐
                  ├─ preprocess ─ feature_extraction ┤                   ├─ feature_correlation
    target_image ─┘   (shared, siamese)              └─ feature_l2_norm ─┘
        ─ match_relu ─ match_l2_norm ─ feature_regression ─ θ

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
from keras_geomatch.models import backbones

SOURCE_IMAGE = "source_image"
TARGET_IMAGE = "target_image"
# Keras layers the builder pins to float32 (the package's own layers pin
# themselves); `mixed_precision.set_compute_dtype_policy` leaves them alone.
PAIR_BATCH = "pair_batch"
MATCH_RELU = "match_relu"
FLOAT32_LAYER_NAMES = (PAIR_BATCH, MATCH_RELU)


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
    """Builds `{source_image, target_image} → θ`.

    Args:
        geometric_model: 'affine' (6), 'hom' (8), 'hom_matrix' (9) or 'tps' (18).
        backbone: a name of `backbones.BACKBONES`: 'vgg16', 'resnet101',
            'resnet101_torch' (torchvision layout, for converted reference
            weights) or 'small'.
        weights: backbone weights: 'imagenet', 'torchvision' (vgg16: the
            shipped torchvision ImageNet weights, no download), None or a
            local HDF5 file.
        image_size: `(height, width)` of both inputs (240×240 in the paper).
        train_backbone: False (the paper) freezes the backbone.
        preprocessing: 'caffe', 'torch' or 'unit'; None picks what the
            weights expect ('torch' for the shipped torchvision weights, else
            the backbone's default; pass 'torch' for other weights converted
            from PyTorch).
        normalize_matches: ReLU + L2 normalisation of the correlation (paper).
        name: model name; default `geomatch_{geometric_model}_{backbone}`.

    Returns:
        A `keras.Model` with inputs {'source_image', 'target_image'} and the
        output θ `(batch, P)` (float32).

    Example:
        >>> model = build_geomatch_model("tps", "small", weights=None,
        ...                              image_size=(88, 88))
        >>> theta = model({"source_image": a, "target_image": b})  # (batch, 18)
    """
    spec = geometry.get_geometric_model(geometric_model)
    backbone_spec = backbones.get_backbone(backbone)
    image_size = _check_image_size(image_size, backbone_spec.stride)

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
        # One backbone call on [A; B]: the same features, and on CPU a batch
        # of 2 runs about 1.5× faster per image than two batches of 1
        # (benchmarks/RESULTS.md).
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
    return keras.Model(
        {SOURCE_IMAGE: source, TARGET_IMAGE: target},
        theta,
        name=name or f"geomatch_{spec.name}_{backbone}",
    )


def _has_batch_statistics(model):
    """Whether `model` (or a model nested in it) has a BatchNormalization layer."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            return True
        if isinstance(layer, keras.Model) and _has_batch_statistics(layer):
            return True
    return False


def _check_image_size(image_size, stride):
    # The regression's valid 7×7 and 5×5 convolutions need ≥ 11 positions.
    smallest = 11 * stride
    expected = (
        f"Expected image_size = (height, width) with both ≥ {smallest} for a "
        f"backbone of stride {stride}. Received: image_size="
    )
    try:
        image_size = tuple(int(s) for s in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"{expected}{image_size!r}") from None
    if len(image_size) != 2 or min(image_size) < smallest:
        raise ValueError(f"{expected}{image_size}")
    return image_size


def geometric_model_of(model):
    """The geometric model name of a model built by `build_geomatch_model`."""
    num_params = model.get_layer("feature_regression").output_dim
    for spec in geometry.GEOMETRIC_MODELS.values():
        if spec.num_params == num_params:
            return spec.name
    raise ValueError(f"No geometric model has {num_params} parameters")


def backbone_of(model):
    """The backbone name of a model built by `build_geomatch_model`, or None.

    Recognised from the layer names of its 'feature_extraction' part.
    """
    try:
        names = {layer.name for layer in model.get_layer("feature_extraction").layers}
    except ValueError:
        return None
    if "conv4_block23_out" in names:
        # Only the torchvision layout pads before its stride-2 3×3 convs.
        return "resnet101_torch" if "conv3_block1_2_pad" in names else "resnet101"
    if "block4_pool" in names:
        return "vgg16"
    if "block3_pool" in names:
        return "small"
    return None


def add_warped_image_output(model, geometric_model=None, name=None):
    """Wraps a θ model into one that also outputs the warped source image.

    Args:
        model: a model from `build_geomatch_model`.
        geometric_model: its geometric model; inferred from θ's size if None.
        name: name of the new model.

    Returns:
        A `keras.Model` with the same inputs and the outputs
        {'theta': θ, 'warped_image': the source warped onto the target}.
    """
    geometric_model = geometric_model or geometric_model_of(model)
    source = keras.Input(model.input[SOURCE_IMAGE].shape[1:], name=SOURCE_IMAGE)
    target = keras.Input(model.input[TARGET_IMAGE].shape[1:], name=TARGET_IMAGE)
    theta = model({SOURCE_IMAGE: source, TARGET_IMAGE: target})
    grid = gm_layers.make_grid_gen(geometric_model, target.shape[1:3], name="grid_gen")(theta)
    warped = gm_layers.BilinearSampler(name="warped_image")(source, grid)
    return keras.Model(
        {SOURCE_IMAGE: source, TARGET_IMAGE: target},
        {"theta": theta, "warped_image": warped},
        name=name or f"{model.name}_warp",
    )
