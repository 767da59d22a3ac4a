"""View augmentation: the view map pinned against numpy, seeded, varied, θgt intact,
and the fused pipeline path equal to cutting the pair from the whole view."""

import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch import data
from keras_geomatch import geometry
from keras_geomatch.data import augmentation
from keras_geomatch.data import ViewAugmentation

TRUE, FALSE = tf.constant(True), tf.constant(False)


def image(height=48, width=64):
    rng = np.random.default_rng(0)
    return tf.constant(rng.uniform(0, 255, (height, width, 3)), tf.float32)


def resample(img, view):
    height, width = img.shape[:2]
    grid = augmentation.apply_view(geometry.identity_grid(height, width)[None], view[None])
    return geometry.bilinear_sample(img[None], grid)[0].numpy()


@pytest.mark.parametrize(
    "transpose, flip_lr, flip_ud, expected",
    [
        (False, False, False, lambda a: a),
        (False, True, False, lambda a: a[:, ::-1]),
        (False, False, True, lambda a: a[::-1]),
        (False, True, True, lambda a: a[::-1, ::-1]),
        (True, False, False, lambda a: a.transpose(1, 0, 2)),
        (True, True, False, lambda a: a.transpose(1, 0, 2)[:, ::-1]),
        (True, False, True, lambda a: a.transpose(1, 0, 2)[::-1]),
    ],
)
def test_full_box_views_are_the_exact_symmetries(transpose, flip_lr, flip_ud, expected):
    square = image(40, 40)
    view = augmentation.view_matrix([0.0, 0.0], [1.0, 1.0], tf.constant(transpose),
                                    tf.constant(flip_lr), tf.constant(flip_ud))
    np.testing.assert_allclose(resample(square, view), expected(square.numpy()), atol=1e-3)


def test_a_box_view_equals_numpy_interpolation_of_the_box():
    img = image()
    # Box rows 12..36 (fractions of 47), columns 9..54 (of 63): corners aligned.
    top_left, bottom_right = [12 / 47, 9 / 63], [36 / 47, 54 / 63]
    view = augmentation.view_matrix(top_left, bottom_right, FALSE, FALSE, FALSE)
    ys, xs = np.linspace(12, 36, 48), np.linspace(9, 54, 64)
    a = img.numpy()
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    y1, x1 = np.minimum(y0 + 1, 47), np.minimum(x0 + 1, 63)
    expected = ((1 - wy) * (1 - wx) * a[y0][:, x0] + (1 - wy) * wx * a[y0][:, x1]
                + wy * (1 - wx) * a[y1][:, x0] + wy * wx * a[y1][:, x1])
    np.testing.assert_allclose(resample(img, view), expected, atol=5e-3)  # float32 coordinates


def test_colour_matches_a_numpy_reference():
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 255, (2, 5, 6, 3)).astype("float32")
    colour = np.array([[20.0, 1.2, 0.7], [-30.0, 0.8, 1.3]], "float32")
    mean = images.mean(axis=(1, 2), keepdims=True)
    out = augmentation.apply_colour(images, colour, mean).numpy()
    b, c, s = (colour[:, i, None, None, None] for i in range(3))
    x = np.clip((images - mean) * c + mean + b, 0, 255)
    gray = (x * [0.299, 0.587, 0.114]).sum(-1, keepdims=True)
    np.testing.assert_allclose(out, np.clip(gray + s * (x - gray), 0, 255), rtol=1e-5, atol=1e-3)


def test_sampled_views_stay_within_the_ranges_and_the_image():
    aug = ViewAugmentation()
    for s in range(40):
        view, colour = aug.sample(tf.constant([5, s], tf.int64))
        # The view's corners map inside the image: the box is inside it.
        corners = np.array([[u, v, 1.0] for u in (-1, 1) for v in (-1, 1)])
        mapped = corners @ view.numpy().T
        assert np.all(np.abs(mapped) <= 1 + 1e-5)
        brightness, contrast, saturation = colour.numpy()
        assert abs(brightness) <= 40 and 0.7 <= contrast <= 1.3 and 0.6 <= saturation <= 1.4


def test_shape_range_and_determinism():
    aug = ViewAugmentation()
    a = aug.augment_image(image(), tf.constant([1, 2], tf.int64))
    b = aug.augment_image(image(), tf.constant([1, 2], tf.int64))
    c = aug.augment_image(image(), tf.constant([1, 3], tf.int64))
    assert a.shape == (48, 64, 3) and a.dtype == tf.float32
    assert float(tf.reduce_min(a)) >= 0.0 and float(tf.reduce_max(a)) <= 255.0
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())


def test_views_differ_from_the_original_and_each_other():
    aug = ViewAugmentation()
    views = [aug.augment_image(image(), tf.constant([0, s], tf.int64)).numpy() for s in range(6)]
    original = image().numpy()
    assert all(np.abs(v - original).mean() > 5 for v in views)
    assert len({v.round(3).tobytes() for v in views}) == 6


def test_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="zoom_range within"):
        ViewAugmentation(zoom_range=(0.5, 1.5))
    with pytest.raises(ValueError, match="contrast_range as"):
        ViewAugmentation(contrast_range=(1.2, 0.8))
    with pytest.raises(ValueError, match="static shape"):
        ViewAugmentation().augment_image(tf.zeros([4, 4]), tf.constant([0, 0]))


@pytest.fixture
def smooth_image_file(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    smooth = tf.image.resize(rng.uniform(0, 255, (1, 12, 16, 3)), (120, 160)).numpy()[0]
    path = tmp_path / "a.png"
    Image.fromarray(smooth.astype(np.uint8)).save(path)
    return str(path)


def test_pairs_of_augmented_images_keep_their_theta(smooth_image_file):
    config = data.PairConfig("affine", image_size=(64, 64), resize_size=(120, 160))
    dataset = data.make_pair_dataset([smooth_image_file], config, batch_size=4, seed=3,
                                     augment=ViewAugmentation())
    plain = data.make_pair_dataset([smooth_image_file], config, batch_size=4, seed=3)
    (inputs, theta), (plain_inputs, plain_theta) = next(iter(dataset)), next(iter(plain))
    np.testing.assert_array_equal(theta.numpy(), plain_theta.numpy())  # θ untouched
    assert not np.allclose(inputs["source_image"], plain_inputs["source_image"])
    # Warping the augmented source by θgt gives the augmented target (inside).
    grid = geometry.transform_grid(theta, "affine", 64, 64)
    warped = geometry.bilinear_sample(inputs["source_image"], grid).numpy()
    inside = np.all(np.abs(grid.numpy()) <= 0.95, axis=-1)
    difference = np.abs(warped - inputs["target_image"].numpy())[inside]
    assert difference.mean() < 3.0


def test_the_fused_pair_is_the_pair_of_the_whole_view(smooth_image_file):
    # Pipeline path: the view folded into the pair's sampling, colour on the
    # crops. Reference: resample the whole view (pixel-exact symmetry, so no
    # second interpolation), cut the pair from it, then the same colour.
    config = data.PairConfig("tps", image_size=(48, 48), resize_size=(120, 160))
    pixels = data.load_resized_image(tf.constant(smooth_image_file), (120, 160))
    pixels = tf.cast(pixels, tf.float32)
    theta = data.random_theta("tps", tf.constant([1, 2], tf.int64), config)[None]
    view = augmentation.view_matrix([0.0, 0.0], [1.0, 1.0], FALSE, TRUE, TRUE)[None]
    colour = tf.constant([[15.0, 1.1, 0.8]])

    source, target = data.make_synthetic_pairs(pixels[None], theta, config, view=view)
    mean = tf.reduce_mean(source, axis=[1, 2], keepdims=True)
    fused = [augmentation.apply_colour(x, colour, mean).numpy() for x in (source, target)]

    flipped = pixels[::-1, ::-1][None]
    ref_source, ref_target = data.make_synthetic_pairs(flipped, theta, config)
    reference = [augmentation.apply_colour(x, colour, mean).numpy()
                 for x in (ref_source, ref_target)]
    np.testing.assert_allclose(fused[0], reference[0], atol=1e-2)
    np.testing.assert_allclose(fused[1], reference[1], atol=1e-2)


def test_augmented_stream_is_seeded_and_validation_untouched(smooth_image_file):
    config = data.PairConfig("affine", image_size=(32, 32), resize_size=(120, 160))

    def first(**kwargs):
        ds = data.make_pair_dataset([smooth_image_file], config, batch_size=2, **kwargs)
        return next(iter(ds))[0]["target_image"].numpy()

    aug = ViewAugmentation()
    np.testing.assert_array_equal(first(seed=4, augment=aug), first(seed=4, augment=aug))
    assert not np.array_equal(first(seed=4, augment=aug), first(seed=5, augment=aug))
    # `start=` still skips for free: pair 2 of the stream is pair 0 of start=2.
    ds = data.make_pair_dataset([smooth_image_file], config, batch_size=1, seed=4, augment=aug)
    third = list(ds.take(3))[2][0]["source_image"].numpy()
    skipped = data.make_pair_dataset([smooth_image_file], config, batch_size=1, seed=4,
                                     augment=aug, start=2)
    np.testing.assert_array_equal(third, next(iter(skipped))[0]["source_image"].numpy())


def test_a_custom_image_function_still_works(smooth_image_file):
    config = data.PairConfig("affine", image_size=(32, 32), resize_size=(120, 160))
    plain = data.make_pair_dataset([smooth_image_file], config, batch_size=1, seed=4)
    dark = data.make_pair_dataset([smooth_image_file], config, batch_size=1, seed=4,
                                  augment=lambda img, seed: img * 0.5)
    a = next(iter(plain))[0]["source_image"].numpy()
    b = next(iter(dark))[0]["source_image"].numpy()
    np.testing.assert_allclose(b, np.round(a * 0.5), atol=1.0)

