"""The shipped pretrained models: they load offline by name and give the θ
stored when they were published (`trainers/publish_pretrained.py`), on a
fixed pair made from a real photograph, so a broken weight file, loader or
normalisation fails here."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_geomatch as kg
from keras_geomatch import geometry
from keras_geomatch.inference import align
from keras_geomatch.inference import warp_images

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXPECTED = os.path.join(HERE, "expected_theta.json")


@pytest.fixture(scope="module")
def expected():
    with open(EXPECTED, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def pair(expected):
    """The publish script's check pair: the photograph and its known affine warp."""
    import skimage.data

    source = getattr(skimage.data, expected["image"])().astype(np.float32)
    theta = np.float32(expected["theta_gt"])
    target = warp_images(source[None], [("affine", theta)], source.shape[:2])[0]
    return source, np.clip(np.asarray(target, np.float32), 0.0, 255.0)


def _grid_error(stages, theta_gt):
    """Mean distance (normalised units) between where stages and θgt send a grid."""
    grid = np.asarray(geometry.identity_grid(10, 10)).reshape(-1, 2)
    truth = np.asarray(geometry.map_points(np.float32(theta_gt)[None], grid, "affine"))[0]
    mapped = grid
    for name, theta in reversed(stages):  # T_θ1(T_θ2(p)): the last stage first
        mapped = np.asarray(geometry.map_points(np.float32(theta)[None], mapped, name))[0]
    return np.linalg.norm(mapped - truth, axis=-1).mean()


def test_the_listing_says_how_each_model_was_trained():
    listing = kg.list_pretrained()
    assert set(listing) == {"affine_vgg16", "tps_vgg16", "affine_tps_vgg16"}
    for name in ("affine_vgg16", "tps_vgg16"):
        training = listing[name]["training"]
        assert training["pairs"] >= 10_000 and training["epochs"] >= 1
        assert training["head_training_seconds"] > 0
        validation = listing[name]["validation"]
        for kind in ("affine_pairs", "tps_pairs"):
            figures = validation[kind]
            assert figures["num_pairs"] > 0
    stages = [s["geometric_model"] for s in listing["affine_tps_vgg16"]["stages"]]
    assert stages == ["affine", "tps"]


@pytest.mark.parametrize("name", ["affine_vgg16", "tps_vgg16"])
def test_one_stage_models_give_the_stored_theta(name, pair, expected):
    model = kg.load_pretrained(name)
    result = align(model, *pair)
    (stored,) = expected[name]
    np.testing.assert_allclose(result.theta, stored, atol=2e-3)


def test_the_two_stage_model_gives_the_stored_thetas_and_recovers_the_warp(pair, expected):
    first, second = kg.load_pretrained("affine_tps_vgg16")
    result = align((first, second), *pair)
    assert result.description == "affine+tps"
    for (_, theta), stored in zip(result.stages, expected["affine_tps_vgg16"]):
        np.testing.assert_allclose(theta, stored, atol=2e-3)
    # The known warp is recovered far better than by doing nothing.
    identity = [("affine", [1, 0, 0, 0, 1, 0])]
    assert _grid_error(result.stages, expected["theta_gt"]) < 0.5 * _grid_error(
        identity, expected["theta_gt"])


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"Expected one of \['affine_tps_vgg16'"):
        kg.load_pretrained("affine_resnet101")


def test_the_models_are_built_from_the_shipped_parts_only():
    # No copy of the backbone per model: one backbone file and small heads.
    folder = os.path.join(os.path.dirname(kg.pretrained.__file__), "weights")
    sizes = {name: os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)}
    assert sizes["vgg16_torchvision_pool4.h5"] > 25e6
    heads = {n: s for n, s in sizes.items() if n != "vgg16_torchvision_pool4.h5"}
    assert set(heads) == {"affine_vgg16.h5", "tps_vgg16.h5"}
    assert all(size < 10e6 for size in heads.values())


def test_align_uses_the_two_stage_model_without_model(tmp_path):
    import skimage.data
    from PIL import Image

    image = skimage.data.astronaut()
    Image.fromarray(image).save(tmp_path / "a.png")
    Image.fromarray(image[40:, 30:]).save(tmp_path / "b.png")
    completed = subprocess.run(
        [sys.executable, os.path.join(REPO, "trainers", "align.py"), "a.png", "b.png",
         "--out", "fig.png"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "stage 1: affine θ" in completed.stdout and "stage 2: tps θ" in completed.stdout
    assert (tmp_path / "fig.png").stat().st_size > 10_000


def test_the_align_programs_default_is_the_shipped_two_stage_model():
    from absl import flags

    from trainers import align as align_program

    flag_values = flags.FlagValues()
    align_program.define_flags(flag_values)
    default = flag_values["model"].default
    assert default == kg.pretrained.DEFAULT_TWO_STAGE
    assert len(kg.list_pretrained()[default]["stages"]) == 2
