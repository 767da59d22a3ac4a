"""The models the benchmarks time, and the parts of a forward pass.

* `full-size`: VGG-16 cut at pool4, 240×240, random weights (speed does not
  depend on the values).
* `quickstart`: the model of `trainers/configs/small_from_scratch.flags` (backbone,
  image size, batch size, and for the pipeline resize size and augmentation,
  read from the file when it exists), else the small backbone at 128×128
  trained end to end.

`forward_parts(model)` gives callables on the same weights for: the backbone
alone (both images), the head alone (everything after the backbone: feature
L2 norms, correlation, ReLU + L2 norm, regression, grid generation and
bilinear sampling of the source), θ (the model), and θ + warped image.
"""

import os
import re

import bench_common

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_geomatch import layers as gm_layers  # noqa: E402
from keras_geomatch.geometry import get_geometric_model  # noqa: E402
from keras_geomatch.models import SOURCE_IMAGE  # noqa: E402
from keras_geomatch.models import TARGET_IMAGE  # noqa: E402
from keras_geomatch.models import build_geomatch_model  # noqa: E402

# The former quick start (small backbone trained end to end); the quick start
# now trains a head on the shipped VGG-16, which the full-size setting covers.
QUICKSTART_FLAGS = os.path.join(
    bench_common.REPO_ROOT, "trainers", "configs", "small_from_scratch.flags"
)
QUICKSTART_DEFAULTS = {"backbone": "small", "image_size": (128, 128), "batch_size": 16,
                       "train_backbone": True, "geometric_model": "affine",
                       "resize_size": (480, 640), "augment": False}


def quickstart_settings(path=QUICKSTART_FLAGS):
    """Backbone, image size, batch size, train_backbone and geometric model of the quickstart.

    Returns:
        `(settings dict, source)` where source names the flags file or says
        that the defaults were used.
    """
    settings = dict(QUICKSTART_DEFAULTS)
    if not os.path.isfile(path):
        return settings, "defaults (no trainers/configs/small_from_scratch.flags)"
    with open(path, encoding="utf-8") as f:
        for line in f:
            match = re.match(r"\s*--(no)?(\w+)(?:=(.*))?\s*$", line)
            if not match:
                continue
            negated, name, value = match.groups()
            value = (value or "").strip()
            if name == "image_size" and value:
                sizes = [int(v) for v in value.split(",")]
                settings["image_size"] = tuple(sizes * 2 if len(sizes) == 1 else sizes[:2])
            elif name == "batch_size" and value:
                settings["batch_size"] = int(value)
            elif name in ("backbone", "geometric_model") and value:
                settings[name] = value
            elif name == "resize_size" and value:
                settings["resize_size"] = tuple(int(v) for v in value.split(",")[:2])
            elif name in ("train_backbone", "augment"):
                settings[name] = not negated and value.lower() not in ("false", "0")
    return settings, os.path.relpath(path, bench_common.REPO_ROOT)


def build_model(setting, geometric_model="affine", image_size=None, backbone=None):
    """`(model, info)` of a named setting ('full-size' or 'quickstart').

    `info` has `backbone`, `image_size`, `train_backbone` and `description`.
    """
    if setting == "full-size":
        backbone = backbone or "vgg16"
        size = image_size or (240, 240)
        train_backbone = False
    elif setting == "quickstart":
        quick, _ = quickstart_settings()
        backbone = backbone or quick["backbone"]
        size = image_size or quick["image_size"]
        train_backbone = quick["train_backbone"]
    else:
        raise ValueError(f"Expected setting 'full-size' or 'quickstart'. Received: {setting!r}")
    model = build_geomatch_model(geometric_model, backbone, weights=None, image_size=size,
                                 train_backbone=train_backbone)
    info = {"backbone": backbone, "image_size": tuple(size), "train_backbone": train_backbone,
            "description": f"{geometric_model}, {backbone}, {size[0]}x{size[1]}"}
    return model, info


def random_pairs(batch_size, image_size, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch_size, *image_size, 3)
    return (tf.constant(rng.uniform(0, 255, shape).astype(np.float32)),
            tf.constant(rng.uniform(0, 255, shape).astype(np.float32)))


def forward_parts(model, geometric_model, jit_compile=False, warp_jit_compile=None):
    """`tf.function`s on the weights of `model` (inference mode).

    Args:
        model: a geomatch model.
        geometric_model: its geometric model.
        jit_compile: XLA for the backbone, the model and θ's half of the head.
        warp_jit_compile: XLA for the warp (grid generation + sampling);
            None: as `jit_compile`. The warp is its own `tf.function`, so it
            can be compiled while the convolutions stay on oneDNN.

    Returns:
        dict name → callable(source, target) returning tensors:
        'backbone' (both images through preprocess + backbone), 'theta'
        (the model), 'theta+warp' (the model, then grid and sampling),
        'head' (everything after the backbone: L2 norms, correlation, match
        normalisation, regression, grid, sampling of the source) and its
        two halves 'head:theta' (features → θ) and 'head:warp' (θ → grid →
        sampled source). The head's inputs are computed once, outside the
        timing.
    """
    if warp_jit_compile is None:
        warp_jit_compile = jit_compile
    image_size = tuple(model.input[SOURCE_IMAGE].shape[1:3])
    preprocess = model.get_layer("preprocess")
    backbone = model.get_layer("feature_extraction")
    feature_l2_norm = model.get_layer("feature_l2_norm")
    correlation_layer = model.get_layer("feature_correlation")
    match_relu = model.get_layer("match_relu")
    match_l2_norm = model.get_layer("match_l2_norm")
    regression = model.get_layer("feature_regression")
    name = get_geometric_model(geometric_model).name
    grid_gen = gm_layers.make_grid_gen(name, image_size)
    sampler = gm_layers.BilinearSampler()

    batched = "pair_split" in {layer.name for layer in model.layers}

    def run_backbone(source, target):
        # As the model does it: one call on [A; B], or one per image set.
        if batched:
            features = backbone(preprocess(tf.concat([source, target], 0)), training=False)
            return tuple(tf.split(features, 2))
        return (backbone(preprocess(source), training=False),
                backbone(preprocess(target), training=False))

    def run_theta(source, target):
        return model({SOURCE_IMAGE: source, TARGET_IMAGE: target}, training=False)

    def run_head_theta(features_a, features_b):
        correlation = correlation_layer(feature_l2_norm(features_a), feature_l2_norm(features_b))
        return regression(match_l2_norm(match_relu(correlation)), training=False)

    def run_warp(theta, source):
        return sampler(source, grid_gen(theta))

    backbone_fn = tf.function(run_backbone, jit_compile=jit_compile)
    theta_fn = tf.function(run_theta, jit_compile=jit_compile)
    head_theta = tf.function(run_head_theta, jit_compile=jit_compile)
    warp = tf.function(run_warp, jit_compile=warp_jit_compile)
    cache = {}

    def inputs_of(source, target):
        key = (id(source), id(target))
        if key not in cache:
            cache.clear()
            features_a, features_b = [tf.identity(f) for f in run_backbone(source, target)]
            theta = tf.identity(head_theta(features_a, features_b))
            cache[key] = (features_a, features_b, theta)
        return cache[key]

    def head(source, target):
        features_a, features_b, _ = inputs_of(source, target)
        theta = head_theta(features_a, features_b)
        return theta, warp(theta, source)

    def theta_and_warp(source, target):
        theta = theta_fn(source, target)
        return theta, warp(theta, source)

    return {
        "backbone": backbone_fn,
        "theta": theta_fn,
        "theta+warp": theta_and_warp,
        "head": head,
        "head:theta": lambda source, target: head_theta(*inputs_of(source, target)[:2]),
        "head:warp": lambda source, target: warp(inputs_of(source, target)[2], source),
    }


def block(outputs):
    """Waits for `outputs` (a tensor or a nested structure of them)."""
    for tensor in tf.nest.flatten(outputs):
        tensor.numpy()
