"""The serving graph: raw images of any size in, θ, warped image and points out.

A trained model takes images already resized to its input size. The serving
signatures wrap one model, or a chain of models (affine then TPS, SPEC §4),
so that a client needs none of our code:

* `serving_default(source_image, target_image)`:
  uint8 `[batch, H, W, 3]` each (source and target sizes may differ; one size
  per batch) → `theta` `[batch, P]` float32 (two stages: `theta_stage1`,
  `theta_stage2`) and `warped_image` uint8 `[batch, H_target, W_target, 3]`:
  the full-resolution source warped onto the target's original size by the
  (composed) transformation, rounded, zeros (black) outside the source.
* `map_points(source_image, target_image, points)`: `points` float32
  `[batch, N, 2]` 0-based pixel `(x, y)` of the target → `source_points`
  float32 `[batch, N, 2]` 0-based pixels of the source, plus the θ outputs.
  Points outside the target are mapped like any other point (results may lie
  outside the source); NaN or ±Inf points, and points whose mapping overflows
  float32 (e.g. x = 3e38), are refused with `InvalidArgumentError`.

Inside: each image is resized to the model's input size (`geometry.resize_images`,
bilinear, aspect not kept) and given to the model as float pixels in [0, 255]
(the model normalises them in its 'preprocess' layer). θ is in normalised
coordinates, so the warp and the point map apply at any resolution: the
target's pixels are normalised with the target's size, mapped, and
unnormalised with the source's size (SPEC §4).

Several stages (SPEC §4): θ1 = m1(A, B); A1 = warp(A, θ1) at m2's input size;
θ2 = m2(A1, B); a target point p maps to T_θ1(T_θ2(p)).
"""

import dataclasses
from typing import Tuple

import keras
import tensorflow as tf

from keras_geomatch import geometry
from keras_geomatch import models
from keras_geomatch.export import input_checks
from keras_geomatch.geometry import resize_images

SOURCE_IMAGE = models.SOURCE_IMAGE
TARGET_IMAGE = models.TARGET_IMAGE
POINTS = "points"
SOURCE_POINTS = "source_points"
WARPED_IMAGE = "warped_image"
SERVING_DEFAULT = "serving_default"
MAP_POINTS = "map_points"

IMAGE_SPEC = tf.TensorSpec([None, None, None, 3], tf.uint8)
POINTS_SPEC = tf.TensorSpec([None, None, 2], tf.float32)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One model of an alignment chain."""

    model: keras.Model
    geometric_model: str
    image_size: Tuple[int, int]


def make_stage(model):
    """A `Stage` from a model of `build_geomatch_model` (or a loaded one).

    Raises:
        ValueError: the model does not take `source_image` and `target_image`
            of a known size, or its θ size matches no geometric model.
    """
    inputs = model.input
    if not isinstance(inputs, dict) or set(inputs) != {SOURCE_IMAGE, TARGET_IMAGE}:
        raise ValueError(
            f"Expected a model with the inputs {{{SOURCE_IMAGE!r}, {TARGET_IMAGE!r}}} "
            f"(from build_geomatch_model). Received: model {model.name!r} with inputs "
            f"{sorted(inputs) if isinstance(inputs, dict) else inputs}"
        )
    output = model.output
    if isinstance(output, (dict, list, tuple)) or len(output.shape) != 2:
        raise ValueError(
            "Expected a model whose only output is θ (batch, P), as built by "
            f"build_geomatch_model. Received: model {model.name!r} with output "
            f"{output if isinstance(output, (dict, list, tuple)) else output.shape}"
        )
    image_size = tuple(inputs[SOURCE_IMAGE].shape[1:3])
    if None in image_size or tuple(inputs[TARGET_IMAGE].shape[1:3]) != image_size:
        raise ValueError(
            "Expected source and target inputs of the same, known size. Received: "
            f"source {inputs[SOURCE_IMAGE].shape}, target {inputs[TARGET_IMAGE].shape}"
        )
    return Stage(model, models.geometric_model_of(model), tuple(int(s) for s in image_size))


def theta_output_names(num_stages):
    """`['theta']` for one stage, `['theta_stage1', 'theta_stage2', ...]` for more."""
    if num_stages == 1:
        return ["theta"]
    return [f"theta_stage{i}" for i in range(1, num_stages + 1)]


def composed_grid(stages, thetas, height, width):
    """Sampling grid `(batch, height, width, 2)` of the chain T_θ1 ∘ … ∘ T_θn."""
    points = tf.reshape(geometry.identity_grid(height, width), tf.stack([height * width, 2]))
    mapped = geometry.compose_map_points(
        points, [(s.geometric_model, t) for s, t in zip(stages, thetas)]
    )
    return tf.reshape(mapped, tf.stack([-1, height, width, 2]))


def estimate_thetas(stages, source, target):
    """θ of each stage for float images in [0, 255] of any size.

    Args:
        stages: sequence of `Stage`.
        source: `(batch, H_s, W_s, 3)` float32.
        target: `(batch, H_t, W_t, 3)` float32.

    Returns:
        A list of float32 θ, one `(batch, P_i)` per stage.
    """
    thetas = []
    for index, stage in enumerate(stages):
        height, width = stage.image_size
        source_small = resize_images(source, stage.image_size)
        target_small = resize_images(target, stage.image_size)
        if index:
            grid = composed_grid(stages[:index], thetas, height, width)
            source_small = geometry.bilinear_sample(source_small, grid)
        theta = stage.model(
            {SOURCE_IMAGE: source_small, TARGET_IMAGE: target_small}, training=False
        )
        thetas.append(tf.cast(theta, "float32"))
    return thetas


def _checked_images(source_image, target_image):
    source_image = input_checks.check_images(source_image, SOURCE_IMAGE)
    target_image = input_checks.check_images(target_image, TARGET_IMAGE)
    return input_checks.check_same_batch({SOURCE_IMAGE: source_image, TARGET_IMAGE: target_image})


def make_signatures(stages):
    """The serving functions of a chain of stages.

    Args:
        stages: sequence of `Stage` (one, or e.g. affine then TPS).

    Returns:
        `{signature_name: (function, input_signature)}` for
        `keras.export.ExportArchive.add_endpoint`; `serving_default` first.
    """
    stages = list(stages)
    theta_names = theta_output_names(len(stages))

    def serving_default(source_image, target_image):
        source_image, target_image = _checked_images(source_image, target_image)
        source = tf.cast(source_image, "float32")
        thetas = estimate_thetas(stages, source, tf.cast(target_image, "float32"))
        target_size = tf.shape(target_image)
        grid = composed_grid(stages, thetas, target_size[1], target_size[2])
        warped = geometry.bilinear_sample(source, grid)
        warped = tf.cast(tf.clip_by_value(tf.round(warped), 0.0, 255.0), tf.uint8)
        return {**dict(zip(theta_names, thetas)), WARPED_IMAGE: warped}

    def map_points(source_image, target_image, points):
        source_image, target_image = _checked_images(source_image, target_image)
        points = input_checks.check_points(points, POINTS)
        points, source_image, target_image = input_checks.check_same_batch(
            {POINTS: points, SOURCE_IMAGE: source_image, TARGET_IMAGE: target_image}
        )
        thetas = estimate_thetas(
            stages, tf.cast(source_image, "float32"), tf.cast(target_image, "float32")
        )
        target_size = tf.shape(target_image)[1:3]
        source_size = tf.shape(source_image)[1:3]
        normalized = geometry.pixel_to_normalized(points, (target_size[0], target_size[1]))
        mapped = geometry.compose_map_points(
            normalized, [(s.geometric_model, t) for s, t in zip(stages, thetas)]
        )
        source_points = geometry.normalized_to_pixel(mapped, (source_size[0], source_size[1]))
        source_points = input_checks.check_finite(
            source_points,
            f"{POINTS}: expected points that map to finite source pixels (float32 overflows "
            "beyond 3.4e38). Received points whose source_points are not finite",
        )
        return {**dict(zip(theta_names, thetas)), SOURCE_POINTS: source_points}

    image_specs = [
        tf.TensorSpec(IMAGE_SPEC.shape, IMAGE_SPEC.dtype, name=SOURCE_IMAGE),
        tf.TensorSpec(IMAGE_SPEC.shape, IMAGE_SPEC.dtype, name=TARGET_IMAGE),
    ]
    return {
        SERVING_DEFAULT: (serving_default, image_specs),
        MAP_POINTS: (
            map_points,
            image_specs + [tf.TensorSpec(POINTS_SPEC.shape, POINTS_SPEC.dtype, name=POINTS)],
        ),
    }
