"""Aligning a source image to a target image with one or two trained models.

One stage: both images are resized to the model's input size (aspect ratio
not kept, SPEC §4) and the model gives θ (target → source).

Two stages (SPEC §4, e.g. affine then TPS): θ1 = m1(A, B); A1 = A resized
to m2's input size and warped by θ1 there; θ2 = m2(A1, B); a target point p
maps to the source as T_θ1(T_θ2(p)). (The exported serving graph,
`keras_geomatch.export`, forms A1 the same way; with equal input sizes, the
usual case, this is the reference's A1.)

The warped source is computed from the source at its **original**
resolution, sampled on the target's original pixel grid, so it can be
compared pixel for pixel with the target.
"""

import dataclasses

import numpy as np

from keras_geomatch.inference import images as image_io
from keras_geomatch.inference import model_loading
from keras_geomatch.inference import point_transfer
from keras_geomatch.inference import warp
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models import geometric_model_of


@dataclasses.dataclass(frozen=True, eq=False)
class Alignment:
    """The result of `align`.

    Attributes:
        theta: float32 `(P,)`, θ of the (first) model.
        geometric_model: its geometric model name.
        warped_source: float32 `(H_B, W_B, 3)` in [0, 255], the source
            warped onto the target's pixel grid (zeros where the mapping
            leaves the source).
        source_size: `(H_A, W_A)` of the source as given.
        target_size: `(H_B, W_B)` of the target as given.
        theta2: float32 `(P2,)`, θ of the second model, or None.
        geometric_model2: the second model's geometric model, or None.
    """

    theta: np.ndarray
    geometric_model: str
    warped_source: np.ndarray
    source_size: tuple
    target_size: tuple
    theta2: np.ndarray | None = None
    geometric_model2: str | None = None

    @property
    def stages(self):
        """`[(geometric_model, θ), ...]`, the first model first."""
        stages = [(self.geometric_model, self.theta)]
        if self.theta2 is not None:
            stages.append((self.geometric_model2, self.theta2))
        return stages

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


def align(model, source, target, model2=None):
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

    Returns:
        An `Alignment`: θ (and θ2), the warped source at the target's size
        and `map_points` (target pixels → source pixels).

    Example:
        >>> result = align("saved_models/affine/model.keras", "a.jpg", "b.jpg")
        >>> result.map_points([[10.0, 20.0]])  # where target pixel (10, 20) is in A
    """
    model, model2 = model_loading.load_stages(model, model2)
    source = image_io.load_image(source, "source")
    target = image_io.load_image(target, "target")

    size1 = model_loading.geomatch_image_size(model)
    source_1 = warp.resize_image(source, size1)
    target_1 = warp.resize_image(target, size1)
    theta = _predict(model, source_1, target_1)
    stages = [(geometric_model_of(model), theta)]
    theta2 = None
    if model2 is not None:
        size2 = model_loading.geomatch_image_size(model2)
        source_2 = source_1 if size2 == size1 else warp.resize_image(source, size2)
        target_2 = target_1 if size2 == size1 else warp.resize_image(target, size2)
        warped_2 = warp.warp_images(source_2[None], stages, size2)[0]
        theta2 = _predict(model2, warped_2, target_2)
        stages.append((geometric_model_of(model2), theta2))

    warped_source = warp.warp_images(source[None], stages, target.shape[:2])[0]
    return Alignment(
        theta=theta,
        geometric_model=stages[0][0],
        warped_source=warped_source,
        source_size=tuple(source.shape[:2]),
        target_size=tuple(target.shape[:2]),
        theta2=theta2,
        geometric_model2=None if model2 is None else stages[1][0],
    )


def _predict(model, source, target):
    theta = model({SOURCE_IMAGE: source[None], TARGET_IMAGE: target[None]}, training=False)
    return np.asarray(theta, dtype=np.float32)[0]
