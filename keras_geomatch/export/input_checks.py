"""In-graph checks of what a serving client sends.

A SavedModel signature rejects a wrong dtype by itself (the placeholder has
one), but a serving runtime feeds tensors of any shape: a wrong channel count
or rank would otherwise surface as an obscure error deep in the network. These
checks raise `InvalidArgumentError` with a message naming the input, what was
expected and the shape received.

The rank part of a check can be decided at graph-building time when the
signature's spec has a known rank, and TensorFlow then drops it; the final
`tf.ensure_shape` keeps rejecting a wrong rank at run time, with the message
"Shape of tensor <name> [...] is not compatible with expected shape [...]".
"""

import tensorflow as tf


def check_images(images, name):
    """Checks a uint8 image batch `(batch, height, width, 3)`, height, width ≥ 2.

    Args:
        images: the tensor a client sent.
        name: the input's name, for the message.

    Returns:
        `images` with static shape `(None, None, None, 3)`, after the checks.
    """
    shape = tf.shape(images)
    valid = tf.logical_and(tf.equal(tf.size(shape), 4), tf.reduce_all(tf.equal(shape[-1:], 3)))
    check_shape = tf.debugging.Assert(
        valid,
        [f"{name}: expected a uint8 image batch of shape [batch, height, width, 3] (RGB). "
         "Received shape:", shape],
        name=f"check_{name}_shape",
    )
    with tf.control_dependencies([check_shape]):
        images = tf.ensure_shape(tf.identity(images), [None, None, None, 3], name=f"{name}_shape")
    size = tf.shape(images)[1:3]
    check_size = tf.debugging.Assert(
        tf.reduce_all(size >= 2),
        [f"{name}: expected height and width of at least 2 pixels. Received shape:",
         tf.shape(images)],
        name=f"check_{name}_size",
    )
    with tf.control_dependencies([check_size]):
        return tf.identity(images)


def check_points(points, name):
    """Checks a float32 point batch `(batch, num_points, 2)` of finite values.

    Returns:
        `points` with static shape `(None, None, 2)`, after the checks.
    """
    shape = tf.shape(points)
    valid = tf.logical_and(tf.equal(tf.size(shape), 3), tf.reduce_all(tf.equal(shape[-1:], 2)))
    check_shape = tf.debugging.Assert(
        valid,
        [f"{name}: expected pixel coordinates (x, y) of shape [batch, num_points, 2]. "
         "Received shape:", shape],
        name=f"check_{name}_shape",
    )
    with tf.control_dependencies([check_shape]):
        points = tf.ensure_shape(tf.identity(points), [None, None, 2], name=f"{name}_shape")
    return check_finite(
        points, f"{name}: expected finite pixel coordinates (x, y). Received a non-finite value"
    )


def check_finite(tensor, message):
    """Checks that `tensor` has no NaN or ±Inf; returns it after the check.

    The error reads "<message> : Tensor had NaN values" (or Inf).
    """
    return tf.debugging.assert_all_finite(tensor, message)


def check_same_batch(tensors):
    """Checks that all `{name: tensor}` have the same batch size.

    Returns:
        A list of the tensors, in the dict's order, after the check.
    """
    names = list(tensors)
    batches = tf.stack([tf.shape(tensors[n])[0] for n in names])
    check = tf.debugging.Assert(
        tf.reduce_all(tf.equal(batches, batches[0])),
        [f"Expected the same batch size for {', '.join(names)}. Received batch sizes:", batches],
        name="check_batch_sizes",
    )
    with tf.control_dependencies([check]):
        return [tf.identity(tensors[n]) for n in names]
