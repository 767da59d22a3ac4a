"""Transferring pixel keypoints from the target image to the source (SPEC §4).

A target keypoint (0-based pixel `(x, y)` of image B at its original size)
is normalised with B's size, mapped by the stages (target → source), and
un-normalised with A's size. The network saw both images resized to its
input size, but normalised coordinates do not depend on the resolution, so
the original sizes are the right ones here.

Points outside the target image are mapped like any other point (the
transformations are defined on the whole plane), so a result may lie outside
the source image. Non-finite points (NaN, ±Inf), and points whose mapping
overflows float32 (the precision of the geometry), are refused with
`tf.errors.InvalidArgumentError`, as the exported `map_points` signature does.
"""

import numpy as np
import tensorflow as tf

from keras_geomatch.inference import chain


def transfer_points(target_points, stages, target_size, source_size):
    """Maps target pixels to source pixels through θ (one image pair).

    Args:
        target_points: `(N, 2)` 0-based `(x, y)` pixels of the target image,
            finite. Points outside the image are mapped like any other
            point: their results may lie outside the source image.
        stages: sequence of `(geometric_model, θ)` with θ `(P,)` or `(1, P)`,
            applied as `T_θ1(T_θ2(p))` (`chain.map_pixels`); empty for the
            identity.
        target_size: `(height, width)` of the target image B.
        source_size: `(height, width)` of the source image A.

    Returns:
        float64 `(N, 2)` 0-based `(x, y)` pixels of the source image
        (computed in float32, the precision of the geometry).

    Raises:
        ValueError: `target_points` is not `(N, 2)`.
        tf.errors.InvalidArgumentError: a point is NaN or ±Inf, or maps to a
            non-finite source point (float32 overflow, e.g. x = 3e38).

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
    _check_finite(points, points, "Expected target_points of finite (x, y) pixels")
    with np.errstate(over="ignore"):  # beyond float32: inf, refused below with the results
        points_32 = points.astype(np.float32)
    stages = [(name, np.asarray(theta, np.float32).reshape(1, -1)) for name, theta in stages]
    mapped = chain.map_pixels(points_32[None], stages, _size(target_size), _size(source_size))
    pixels = np.asarray(mapped, np.float64)[0]
    _check_finite(
        pixels,
        points,
        "Expected target_points that map to finite source pixels (float32 overflows beyond "
        f"{np.finfo(np.float32).max:.3g}, or θ is not finite)",
    )
    return pixels


def _check_finite(values, points, expected):
    bad = np.flatnonzero(~np.all(np.isfinite(values), axis=1))
    if bad.size:
        index = int(bad[0])
        raise tf.errors.InvalidArgumentError(
            None,
            None,
            f"{expected}. Received: target_points[{index}]={points[index].tolist()} "
            f"({bad.size} such point{'s' if bad.size > 1 else ''} of {len(points)})",
        )


def _size(size):
    height, width = (float(s) for s in size)
    return height, width
