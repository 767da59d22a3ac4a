"""Transferring pixel keypoints from the target image to the source (SPEC §4).

A target keypoint (0-based pixel `(x, y)` of image B at its original size)
is normalised with B's size, mapped by the stages (target → source), and
un-normalised with A's size. The network saw both images resized to its
input size, but normalised coordinates do not depend on the resolution, so
the original sizes are the right ones here.
"""

import numpy as np

from keras_geomatch import geometry


def transfer_points(target_points, stages, target_size, source_size):
    """Maps target pixels to source pixels through θ (one image pair).

    Args:
        target_points: `(N, 2)` 0-based `(x, y)` pixels of the target image.
        stages: sequence of `(geometric_model, θ)` with θ `(P,)` or `(1, P)`,
            applied as `T_θ1(T_θ2(p))` (see `geometry.compose_map_points`);
            empty for the identity.
        target_size: `(height, width)` of the target image B.
        source_size: `(height, width)` of the source image A.

    Returns:
        float64 `(N, 2)` 0-based `(x, y)` pixels of the source image
        (computed in float32, the precision of the geometry).

    Example:
        >>> transfer_points([[0, 0], [99, 49]], [], (50, 100), (10, 20))
        array([[ 0.,  0.], [19.,  9.]])
    """
    points = np.asarray(target_points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"Expected target_points of shape (N, 2) (x, y pixels). Received: shape={points.shape}"
        )
    if points.shape[0] == 0:
        return np.zeros((0, 2))
    normalised = geometry.pixel_to_normalized(points.astype(np.float32), _size(target_size))
    stages = [(name, np.asarray(theta, np.float32).reshape(1, -1)) for name, theta in stages]
    mapped = geometry.compose_map_points(normalised[None], stages)
    pixels = geometry.normalized_to_pixel(mapped, _size(source_size))
    return np.asarray(pixels, dtype=np.float64)[0]


def _size(size):
    height, width = (float(s) for s in size)
    return height, width
