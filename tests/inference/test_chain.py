"""The alignment chain against independent numpy compositions (SPEC §4)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_geomatch.inference import chain
from keras_geomatch.inference import warp_images
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from tests.geometry import reference_maps
from tests.inference.tiny_models import constant_theta_model
from tests.inference.tiny_models import tiny_model

AFFINE_1 = np.array([[0.9, 0.15, -0.05, -0.1, 1.1, 0.1], [1.2, 0.0, 0.1, 0.05, 0.8, 0.0]])
AFFINE_2 = np.array([[1.05, -0.2, 0.1, 0.1, 0.95, -0.05], [0.7, 0.1, 0.0, 0.0, 0.9, 0.2]])


def homogeneous(theta):
    """Affine θ (6,) as the 3×3 matrix acting on (x, y, 1)."""
    return np.vstack([np.asarray(theta, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def numpy_grid(height, width):
    """Corner-aligned normalised (x, y) of every pixel, row-major `(height * width, 2)`."""
    ys, xs = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], -1)


def numpy_sample(image, normalised):
    """Bilinear sample of `(H, W, C)` at normalised points `(n, 2)`; neighbours outside read 0."""
    height, width = image.shape[:2]
    x = (normalised[:, 0] + 1) / 2 * (width - 1)
    y = (normalised[:, 1] + 1) / 2 * (height - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    out = np.zeros((len(x), image.shape[2]))
    for cx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
        for cy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
            inside = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
            values = image[np.clip(cy, 0, height - 1), np.clip(cx, 0, width - 1)]
            out += np.where(inside, wx * wy, 0.0)[:, None] * values
    return out


def numpy_resize(image, size):
    return numpy_sample(image, numpy_grid(*size)).reshape(*size, image.shape[2])


def random_images(seed, batch, height, width):
    """Smooth random float images in [0, 255]."""
    shape = (batch, height // 6 + 2, width // 6 + 2, 3)
    coarse = np.random.default_rng(seed).uniform(0, 255, shape)
    fine = np.repeat(np.repeat(coarse, 6, axis=1), 6, axis=2)[:, :height, :width]
    return fine.astype(np.float32)


@pytest.fixture(scope="module")
def models():
    return {
        "affine": tiny_model("affine", seed=11),
        "tps": tiny_model("tps", image_size=(96, 104), seed=12),
        "tps_88": tiny_model("tps", seed=13),
    }


def test_affine_of_affine_grid_is_the_product_of_the_matrices():
    height, width = 7, 9
    grid = chain.composed_grid(
        [("affine", AFFINE_1.astype(np.float32)), ("affine", AFFINE_2.astype(np.float32))],
        height,
        width,
    ).numpy()
    assert grid.shape == (2, height, width, 2)
    points = np.concatenate([numpy_grid(height, width), np.ones((height * width, 1))], 1)
    for b in range(2):
        # T_θ1 ∘ T_θ2: the second stage acts first, so its matrix is on the right.
        matrix = homogeneous(AFFINE_1[b]) @ homogeneous(AFFINE_2[b])
        expected = (points @ matrix.T)[:, :2].reshape(height, width, 2)
        np.testing.assert_allclose(grid[b], expected, atol=1e-5)
    swapped = chain.composed_grid(
        [("affine", AFFINE_2.astype(np.float32)), ("affine", AFFINE_1.astype(np.float32))],
        height,
        width,
    ).numpy()
    assert np.abs(swapped - grid).max() > 0.05  # the order matters


def test_map_pixels_composes_tps_then_affine_against_the_geometry_references():
    rng = np.random.default_rng(3)
    affine = reference_maps.random_theta("affine", rng, 2)
    tps = reference_maps.random_theta("tps", rng, 2, scale=0.15)
    target_size, source_size = (31, 47), (60, 25)
    points = rng.uniform(-5, 50, (2, 6, 2)).astype(np.float32)
    received = chain.map_pixels(
        points, [("affine", affine), ("tps", tps)], target_size, source_size
    ).numpy()
    for b in range(2):
        normalised = 2 * points[b] / (np.array(target_size[::-1]) - 1) - 1
        mapped = reference_maps.affine_map(affine[b], reference_maps.tps_map(tps[b], normalised))
        expected = (mapped + 1) / 2 * (np.array(source_size[::-1]) - 1)
        np.testing.assert_allclose(received[b], expected, atol=1e-3)
    identity = chain.map_pixels(points, [], target_size, source_size).numpy()
    scale = (np.array(source_size[::-1]) - 1) / (np.array(target_size[::-1]) - 1)
    np.testing.assert_allclose(identity, points * scale, rtol=1e-5, atol=1e-4)


def test_warp_resized_equals_the_banded_full_resolution_warp():
    images = random_images(0, 2, 20, 30)
    stages = [("affine", AFFINE_1.astype(np.float32)),
              ("tps", reference_maps.random_theta("tps", np.random.default_rng(1), 2, 0.1))]
    warped = chain.warp_resized(images, stages).numpy()
    np.testing.assert_allclose(warped, warp_images(images, stages, (20, 30)), atol=1e-4)
    expected = numpy_sample(images[1], reference_maps.affine_map(
        AFFINE_1[1], reference_maps.tps_map(stages[1][1][1], numpy_grid(20, 30))))
    np.testing.assert_allclose(warped[1], expected.reshape(20, 30, 3), atol=1e-2)


@pytest.mark.parametrize("second", ["tps", "tps_88"], ids=["other_size", "same_size"])
def test_estimate_follows_spec_section_4(models, second):
    """θ1 = m1(resize A, resize B); A1 = resize(A, s2) sampled on θ1's grid; θ2 = m2(A1, B)."""
    first, second = models["affine"], models[second]
    source, target = random_images(1, 1, 70, 100), random_images(2, 1, 90, 60)
    stages = chain.AlignmentChain([first, second]).estimate(source, target)
    assert [name for name, _ in stages] == ["affine", "tps"]

    size1 = (88, 88)
    theta1 = first(
        {SOURCE_IMAGE: numpy_resize(source[0], size1)[None].astype(np.float32),
         TARGET_IMAGE: numpy_resize(target[0], size1)[None].astype(np.float32)}
    ).numpy()
    np.testing.assert_allclose(stages[0][1].numpy(), theta1, atol=1e-4)

    size2 = tuple(second.input[SOURCE_IMAGE].shape[1:3])
    resized = numpy_resize(source[0], size2)
    a1 = numpy_sample(
        resized, reference_maps.affine_map(stages[0][1].numpy()[0], numpy_grid(*size2))
    ).reshape(*size2, 3)
    theta2 = second(
        {SOURCE_IMAGE: a1[None].astype(np.float32),
         TARGET_IMAGE: numpy_resize(target[0], size2)[None].astype(np.float32)}
    ).numpy()
    np.testing.assert_allclose(stages[1][1].numpy(), theta2, atol=1e-3)
    # θ2 depends on A1: without the first stage's warp it would differ.
    unwarped = second(
        {SOURCE_IMAGE: resized[None].astype(np.float32),
         TARGET_IMAGE: numpy_resize(target[0], size2)[None].astype(np.float32)}
    ).numpy()
    assert np.abs(unwarped - theta2).max() > 1e-3


def test_eager_and_traced_chain_agree(models):
    alignment_chain = chain.AlignmentChain([models["affine"], models["tps"]])
    source, target = random_images(4, 2, 50, 64), random_images(5, 2, 41, 33)
    points = np.random.default_rng(6).uniform(0, 32, (2, 5, 2)).astype(np.float32)

    def run(source, target, points):
        stages = alignment_chain.estimate(source, target)
        size = tf.shape(target)
        grid = chain.composed_grid(stages, size[1], size[2])
        mapped = chain.map_pixels(
            points, stages, (size[1], size[2]), (tf.shape(source)[1], tf.shape(source)[2])
        )
        return [theta for _, theta in stages] + [grid, chain.warp_resized(target, stages), mapped]

    image_spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    traced = tf.function(
        run, input_signature=[image_spec, image_spec, tf.TensorSpec([None, None, 2], tf.float32)]
    )
    eager = run(tf.constant(source), tf.constant(target), tf.constant(points))
    graph = traced(source, target, points)
    assert [tuple(e.shape) for e in eager] == [(2, 6), (2, 18), (2, 41, 33, 2), (2, 41, 33, 3),
                                                (2, 5, 2)]
    # Same ops; graph rewrites may reorder float32 arithmetic, hence not bitwise:
    # θ, grid (normalised) and points (pixels) to ~1e-5, image values (0-255) to 1e-2.
    for e, g, atol in zip(eager, graph, [1e-5, 1e-5, 1e-5, 1e-2, 1e-4]):
        np.testing.assert_allclose(g.numpy(), e.numpy(), atol=atol)


def test_stage_models_say_what_each_model_is(models):
    alignment_chain = chain.AlignmentChain([models["affine"], models["tps"]])
    assert alignment_chain.geometric_models == ["affine", "tps"] and len(alignment_chain) == 2
    assert [s.image_size for s in alignment_chain.stage_models] == [(88, 88), (96, 104)]
    assert chain.AlignmentChain(models["affine"]).geometric_models == ["affine"]
    constant = constant_theta_model("affine", [1.0, 0, 0, 0, 1, 0])
    stage = chain.StageModel.from_model(constant)
    assert chain.AlignmentChain([stage]).stage_models == (stage,)


def test_bad_chains_are_refused(models):
    with pytest.raises(ValueError, match="at least one model"):
        chain.AlignmentChain([])
    image = keras.Input((8, 8, 3), name="image")
    other = keras.Model(image, keras.layers.Dense(6)(keras.layers.Flatten()(image)))
    with pytest.raises(ValueError, match="Expected a model with the inputs"):
        chain.AlignmentChain([models["affine"], other])
