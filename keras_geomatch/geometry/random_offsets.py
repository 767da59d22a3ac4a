"""Random θgt that moves every value of a base θ by its own uniform offset (SPEC §3)."""

import tensorflow as tf


def randomly_offset(base, seed, max_offset):
    """`base + U(±max_offset)` on each value, drawn statelessly.

    The random θgt of the TPS (the control grid) and of the 4-point
    homography (the corners): the same seed always gives the same θ.

    Args:
        base: the θ to move, a sequence of floats.
        seed: `(2,)` ints (int32 or int64 tensor, or a pair), the stateless seed.
        max_offset: the largest move of a value, ≥ 0.

    Returns:
        `(len(base),)` float32.
    """
    base = tf.constant(base, dtype="float32")
    return base + tf.random.stateless_uniform(
        base.shape, seed=seed, minval=-max_offset, maxval=max_offset, dtype="float32"
    )
