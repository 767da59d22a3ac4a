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
θ2 = m2(A1, B); a target point p maps to T_θ1(T_θ2(p)). The signatures trace
the `AlignmentChain` of `keras_geomatch.inference.chain`, the code that
`inference.align` runs eagerly.
"""

import tensorflow as tf

from keras_geomatch import geometry
from keras_geomatch import models
from keras_geomatch.export import input_checks
from keras_geomatch.inference import chain

SOURCE_IMAGE = models.SOURCE_IMAGE
TARGET_IMAGE = models.TARGET_IMAGE
POINTS = "points"
SOURCE_POINTS = "source_points"
WARPED_IMAGE = "warped_image"
SERVING_DEFAULT = "serving_default"
MAP_POINTS = "map_points"

IMAGE_SPEC = tf.TensorSpec([None, None, None, 3], tf.uint8)
POINTS_SPEC = tf.TensorSpec([None, None, 2], tf.float32)


def theta_output_names(num_stages):
    """`['theta']` for one stage, `['theta_stage1', 'theta_stage2', ...]` for more."""
    if num_stages == 1:
        return ["theta"]
    return [f"theta_stage{i}" for i in range(1, num_stages + 1)]


def _checked_images(source_image, target_image):
    source_image = input_checks.check_images(source_image, SOURCE_IMAGE)
    target_image = input_checks.check_images(target_image, TARGET_IMAGE)
    return input_checks.check_same_batch({SOURCE_IMAGE: source_image, TARGET_IMAGE: target_image})


def make_signatures(stages):
    """The serving functions of a chain of stages.

    Args:
        stages: sequence of `inference.chain.StageModel` or geomatch models: one,
            or e.g. affine then TPS.

    Returns:
        `{signature_name: (function, input_signature)}` for
        `keras.export.ExportArchive.add_endpoint`; `serving_default` first.
    """
    alignment_chain = chain.AlignmentChain(stages)
    theta_names = theta_output_names(len(alignment_chain))

    def theta_outputs(stages):
        return {name: theta for name, (_, theta) in zip(theta_names, stages)}

    def serving_default(source_image, target_image):
        source_image, target_image = _checked_images(source_image, target_image)
        source = tf.cast(source_image, "float32")
        stages = alignment_chain.estimate(source, target_image)
        target_size = tf.shape(target_image)
        grid = chain.composed_grid(stages, target_size[1], target_size[2])
        warped = geometry.bilinear_sample(source, grid)
        warped = tf.cast(tf.clip_by_value(tf.round(warped), 0.0, 255.0), tf.uint8)
        return {**theta_outputs(stages), WARPED_IMAGE: warped}

    def map_points(source_image, target_image, points):
        source_image, target_image = _checked_images(source_image, target_image)
        points = input_checks.check_points(points, POINTS)
        points, source_image, target_image = input_checks.check_same_batch(
            {POINTS: points, SOURCE_IMAGE: source_image, TARGET_IMAGE: target_image}
        )
        stages = alignment_chain.estimate(source_image, target_image)
        target_size = tf.shape(target_image)
        source_size = tf.shape(source_image)
        source_points = chain.map_pixels(
            points, stages, (target_size[1], target_size[2]), (source_size[1], source_size[2])
        )
        source_points = input_checks.check_finite(
            source_points,
            f"{POINTS}: expected points that map to finite source pixels (float32 overflows "
            "beyond 3.4e38). Received points whose source_points are not finite",
        )
        return {**theta_outputs(stages), SOURCE_POINTS: source_points}

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
