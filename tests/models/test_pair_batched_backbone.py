"""The backbone runs once on [sources; targets] unless it has BatchNormalization.

Batching the pair is a speed-up (benchmarks/RESULTS.md): θ must be exactly
what two separate backbone calls give, and BatchNorm backbones (ResNet),
whose training-mode statistics would mix A and B, keep one call per image
set.
"""

import keras
import numpy as np

from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models import build_geomatch_model


def _unbatched_theta(model, source, target):
    """θ through the model's own layers with one backbone call per image set."""
    def features(images):
        x = model.get_layer("preprocess")(images)
        return model.get_layer("feature_l2_norm")(model.get_layer("feature_extraction")(x))

    correlation = model.get_layer("feature_correlation")(features(source), features(target))
    correlation = model.get_layer("match_l2_norm")(model.get_layer("match_relu")(correlation))
    return keras.ops.convert_to_numpy(model.get_layer("feature_regression")(correlation))


def test_batched_pair_gives_the_theta_of_separate_calls():
    keras.utils.set_random_seed(0)
    model = build_geomatch_model("tps", "small", weights=None, image_size=(88, 88))
    assert len(model.get_layer("feature_extraction")._inbound_nodes) == 1
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 255, (3, 88, 88, 3)).astype(np.float32)
    target = rng.uniform(0, 255, (3, 88, 88, 3)).astype(np.float32)
    theta = keras.ops.convert_to_numpy(model({SOURCE_IMAGE: source, TARGET_IMAGE: target}))
    np.testing.assert_allclose(theta, _unbatched_theta(model, source, target), rtol=0, atol=1e-6)
    # Each pair's θ depends on its own images only (the halves are not swapped or mixed).
    single = keras.ops.convert_to_numpy(
        model({SOURCE_IMAGE: source[1:2], TARGET_IMAGE: target[1:2]})
    )
    np.testing.assert_allclose(single[0], theta[1], rtol=0, atol=1e-5)


def test_batch_norm_backbone_keeps_one_call_per_image_set():
    model = build_geomatch_model("affine", "resnet101", weights=None, image_size=(176, 176),
                                 train_backbone=True)
    names = [layer.name for layer in model.layers]
    assert "pair_batch" not in names and "pair_split" not in names
    assert len(model.get_layer("feature_extraction")._inbound_nodes) == 2
