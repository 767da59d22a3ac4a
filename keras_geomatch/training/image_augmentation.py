"""Random image augmentation before synthetic pairs are cut (`augment=True`).

Why: a synthetic pair always takes its source from the centre of its image,
so a small image set gives only as many source views as it has images, and
the network learns those images instead of matching (with the 7 built-in
sample photographs, the model beat the identity on its training images and
did worse than the identity on held-out ones). Transforming each image
randomly before the pair is cut gives a new view every time.

The transformation acts on the resized image (`resize_size`), before the
pair is cut, so θgt keeps its meaning: `target(p) = source(T_θ(p))` for the
augmented image. In order:

1. zoom: crop a random box (side `ZOOM_RANGE` of the image's, aspect ratio
   jittered by `ASPECT_RANGE`, at a random position) and resize it back;
2. a random symmetry of the rectangle: transpose (then resize back to the
   same size) with probability 1/2, left-right and up-down flips with
   probability 1/2 each (with the transpose: the 8 symmetries of a square);
3. colour: brightness ± `BRIGHTNESS_DELTA`, contrast × `CONTRAST_RANGE`,
   saturation × `SATURATION_RANGE`; source and target share them.

Stateless: the same seed gives the same image, so a run stays reproducible
and resumable. Not in the paper (its 13.5k Pascal VOC images need none); off
by default.
"""

import tensorflow as tf

ZOOM_RANGE = (0.4, 1.0)
ASPECT_RANGE = (0.8, 1.25)
BRIGHTNESS_DELTA = 40.0
CONTRAST_RANGE = (0.7, 1.3)
SATURATION_RANGE = (0.6, 1.4)


def augment_image(image, seed):
    """A random view of `image` (see the module docstring).

    Args:
        image: float32 `(H, W, 3)` RGB in [0, 255], static H and W.
        seed: stateless seed, `(2,)` int32 or int64.

    Returns:
        float32 `(H, W, 3)`, values in [0, 255].

    Example:
        >>> dataset = data.make_pair_dataset(files, config, augment=augment_image)
    """
    height, width = int(image.shape[0]), int(image.shape[1])
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=9)

    # 1. Zoom into a random box.
    side = tf.random.stateless_uniform([], seeds[0], *ZOOM_RANGE)
    aspect = tf.sqrt(tf.random.stateless_uniform([], seeds[1], *ASPECT_RANGE))
    box_size = tf.minimum(tf.stack([side * aspect, side / aspect]), 1.0)  # (h, w) fractions
    corner = tf.random.stateless_uniform([2], seeds[2]) * (1.0 - box_size)
    box = tf.concat([corner, corner + box_size], axis=0)[None]
    image = tf.image.crop_and_resize(image[None], box, [0], [height, width])[0]

    # 2. A symmetry of the rectangle.
    transpose = tf.random.stateless_uniform([], seeds[3]) < 0.5
    image = tf.cond(
        transpose,
        lambda: tf.image.resize(tf.transpose(image, [1, 0, 2]), [height, width]),
        lambda: image,
    )
    image = tf.image.stateless_random_flip_left_right(image, seeds[4])
    image = tf.image.stateless_random_flip_up_down(image, seeds[5])

    # 3. Colour.
    image = tf.image.stateless_random_brightness(image, BRIGHTNESS_DELTA, seeds[6])
    image = tf.image.stateless_random_contrast(image, *CONTRAST_RANGE, seeds[7])
    image = tf.image.stateless_random_saturation(
        tf.clip_by_value(image, 0.0, 255.0), *SATURATION_RANGE, seeds[8]
    )
    image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape([height, width, 3])
    return image
