"""Image augmentation: shape and range kept, seeded, varied, and θgt intact."""

import numpy as np
import tensorflow as tf

from keras_geomatch import data
from keras_geomatch import geometry
from keras_geomatch.training.image_augmentation import augment_image


def image():
    rng = np.random.default_rng(0)
    return tf.constant(rng.uniform(0, 255, (48, 64, 3)), tf.float32)


def test_shape_range_and_determinism():
    a = augment_image(image(), tf.constant([1, 2], tf.int64))
    b = augment_image(image(), tf.constant([1, 2], tf.int64))
    c = augment_image(image(), tf.constant([1, 3], tf.int64))
    assert a.shape == (48, 64, 3) and a.dtype == tf.float32
    assert float(tf.reduce_min(a)) >= 0.0 and float(tf.reduce_max(a)) <= 255.0
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), c.numpy())


def test_views_differ_from_the_original_and_each_other():
    views = [augment_image(image(), tf.constant([0, s], tf.int64)).numpy() for s in range(6)]
    original = image().numpy()
    assert all(np.abs(v - original).mean() > 5 for v in views)
    assert len({v.round(3).tobytes() for v in views}) == 6


def test_pairs_of_augmented_images_keep_their_theta(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    smooth = tf.image.resize(rng.uniform(0, 255, (1, 12, 16, 3)), (120, 160)).numpy()[0]
    path = tmp_path / "a.png"
    Image.fromarray(smooth.astype(np.uint8)).save(path)
    config = data.PairConfig("affine", image_size=(64, 64), resize_size=(120, 160))
    dataset = data.make_pair_dataset([str(path)], config, batch_size=4, seed=3,
                                     augment=augment_image)
    plain = data.make_pair_dataset([str(path)], config, batch_size=4, seed=3)
    (inputs, theta), (plain_inputs, plain_theta) = next(iter(dataset)), next(iter(plain))
    np.testing.assert_array_equal(theta.numpy(), plain_theta.numpy())  # θ untouched
    assert not np.allclose(inputs["source_image"], plain_inputs["source_image"])
    # Warping the augmented source by θgt gives the augmented target (inside).
    grid = geometry.transform_grid(theta, "affine", 64, 64)
    warped = geometry.bilinear_sample(inputs["source_image"], grid).numpy()
    inside = np.all(np.abs(grid.numpy()) <= 0.95, axis=-1)
    difference = np.abs(warped - inputs["target_image"].numpy())[inside]
    assert difference.mean() < 3.0
