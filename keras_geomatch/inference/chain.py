"""The alignment chain: one or more geomatch models applied one after the other.

A chain is a list of `StageModel`s: each a geomatch model with what it is
(its geometric model and its input size). For a source image A and a target
image B of any sizes (SPEC §4; one model is the one-stage case):

    θ1 = m1(resize(A, s1), resize(B, s1))
    A_i = resize(A, s_i) sampled on the grid of T_θ1 ∘ … ∘ T_θ(i-1) at s_i
    θi = mi(A_i, resize(B, s_i))

and a target point p maps to the source as T_θ1(T_θ2(…T_θn(p))).

What a chain estimates is its list of **stages** `[(geometric_model, θ), ...]`,
first model first, θ `(batch, P)` (or `(P,)` for one image where numpy is
fine): the one form `geometry.compose_map_points`, `warp.warp_images`,
`point_transfer` and `Alignment.stages` take.

Everything here is TensorFlow ops, so the same functions run eagerly
(`inference.align`, the evaluation) and traced into the exported serving
graph (`export.serving_signatures`), where image sizes are known only at run
time.

Convention: corner-aligned normalised coordinates, θ maps target → source,
zeros outside the source (see `keras_geomatch.geometry`); resizing is
sampling on the identity grid (`geometry.resize_images`), aspect ratio not
kept. A_i is resized *then* sampled (two bilinear interpolations), as the
exported graph has always done.
"""

import dataclasses
from typing import Tuple

import keras
import tensorflow as tf

from keras_geomatch import geometry
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models import require_geomatch_model
from keras_geomatch.models import upgrade_if_legacy


@dataclasses.dataclass(frozen=True)
class StageModel:
    """One model of an alignment chain and what it is.

    Attributes:
        model: the geomatch model, `{source_image, target_image}` → θ `(batch, P)`.
        geometric_model: the geometric model of its θ.
        image_size: `(height, width)` of the images it takes.
    """

    model: keras.Model
    geometric_model: str
    image_size: Tuple[int, int]

    @classmethod
    def from_model(cls, model):
        """The `StageModel` of a model of `build_geomatch_model` (or a loaded one).

        Raises:
            ValueError: the model does not take `source_image` and
                `target_image` of a known size, or its output is not θ alone.
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
        # A functional model of keras-geomatch 0.1 becomes a GeomatchModel
        # (same weights); anything else is refused with what to do.
        model = require_geomatch_model(upgrade_if_legacy(model))
        return cls(model, model.geometric_model, model.image_size)


class AlignmentChain:
    """Geomatch models applied in sequence (SPEC §4): θ of every stage for an image pair.

    Args:
        models: one or more geomatch models (or `StageModel`s), the first
            applied first (e.g. affine then TPS).

    Example:
        >>> chain = AlignmentChain([affine_model, tps_model])
        >>> stages = chain.estimate(source, target)  # [("affine", θ1), ("tps", θ2)]
        >>> grid = composed_grid(stages, 480, 640)
    """

    def __init__(self, models):
        if isinstance(models, (keras.Model, StageModel)):
            models = [models]
        self.stage_models = tuple(
            m if isinstance(m, StageModel) else StageModel.from_model(m) for m in models
        )
        if not self.stage_models:
            raise ValueError("Expected at least one model in the chain. Received: none")

    def __len__(self):
        return len(self.stage_models)

    @property
    def geometric_models(self):
        """The geometric model of each stage, first first."""
        return [s.geometric_model for s in self.stage_models]

    def estimate(self, source, target, resize_images=geometry.resize_images):
        """θ of every stage for image pairs of any size.

        Args:
            source: `(batch, H_s, W_s, 3)` images A, pixel values in [0, 255]
                (any real or integer dtype).
            target: `(batch, H_t, W_t, 3)` images B, likewise; the sizes of A
                and B may differ.
            resize_images: `(images, (height, width))` → the images resized,
                corner-aligned bilinear (`geometry.resize_images`, TF ops, the
                default, also when traced); `align` passes `warp.resize_images`,
                the same values computed from uint8 numpy images in row bands,
                so that a large photograph is never copied whole into a
                float32 tensor.

        Returns:
            The stages `[(geometric_model, θ float32 (batch, P)), ...]`, one
            per model, first first.
        """
        resized = {}  # equal stage sizes (the usual case) resize once

        def resize(name, images, size):
            if (name, size) not in resized:
                resized[name, size] = tf.convert_to_tensor(resize_images(images, size), "float32")
            return resized[name, size]

        stages = []
        for stage_model in self.stage_models:
            size = stage_model.image_size
            source_small = resize(SOURCE_IMAGE, source, size)
            if stages:
                source_small = warp_resized(source_small, stages)
            theta = stage_model.model(
                {SOURCE_IMAGE: source_small, TARGET_IMAGE: resize(TARGET_IMAGE, target, size)},
                training=False,
            )
            stages.append((stage_model.geometric_model, tf.cast(theta, "float32")))
        return stages


def composed_grid(stages, height, width):
    """Sampling grid `(batch, height, width, 2)` of the stages T_θ1 ∘ … ∘ T_θn.

    Args:
        stages: `[(geometric_model, θ (batch, P)), ...]`, non-empty.
        height, width: the grid's size: Python ints or scalar int tensors
            (a target size known only at run time).

    Returns:
        float32 normalised `(x, y)` on the source where each target pixel
        samples it (`geometry.bilinear_sample`'s grid).
    """
    points = tf.reshape(geometry.identity_grid(height, width), tf.stack([height * width, 2]))
    mapped = geometry.compose_map_points(points, stages)
    return tf.reshape(mapped, tf.stack([-1, height, width, 2]))


def warp_resized(images, stages):
    """Images already at a stage's input size, sampled on the stages' composed grid there.

    This is A_i of the module docstring when `images` is A resized to s_i and
    `stages` are the stages before i.

    Args:
        images: `(batch, H, W, C)` float.
        stages: `[(geometric_model, θ (batch, P)), ...]`, non-empty.

    Returns:
        float32 `(batch, H, W, C)`, zeros where the map leaves the image.
    """
    images = tf.convert_to_tensor(images, "float32")
    size = tf.shape(images)
    return geometry.bilinear_sample(images, composed_grid(stages, size[1], size[2]))


def map_pixels(points, stages, target_size, source_size):
    """Target pixels → source pixels through the stages: T_θ1(…T_θn(p)).

    Args:
        points: float32 `(batch, N, 2)` 0-based `(x, y)` pixels of the target.
        stages: `[(geometric_model, θ (batch, P)), ...]`; empty for the
            identity (a rescaling between the two image sizes).
        target_size: `(height, width)` of the target: numbers or scalar tensors.
        source_size: `(height, width)` of the source, likewise.

    Returns:
        float32 `(batch, N, 2)` 0-based `(x, y)` pixels of the source. Not
        checked: points whose mapping overflows float32 come back non-finite.
    """
    normalized = geometry.pixel_to_normalized(points, target_size)
    mapped = geometry.compose_map_points(normalized, stages)
    return geometry.normalized_to_pixel(mapped, source_size)
