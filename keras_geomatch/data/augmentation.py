"""Random views of the training images, applied as each pair is cut (`augment=True`).

Why: a synthetic pair always takes its source from the centre of its image,
so a small image set gives only as many source views as it has images, and
the network learns those images instead of matching (with the 7 built-in
sample photographs, the model beat the identity on its training images and
did worse than the identity on held-out ones). A new random view of the
image for every pair fixes that. Not in the paper (its 13.5k Pascal VOC
images need none); off by default.

A view of the resized image (`resize_size`) is, in order:

1. zoom: a random box (side `zoom_range` of the image's, aspect ratio
   jittered by `aspect_range`, at a random position) stretched to the image;
2. a random symmetry: transpose with probability 1/2, left-right and
   up-down flips with probability 1/2 each (the 8 symmetries of a square);
3. colour: brightness ± `brightness_delta`, contrast × `contrast_range`
   (around the mean), saturation × `saturation_range` (a blend with the
   luminance, as PIL's `ImageEnhance.Color`).

1 and 2 make an affine map of normalised coordinates, view → image (`view`,
2×3). The pipeline does not resample the whole view (480×640) to cut a pair
of 240×240 or 96×96 from it: it composes the map with the pair's sampling
grid, so each pair is one bilinear sampling of the resized image, as without
augmentation. 3 is pointwise: it is applied to the source and target crops,
with the same parameters for both and the contrast centred on the source
crop's mean. θgt keeps its meaning: `target(p) = source(T_θ(p))` for the
view. `augment_image` draws the whole view of an image, for display and
checks.

Stateless: the same seed gives the same view, so a run stays reproducible
and resumable.
"""

import dataclasses
from typing import Tuple

import tensorflow as tf

from keras_geomatch.geometry import coordinates
from keras_geomatch.geometry import sampler

# ITU-R BT.601 luma weights (R, G, B).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@dataclasses.dataclass(frozen=True)
class ViewAugmentation:
    """The random view of an image: zoom box, symmetry, colour (module docstring).

    Example:
        >>> augmentation = ViewAugmentation()
        >>> dataset = make_pair_dataset(files, config, augment=augmentation)
    """

    zoom_range: Tuple[float, float] = (0.4, 1.0)
    aspect_range: Tuple[float, float] = (0.8, 1.25)
    brightness_delta: float = 40.0
    contrast_range: Tuple[float, float] = (0.7, 1.3)
    saturation_range: Tuple[float, float] = (0.6, 1.4)

    def __post_init__(self):
        for name in ("zoom_range", "aspect_range", "contrast_range", "saturation_range"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(
                    f"Expected {name} as (low, high) with 0 < low <= high. "
                    f"Received: {name}={getattr(self, name)!r}"
                )
        if self.zoom_range[1] > 1:
            raise ValueError(
                f"Expected zoom_range within (0, 1]. Received: zoom_range={self.zoom_range!r}"
            )
        if self.brightness_delta < 0:
            raise ValueError(
                "Expected brightness_delta >= 0. "
                f"Received: brightness_delta={self.brightness_delta!r}"
            )

    # Uniform numbers a view is made of (see `from_uniforms`).
    NUM_UNIFORMS = 10

    def sample(self, seed):
        """Draws one view: `from_uniforms` of `NUM_UNIFORMS` stateless uniforms.

        Args:
            seed: stateless seed, `(2,)` int32 or int64.

        Returns:
            `(view, colour)` (see `from_uniforms`).
        """
        uniforms = tf.random.stateless_uniform([self.NUM_UNIFORMS], tf.cast(seed, tf.int64))
        return self.from_uniforms(uniforms)

    def from_uniforms(self, uniforms):
        """The views that uniform numbers in [0, 1) stand for (batched).

        The pipeline draws the numbers per pair (one op, keyed on the pair)
        and turns a whole batch into views inside its compiled pair function.

        Args:
            uniforms: `(..., NUM_UNIFORMS)` float32 in [0, 1).

        Returns:
            `(view, colour)`: `view` float32 `(..., 2, 3)`, the affine map of
            normalised coordinates view → image, `[x, y] = view @ [u, v, 1]`;
            `colour` float32 `(..., 3)`: brightness (added), contrast and
            saturation (factors).
        """
        u = tf.unstack(tf.convert_to_tensor(uniforms, tf.float32), axis=-1)
        side = _between(u[0], self.zoom_range)
        aspect = tf.sqrt(_between(u[1], self.aspect_range))
        box_height = tf.minimum(side * aspect, 1.0)
        box_width = tf.minimum(side / aspect, 1.0)
        top = u[2] * (1.0 - box_height)
        left = u[3] * (1.0 - box_width)
        view = view_matrix(
            tf.stack([top, left], axis=-1),
            tf.stack([top + box_height, left + box_width], axis=-1),
            u[4] < 0.5,
            u[5] < 0.5,
            u[6] < 0.5,
        )
        colour = tf.stack(
            [
                _between(u[7], (-self.brightness_delta, self.brightness_delta)),
                _between(u[8], self.contrast_range),
                _between(u[9], self.saturation_range),
            ],
            axis=-1,
        )
        return view, colour

    def augment_image(self, image, seed):
        """The whole view of one image (what the pipeline samples pairs from).

        Args:
            image: float32 `(H, W, 3)` RGB in [0, 255], static H and W.
            seed: stateless seed, `(2,)`.

        Returns:
            float32 `(H, W, 3)` in [0, 255].
        """
        image = tf.convert_to_tensor(image, tf.float32)
        if image.shape.rank != 3 or not image.shape.is_fully_defined():
            raise ValueError(
                f"Expected an image (H, W, 3) of static shape. Received: shape={image.shape}"
            )
        height, width = int(image.shape[0]), int(image.shape[1])
        view, colour = self.sample(seed)
        grid = apply_view(coordinates.identity_grid(height, width)[None], view[None])
        viewed = sampler.bilinear_sample(image[None], grid)
        mean = tf.reduce_mean(viewed, axis=[1, 2], keepdims=True)
        return apply_colour(viewed, colour[None], mean)[0]


def _between(uniform, bounds):
    low, high = bounds
    return low + uniform * (high - low)


def view_matrix(top_left, bottom_right, transpose, flip_left_right, flip_up_down):
    """The affine map, view → image, of a box under a symmetry (batched).

    Args:
        top_left, bottom_right: `(..., 2)` box corners `(y, x)` as fractions
            of the image's height and width in [0, 1] (corners aligned: 0 is
            the first pixel's centre, 1 the last one's).
        transpose: bool `(...)`: the view's horizontal axis runs along the
            box's vertical one (the box transposed, then stretched).
        flip_left_right, flip_up_down: bool `(...)`: mirror the view.

    Returns:
        float32 `(..., 2, 3)`: `[x, y] = M @ [u, v, 1]` for normalised view
        coordinates `(u, v)` and image coordinates `(x, y)`.
    """
    top_left = tf.cast(top_left, tf.float32)
    bottom_right = tf.cast(bottom_right, tf.float32)
    # Box fraction f ↦ normalised 2f - 1: t ∈ [-1, 1] spans the box's side.
    scale_y, scale_x = tf.unstack(bottom_right - top_left, axis=-1)
    centre_y, centre_x = tf.unstack(top_left + bottom_right - 1.0, axis=-1)
    sign_u = tf.where(flip_left_right, -1.0, 1.0)
    sign_v = tf.where(flip_up_down, -1.0, 1.0)
    transpose = tf.cast(transpose, tf.float32)
    straight = 1.0 - transpose
    rows = [
        [straight * scale_x * sign_u, transpose * scale_x * sign_v, centre_x],
        [transpose * scale_y * sign_u, straight * scale_y * sign_v, centre_y],
    ]
    return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)


def apply_view(grid, view):
    """Maps a grid `(batch, h, w, 2)` of view coordinates by `view` `(batch, 2, 3)`."""
    # Elementwise, not an einsum: a 2×2 matrix product is a dot that XLA
    # would not fuse with the gathers that follow.
    m = view[:, None, None]  # (batch, 1, 1, 2, 3)
    u, v = grid[..., 0], grid[..., 1]
    x = m[..., 0, 0] * u + m[..., 0, 1] * v + m[..., 0, 2]
    y = m[..., 1, 0] * u + m[..., 1, 1] * v + m[..., 1, 2]
    return tf.stack([x, y], axis=-1)


def apply_colour(images, colour, mean):
    """Brightness, contrast and saturation of `images` `(batch, h, w, 3)`.

    Args:
        images: float32 RGB in [0, 255].
        colour: `(batch, 3)` from `ViewAugmentation.sample`.
        mean: `(batch, 1, 1, 3)` the mean colour the contrast scales around
            (before the brightness change).

    Returns:
        float32, same shape, in [0, 255].
    """
    # Reshaped, then sliced with ranges: indexing the output of `tf.stack`
    # with new axes (`colour[:, i, None, None, None]`) is mis-shaped by
    # grappler's RemoveStackStridedSliceSameAxis in TF 2.21 when the graph runs
    # without XLA (the pipeline with jit_compile=False failed).
    colour = tf.reshape(colour, [-1, 1, 1, 3])
    brightness, contrast, saturation = (colour[..., i : i + 1] for i in range(3))
    shifted_mean = mean + brightness
    images = (images + brightness - shifted_mean) * contrast + shifted_mean
    images = tf.clip_by_value(images, 0.0, 255.0)
    gray = tf.reduce_sum(images * LUMA_WEIGHTS, axis=-1, keepdims=True)
    return tf.clip_by_value(gray + saturation * (images - gray), 0.0, 255.0)
