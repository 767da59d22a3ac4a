"""Tiny exported models shared by the export tests (built and exported once).

With `KG_SERVING_MODELS=pretrained` in the environment the same tests run on
the shipped pretrained models instead (VGG-16, 240×240; the two-stage export
made by `trainers/export.py --model=affine_tps_vgg16`): the slow test
`test_pretrained_serving.py` does that in a subprocess.
"""

import os

import numpy as np
import pytest

import keras
import keras_geomatch
from keras_geomatch import export
from keras_geomatch import geometry

PRETRAINED = os.environ.get("KG_SERVING_MODELS") == "pretrained"
IMAGE_SIZE = (240, 240) if PRETRAINED else (88, 88)
TRAINING_CONFIG = {"learning_rate": 1e-3, "batch_size": 16, "image_size": list(IMAGE_SIZE)}


def near_identity_model(geometric_model, seed):
    """A random tiny model whose θ stays near the identity but depends on the images.

    The last Dense layer's bias is set to the identity θ and its kernel
    scaled down, so warps stay sensible while θ still changes with the input.
    """
    keras.utils.set_random_seed(seed)
    model = keras_geomatch.build_geomatch_model(
        geometric_model, "small", weights=None, image_size=IMAGE_SIZE
    )
    linear = model.get_layer("feature_regression").linear
    linear.kernel.assign(linear.kernel.numpy() * 2.0)
    linear.bias.assign(geometry.identity_theta(geometric_model))
    return model


def random_images(rng, batch, height, width):
    """Smooth-ish random uint8 RGB images (noise blurred by upsampling)."""
    coarse = rng.uniform(0, 255, size=(batch, height // 4 + 2, width // 4 + 2, 3))
    upsampled = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)[:, :height, :width]
    noise = rng.uniform(-20, 20, size=upsampled.shape)
    return np.clip(upsampled + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def affine_model():
    if PRETRAINED:
        return keras_geomatch.load_pretrained("affine_vgg16")
    return near_identity_model("affine", seed=1)


@pytest.fixture(scope="session")
def tps_model():
    if PRETRAINED:
        return keras_geomatch.load_pretrained("tps_vgg16")
    return near_identity_model("tps", seed=2)


@pytest.fixture(scope="session")
def single_export(tmp_path_factory, affine_model):
    """export_dir of the affine model alone, version 1."""
    path = tmp_path_factory.mktemp("exports") / "affine"
    export.export_model(affine_model, path, config=TRAINING_CONFIG, version=1)
    return path


@pytest.fixture(scope="session")
def two_stage_export(tmp_path_factory, affine_model, tps_model):
    """export_dir of affine then TPS, version 7."""
    path = tmp_path_factory.mktemp("exports") / "affine_tps"
    if PRETRAINED:  # by name, as a user exports it
        from trainers import export as export_program

        export_program.run("affine_tps_vgg16", str(path), version=7)
        return path
    export.export_model(affine_model, path, version=7, second_stage_model=tps_model)
    return path


@pytest.fixture(scope="session")
def single_signatures(single_export):
    import tensorflow as tf

    return tf.saved_model.load(str(single_export / "serving" / "1")).signatures


@pytest.fixture(scope="session")
def two_stage_signatures(two_stage_export):
    import tensorflow as tf

    return tf.saved_model.load(str(two_stage_export / "serving" / "7")).signatures
