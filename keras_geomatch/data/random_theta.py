"""Random ground-truth θ for synthetic pairs, drawn statelessly (SPEC §3).

Stateless: the same seed always gives the same θ, whatever ran before, so
pairs are reproducible and validation pairs are fixed.
"""

import tensorflow as tf

from keras_geomatch.data.pair_config import PairConfig
from keras_geomatch.geometry import homography
from keras_geomatch.geometry import transforms


def _rotation(angle):
    """`(2, 2)` rotation matrix R(angle) = [[cos, -sin], [sin, cos]]."""
    c, s = tf.cos(angle), tf.sin(angle)
    return tf.reshape(tf.stack([c, -s, s, c]), [2, 2])


def _uniform(seed, num, low, high):
    return tf.random.stateless_uniform([num], seed=seed, minval=low, maxval=high, dtype="float32")


def random_theta(geometric_model, seed, config=None):
    """A random θgt of `geometric_model` with the ranges of `config`.

    Args:
        geometric_model: a name from `keras_geomatch.geometry.GEOMETRIC_MODELS`
            (it takes precedence over `config.geometric_model`).
        seed: shape `(2,)` int32/int64 tensor or pair of ints, the stateless
            seed (e.g. `(seed, element_index)`).
        config: a `PairConfig` giving the ranges; the defaults if None.

    Returns:
        `(num_params,)` float32 tensor, θ mapping target → source. The
        distributions are listed in `PairConfig`.

    Example:
        >>> theta = random_theta("affine", (0, 7))
    """
    model = transforms.get_geometric_model(geometric_model)
    config = config if config is not None else PairConfig(model.name)
    seed = tf.cast(tf.convert_to_tensor(seed), "int64")
    identity = tf.constant(model.identity, dtype="float32")
    if model.name == "affine":
        u = tf.random.stateless_uniform([6], seed=seed, minval=-1.0, maxval=1.0)
        alpha = u[0] * config.affine_max_rotation
        phi = u[1] * config.affine_max_shear_angle
        low, high = config.affine_scale_range
        scales = low + (u[2:4] + 1.0) * 0.5 * (high - low)
        translation = u[4:6] * config.affine_max_translation
        r_phi = _rotation(phi)
        a = _rotation(alpha) @ tf.transpose(r_phi) @ tf.linalg.diag(scales) @ r_phi
        return tf.stack([a[0, 0], a[0, 1], translation[0], a[1, 0], a[1, 1], translation[1]])
    if model.name == "tps":
        return identity + _uniform(seed, 18, -config.tps_max_offset, config.tps_max_offset)
    corners = tf.constant(
        homography.HOMOGRAPHY_CORNERS_X + homography.HOMOGRAPHY_CORNERS_Y, dtype="float32"
    )
    theta = corners + _uniform(seed, 8, -config.hom_max_offset, config.hom_max_offset)
    if model.name == "hom":
        return theta
    # hom_matrix: the same homography as its 3×3 matrix, row-major.
    return tf.reshape(homography.homography_4pt_to_matrix(theta[None]), [9])
