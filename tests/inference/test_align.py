import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import ndimage

from keras_geomatch.inference import align
from keras_geomatch.inference import resize_image
from keras_geomatch.inference import warp_images
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from tests.inference.tiny_models import constant_theta_model
from tests.inference.tiny_models import normalised_to_pixels
from tests.inference.tiny_models import numpy_affine_map
from tests.inference.tiny_models import numpy_tps_map
from tests.inference.tiny_models import pixels_to_normalised
from tests.inference.tiny_models import tiny_model

AFFINE = np.array([0.8, 0.1, 0.05, -0.1, 0.75, -0.1])
TPS = np.concatenate([np.repeat([-1.0, 0, 1], 3), np.tile([-1.0, 0, 1], 3)]) + np.array(
    [0.1, -0.05, 0, 0.05, 0.1, -0.1, 0, 0.05, -0.1, 0.05, 0, -0.1, 0.1, 0, 0.05, -0.05, 0.1, 0]
)


def _photo(height, width, seed):
    """Smooth random colours, so bilinear references agree closely."""
    coarse = np.random.default_rng(seed).uniform(0, 255, (height // 6 + 2, width // 6 + 2, 3))
    return ndimage.zoom(coarse, (height / coarse.shape[0], width / coarse.shape[1], 1), order=1)[
        :height, :width
    ].astype(np.float32)


@pytest.fixture(scope="module")
def images():
    return _photo(70, 100, 0), _photo(90, 60, 1)  # source A, target B of different sizes


@pytest.fixture(scope="module")
def models():
    return {
        "affine": tiny_model("affine", seed=1),
        "tps": tiny_model("tps", image_size=(96, 104), seed=2),
        "constant_affine": constant_theta_model("affine", AFFINE),
        "constant_tps": constant_theta_model("tps", TPS, image_size=(96, 96)),
    }


def test_theta_is_the_models_output_on_the_resized_images(images, models):
    source, target = images
    model = models["affine"]
    result = align(model, source, target)
    expected = model(
        {
            SOURCE_IMAGE: resize_image(source, (88, 88))[None],
            TARGET_IMAGE: resize_image(target, (88, 88))[None],
        }
    ).numpy()[0]
    np.testing.assert_allclose(result.theta, expected, atol=1e-6)
    assert len(result.stages) == 1 and result.geometric_model == "affine"
    assert result.source_size == (70, 100) and result.target_size == (90, 60)
    assert result.description == "affine"


def test_every_input_kind_gives_the_same_theta(images, models, tmp_path):
    source, target = images
    model = models["affine"]
    reference = align(model, source, target).theta
    source_u8 = np.round(source).astype(np.uint8)
    Image.fromarray(source_u8).save(tmp_path / "a.png")
    from_uint8 = align(model, source_u8, target).theta
    for variant in (
        str(tmp_path / "a.png"),
        source_u8.astype(np.float32) / 255.0,
        tf.constant(source_u8),
    ):
        np.testing.assert_allclose(align(model, variant, target).theta, from_uint8, atol=1e-5)
    np.testing.assert_allclose(from_uint8, reference, atol=0.05)  # only rounding differs


def test_gray_and_rgba_inputs_work(images, models, tmp_path):
    source, target = images
    gray = np.round(source.mean(-1)).astype(np.uint8)
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    rgba = np.concatenate(
        [np.round(target).astype(np.uint8), np.full((90, 60, 1), 255, np.uint8)], -1
    )
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    result = align(models["affine"], str(tmp_path / "gray.png"), str(tmp_path / "rgba.png"))
    expected = align(models["affine"], np.repeat(gray[..., None], 3, -1), rgba[..., :3])
    np.testing.assert_allclose(result.theta, expected.theta, atol=1e-6)
    assert result.warped_source.shape == (90, 60, 3)


def test_warped_source_is_the_full_resolution_source_sampled_on_the_target_grid(images, models):
    source, target = images
    result = align(models["constant_affine"], source, target)
    np.testing.assert_allclose(result.theta, AFFINE, atol=1e-6)
    assert result.warped_source.shape == (90, 60, 3) and result.warped_source.dtype == np.float32

    ys, xs = np.meshgrid(np.arange(90), np.arange(60), indexing="ij")
    grid = np.stack([xs.ravel(), ys.ravel()], 1)
    source_pixels = normalised_to_pixels(
        numpy_affine_map(AFFINE, pixels_to_normalised(grid, (90, 60))), (70, 100)
    )
    for channel in range(3):
        expected = ndimage.map_coordinates(
            source[..., channel], [source_pixels[:, 1], source_pixels[:, 0]], order=1
        ).reshape(90, 60)
        np.testing.assert_allclose(result.warped_source[..., channel], expected, atol=0.05)


def test_map_points_goes_from_target_pixels_to_source_pixels(images, models):
    source, target = images
    result = align(models["constant_affine"], source, target)
    points = np.array([[0.0, 0.0], [59.0, 89.0], [30.5, 12.25]])
    expected = normalised_to_pixels(
        numpy_affine_map(AFFINE, pixels_to_normalised(points, (90, 60))), (70, 100)
    )
    np.testing.assert_allclose(result.map_points(points), expected, atol=1e-3)


def test_two_stages_follow_spec_section_4(images, models):
    source, target = images
    model1, model2 = models["affine"], models["tps"]
    result = align(model1, source, target, model2=model2)
    theta1 = align(model1, source, target).theta
    np.testing.assert_allclose(result.theta, theta1, atol=1e-6)
    # θ2 = m2(A1, B): A1 = A resized to m2's input size, warped by θ1 there.
    a1 = warp_images(resize_image(source, (96, 104))[None], [("affine", theta1)], (96, 104))
    theta2 = model2(
        {SOURCE_IMAGE: a1, TARGET_IMAGE: resize_image(target, (96, 104))[None]}
    ).numpy()[0]
    np.testing.assert_allclose(result.stages[1][1], theta2, atol=1e-5)
    assert result.stages[1][0] == "tps" and result.description == "affine+tps"
    assert (
        np.abs(result.stages[1][1] - model2.get_layer("feature_regression").linear.bias.numpy()).max()
        > 1e-4
    )


def test_two_stages_agree_with_the_exported_serving_graph(images, models):
    from keras_geomatch.export import serving_signatures

    source, target = (np.round(image).astype(np.uint8) for image in images)
    result = align(models["affine"], source, target, model2=models["tps"])
    function, input_signature = serving_signatures.make_signatures(
        [models["affine"], models["tps"]]
    )[serving_signatures.MAP_POINTS]
    points = np.array([[[0.0, 0.0], [59.0, 89.0], [30.5, 12.25]]], np.float32)
    served = tf.function(function, input_signature=input_signature)(
        source[None], target[None], points
    )
    np.testing.assert_allclose(result.theta, served["theta_stage1"].numpy()[0], atol=1e-5)
    np.testing.assert_allclose(result.stages[1][1], served["theta_stage2"].numpy()[0], atol=1e-5)
    np.testing.assert_allclose(
        result.map_points(points[0]), served["source_points"].numpy()[0], atol=1e-3
    )


def test_alignment_holds_one_list_of_stages(images, models):
    source, target = images
    result = align(models["constant_affine"], source, target, model2=models["constant_tps"])
    assert [name for name, _ in result.stages] == ["affine", "tps"]
    assert result.theta is result.stages[0][1]
    assert result.geometric_model == "affine"
    one = align(models["constant_affine"], source, target)
    assert len(one.stages) == 1 and one.geometric_model == "affine"
    with pytest.raises(ValueError, match="Expected θ of 18 values for geometric_model='tps'"):
        dataclasses.replace(one, stages=[("tps", AFFINE)])
    with pytest.raises(ValueError, match="at least one stage"):
        dataclasses.replace(one, stages=[])


def test_two_stage_points_and_warp_use_theta1_of_theta2(images, models):
    source, target = images
    result = align(models["constant_affine"], source, target, model2=models["constant_tps"])
    np.testing.assert_allclose(result.stages[1][1], TPS, atol=1e-6)
    points = np.array([[5.0, 7.0], [40.0, 80.0], [59.0, 0.0]])
    expected = normalised_to_pixels(
        numpy_affine_map(AFFINE, numpy_tps_map(TPS, pixels_to_normalised(points, (90, 60)))),
        (70, 100),
    )
    np.testing.assert_allclose(result.map_points(points), expected, atol=1e-3)
    # The warped source at a target pixel is the source at the mapped point.
    pixel = np.array([[40, 80]])
    mapped = result.map_points(pixel)[0]
    expected_value = [
        ndimage.map_coordinates(source[..., c], [[mapped[1]], [mapped[0]]], order=1)[0]
        for c in range(3)
    ]
    np.testing.assert_allclose(result.warped_source[80, 40], expected_value, atol=0.05)


def test_model_paths_are_accepted_and_bad_models_refused(images, models, tmp_path):
    source, target = images
    models["constant_affine"].save(tmp_path / "affine.keras")
    np.testing.assert_allclose(
        align(str(tmp_path / "affine.keras"), source, target).theta, AFFINE, atol=1e-6
    )
    with pytest.raises(ValueError, match="model2: Expected a keras.Model"):
        align(models["affine"], source, target, model2=object())
    with pytest.raises(FileNotFoundError):
        align(str(tmp_path / "missing.keras"), source, target)


def test_bad_images_are_refused(images, models, tmp_path):
    source, _ = images
    with pytest.raises(ValueError, match="target to be at least 2×2"):
        align(models["affine"], source, np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="source file does not exist"):
        align(models["affine"], str(tmp_path / "nope.jpg"), source)
