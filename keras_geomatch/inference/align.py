"""Aligning a source image to a target image with one or two trained models.

The models form an `AlignmentChain` (`inference.chain`, SPEC §4): one
stage resizes both images to the model's input size (aspect ratio not kept)
and the model gives θ (target → source); with a second model (e.g. affine
then TPS), θ2 = m2(A1, B) where A1 is A resized to m2's input size and warped
by θ1 there, and a target point p maps to the source as T_θ1(T_θ2(p)). The
exported serving graph (`keras_geomatch.export`) and the evaluation run the
same chain.

The warped source is computed from the source at its **original**
resolution, sampled on the target's original pixel grid (`warp.warp_images`,
in bands of rows), so it can be compared pixel for pixel with the target.
"""

import dataclasses

import numpy as np

from keras_geomatch import geometry
from keras_geomatch.inference import chain
from keras_geomatch.inference import images as image_io
from keras_geomatch.inference import model_loading
from keras_geomatch.inference import point_transfer
from keras_geomatch.inference import warp


@dataclasses.dataclass(frozen=True, eq=False)
class Alignment:
    """The result of `align`.

    Attributes:
        stages: `((geometric_model, θ), ...)`, one per model, the first
            first; θ float32 `(P,)`. A target point p maps to the source as
            T_θ1(T_θ2(p)) (see `map_points`).
        warped_source: float32 `(H_B, W_B, 3)` in [0, 255], the source
            warped onto the target's pixel grid (zeros where the mapping
            leaves the source).
        source_size: `(H_A, W_A)` of the source as given.
        target_size: `(H_B, W_B)` of the target as given.
    """

    stages: tuple
    warped_source: np.ndarray
    source_size: tuple
    target_size: tuple

    def __post_init__(self):
        stages = []
        for name, theta in self.stages:
            spec = geometry.get_geometric_model(name)
            theta = np.asarray(theta, np.float32).reshape(-1)
            if theta.shape != (spec.num_params,):
                raise ValueError(
                    f"Expected θ of {spec.num_params} values for geometric_model="
                    f"{spec.name!r}. Received: {theta.size} values"
                )
            stages.append((spec.name, theta))
        if not stages:
            raise ValueError("Expected at least one stage (geometric_model, θ). Received: none")
        object.__setattr__(self, "stages", tuple(stages))

    @property
    def theta(self):
        """float32 `(P,)`, θ of the first model."""
        return self.stages[0][1]

    @property
    def geometric_model(self):
        """The first model's geometric model."""
        return self.stages[0][0]

    @property
    def description(self):
        """'affine', or 'affine+tps' for two stages."""
        return "+".join(name for name, _ in self.stages)

    def map_points(self, target_points):
        """Transfers keypoints of the target to the source.

        Args:
            target_points: `(N, 2)` 0-based `(x, y)` pixels of the target,
                finite. Points outside the target are mapped like any other
                point, so their results may lie outside the source.

        Returns:
            float64 `(N, 2)` 0-based `(x, y)` pixels of the source.

        Raises:
            ValueError: `target_points` is not `(N, 2)`.
            tf.errors.InvalidArgumentError: a point is NaN or ±Inf, or maps
                to a non-finite source point (float32 overflow).
        """
        return point_transfer.transfer_points(
            target_points, self.stages, self.target_size, self.source_size
        )


def align(model, source, target, model2=None, max_megapixels=image_io.DEFAULT_MAX_MEGAPIXELS):
    """Estimates the transformation between two images and warps the source.

    Args:
        model: a geomatch model (`keras.Model`), the path of its `.keras`
            file, the name of a shipped model (`keras_geomatch.list_pretrained`;
            'affine_tps_vgg16' gives two stages) or a `(first, second)` pair
            of models.
        source: the source image A: a path, an array or a tensor of any
            size (see `images.load_image`: gray, RGBA, uint8 and float are
            converted).
        target: the target image B, likewise.
        model2: optional second-stage model (or path), applied to the source
            warped by the first (e.g. affine then TPS).
        max_megapixels: images with more pixels than this many millions are
            refused before they are decoded (None: no limit). Beyond the
            model, memory grows by about 7 bytes a source pixel (decoded,
            kept uint8) and 12 a target pixel (the float32 warped source);
            measured by benchmarks/align_memory.py.

    Returns:
        An `Alignment`: the stages (θ of each model), the warped source at
        the target's size and `map_points` (target pixels → source pixels).

    Example:
        >>> result = align("saved_models/affine/model.keras", "a.jpg", "b.jpg")
        >>> result.map_points([[10.0, 20.0]])  # where target pixel (10, 20) is in A
    """
    model, model2 = model_loading.load_stages(model, model2)
    source = image_io.load_image(source, "source", max_megapixels, keep_uint8=True)
    target = image_io.load_image(target, "target", max_megapixels, keep_uint8=True)
    alignment_chain = chain.AlignmentChain([m for m in (model, model2) if m is not None])
    stages = [
        (name, theta.numpy()[0])
        for name, theta in alignment_chain.estimate(source[None], target[None], warp.resize_images)
    ]
    warped_source = warp.warp_images(source[None], stages, target.shape[:2])[0]
    return Alignment(
        stages=tuple(stages),
        warped_source=warped_source,
        source_size=tuple(source.shape[:2]),
        target_size=tuple(target.shape[:2]),
    )
