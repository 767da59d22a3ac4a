"""PCK on synthetic pairs, where θgt is known (a training-time check).

Definition (in the manner of SPEC §4, with a dense grid instead of
annotated keypoints): for a pair of `H × W` images with ground truth θgt,

* the points are a `grid_size × grid_size` grid over the **target** image,
  corner-aligned normalised coordinates in [-1, 1] (`identity_grid`);
* each point p is mapped to the source by θpred and by θgt
  (`geometry.map_points`, target → source), and both results are converted
  to 0-based source pixels with the source size `(H, W)`;
* p is correct at α when `‖T_θpred(p) − T_θgt(p)‖₂ ≤ α · L` in pixels, with
  `L = max(H, W)` (the image size);
* the PCK of a pair is its fraction of correct points; the PCK of a set of
  pairs is the mean over pairs.

Points mapped outside the image count like any other point. The identity
baseline uses θpred = identity: how well doing nothing does.
"""

import numpy as np
import tensorflow as tf

from keras_geomatch import geometry

DEFAULT_ALPHAS = (0.05, 0.1)
DEFAULT_GRID_SIZE = 20


def synthetic_pck_per_pair(
    theta_pred,
    theta_gt,
    geometric_model,
    image_size,
    alphas=DEFAULT_ALPHAS,
    grid_size=DEFAULT_GRID_SIZE,
    gt_geometric_model=None,
):
    """PCK of each pair at each α.

    Args:
        theta_pred: `(batch, P)` predicted θ (target → source).
        theta_gt: `(batch, P_gt)` ground-truth θ.
        geometric_model: the model of `theta_pred`.
        image_size: `(height, width)` of the images, in pixels.
        alphas: thresholds, fractions of `max(height, width)`.
        grid_size: points per side of the target grid.
        gt_geometric_model: the model of `theta_gt` if not `geometric_model`.

    Returns:
        `{alpha: (batch,) float64 array}` of fractions in [0, 1].

    Example:
        >>> pck = synthetic_pck_per_pair(theta, theta_gt, "affine", (240, 240))
        >>> pck[0.1].mean()
    """
    height, width = int(image_size[0]), int(image_size[1])
    points = tf.reshape(geometry.identity_grid(grid_size, grid_size), [-1, 2])
    predicted = geometry.map_points(theta_pred, points, geometric_model)
    expected = geometry.map_points(theta_gt, points, gt_geometric_model or geometric_model)
    predicted = geometry.normalized_to_pixel(predicted, (height, width))
    expected = geometry.normalized_to_pixel(expected, (height, width))
    distance = np.linalg.norm(np.asarray(predicted - expected, np.float64), axis=-1)
    reference_length = max(height, width)
    return {float(a): np.mean(distance <= float(a) * reference_length, axis=-1) for a in alphas}


def evaluate_synthetic_pck(
    model,
    dataset,
    geometric_model,
    image_size,
    alphas=DEFAULT_ALPHAS,
    grid_size=DEFAULT_GRID_SIZE,
):
    """Synthetic PCK of `model` and of the identity on a data set of pairs.

    Args:
        model: maps `{"source_image", "target_image"}` to θ `(batch, P)`.
        dataset: finite iterable of `(inputs, theta_gt)` batches, e.g. the
            validation pairs of `data.make_pair_dataset(..., training=False)`.
        geometric_model: the model of the predicted θ and of θgt.
        image_size: `(height, width)` of the pairs.
        alphas: PCK thresholds.
        grid_size: points per side of the grid.

    Returns:
        A dict: `num_pairs`, `grid_size`, `alphas`, and for each α
        `pck@α` (the model) and `identity_pck@α` (θ = identity).
    """
    per_pair = {a: [] for a in alphas}
    identity_per_pair = {a: [] for a in alphas}
    num_pairs = 0
    for inputs, theta_gt in dataset:
        theta_pred = model(inputs, training=False)
        batch = int(theta_gt.shape[0])
        identity = geometry.identity_theta(geometric_model, batch_size=batch)
        for target, theta in ((per_pair, theta_pred), (identity_per_pair, identity)):
            values = synthetic_pck_per_pair(
                theta, theta_gt, geometric_model, image_size, alphas, grid_size
            )
            for a in alphas:
                target[a].append(values[float(a)])
        num_pairs += batch
    if num_pairs == 0:
        raise ValueError("Expected at least one pair in the data set. Received: none")
    result = {"num_pairs": num_pairs, "grid_size": int(grid_size), "alphas": [float(a) for a in alphas]}
    for a in alphas:
        result[f"pck@{a:g}"] = float(np.mean(np.concatenate(per_pair[a])))
        result[f"identity_pck@{a:g}"] = float(np.mean(np.concatenate(identity_per_pair[a])))
    return result
