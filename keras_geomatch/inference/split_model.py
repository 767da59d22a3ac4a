"""A geomatch model split into its feature extractor and its matching head.

    features:  image ─ preprocess ─ feature_extraction ─ feature_l2_norm ─ f
    head:      (f_A, f_B) ─ feature_correlation [─ match_relu ─ match_l2_norm]
                          ─ feature_regression ─ θ

Both sub-models are built from the layers of the given model (`get_layer`),
so they share its weights: `head(features(A), features(B))` is the model's
θ, but the features of an image can be computed once and reused for every
pair it belongs to (the evaluation does this; PF-WILLOW has 100 images for
900 pairs).
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from keras_geomatch.inference import model_loading
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.models.mixed_precision import computing_in

_MATCH_NORMALIZATION = ("match_relu", "match_l2_norm")


def _normalize_matches(model, correlation):
    """The model's match normalisation (ReLU + L2 norm) if it has one."""
    if model.normalize_matches:
        for name in _MATCH_NORMALIZATION:
            correlation = model.get_layer(name)(correlation)
    return correlation


@dataclasses.dataclass(frozen=True, eq=False)
class SplitGeomatchModel:
    """The two halves of a geomatch model.

    Attributes:
        features: `keras.Model`, images `(batch, H, W, 3)` in [0, 255] →
            L2-normalised features `(batch, h, w, d)`.
        head: `keras.Model`, `[features_a, features_b]` → θ `(batch, P)`.
        image_size: `(H, W)`, the input size of the model.
        geometric_model: name of the geometric model of θ.
        model: the geomatch model the halves come from.
    """

    features: keras.Model
    head: keras.Model
    image_size: tuple
    geometric_model: str
    model: keras.Model

    def __post_init__(self):
        # One trace each for any batch size (a tf.function with a fixed
        # signature, so batches of different sizes do not retrace).
        feature_spec = tf.TensorSpec((None, *self.image_size, 3), tf.float32)
        map_spec = tf.TensorSpec(
            (None, *self.features.output.shape[1:]), self.features.output.dtype
        )
        features, head = self.features, self.head
        object.__setattr__(
            self,
            "_features_fn",
            tf.function(lambda x: features(x, training=False), input_signature=[feature_spec]),
        )
        object.__setattr__(
            self,
            "_head_fn",
            tf.function(
                lambda a, b: head([a, b], training=False), input_signature=[map_spec, map_spec]
            ),
        )

    def extract_features(self, images):
        """Features of `(batch, H, W, 3)` images in [0, 255]; numpy `(batch, h, w, d)`."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or tuple(images.shape[1:]) != (*self.image_size, 3):
            raise ValueError(
                f"Expected images of shape (batch, {self.image_size[0]}, {self.image_size[1]}, 3). "
                f"Received: shape={images.shape}"
            )
        return self._features_fn(images).numpy()

    def regress(self, features_a, features_b):
        """θ `(batch, P)` float32 numpy from the features of A (source) and B (target)."""
        return np.asarray(self._head_fn(features_a, features_b), dtype=np.float32)

    def predict_theta(self, source_images, target_images):
        """θ of image pairs (both `(batch, H, W, 3)` in [0, 255]), through the two halves."""
        return self.regress(
            self.extract_features(source_images), self.extract_features(target_images)
        )


def split_geomatch_model(model, check=True):
    """Splits a geomatch model into feature extraction and head.

    Args:
        model: a `GeomatchModel`, or a model `model_loading.find_geomatch_model`
            finds one in (a v0.1 model is upgraded: the split then shares
            the weights of the upgraded copy).
        check: run one random pair through the model and through its two
            halves and raise if their θ differ, which would mean the model's
            graph is not the standard one the split assumes.

    Returns:
        A `SplitGeomatchModel` sharing the model's weights.

    Raises:
        ValueError: not a geomatch model, or (with `check`) the halves do
            not reproduce the model's θ.
    """
    model = model_loading.find_geomatch_model(model)
    image_size = model.image_size

    # === Features ===
    image = keras.Input((*image_size, 3), name="image")
    features = model.get_layer("preprocess")(image)
    features = model.get_layer("feature_extraction")(features)
    features = model.get_layer("feature_l2_norm")(features)
    feature_model = keras.Model(image, features, name=f"{model.name}_features")

    # === Head ===
    features_a = keras.Input(features.shape[1:], name="features_a")
    features_b = keras.Input(features.shape[1:], name="features_b")
    correlation = model.get_layer("feature_correlation")(features_a, features_b)
    correlation = _normalize_matches(model, correlation)
    theta = model.get_layer("feature_regression")(correlation)
    head_model = keras.Model([features_a, features_b], theta, name=f"{model.name}_head")

    split = SplitGeomatchModel(
        features=feature_model,
        head=head_model,
        image_size=image_size,
        geometric_model=model.geometric_model,
        model=model,
    )
    if check:
        _check_split(split)
    return split


def _check_split(split):
    rng = np.random.default_rng(0)
    shape = (1, *split.image_size, 3)
    source = rng.uniform(0.0, 255.0, shape).astype(np.float32)
    target = rng.uniform(0.0, 255.0, shape).astype(np.float32)
    # In float32 whatever the model's policy: under bf16 the full model (one
    # backbone call on [A; B]) and the halves (one call per image) round
    # differently, which says nothing about the graph. Eager calls, so the
    # halves' tf.functions are traced later, under the model's own policy.
    with computing_in(split.model, "float32"):
        expected = np.asarray(
            split.model({SOURCE_IMAGE: source, TARGET_IMAGE: target}, training=False)
        )
        received = np.asarray(
            split.head(
                [split.features(source, training=False), split.features(target, training=False)],
                training=False,
            )
        )
    tolerance = 1e-4 * (1.0 + np.abs(expected).max())
    if not np.allclose(received, expected, rtol=0.0, atol=tolerance):
        raise ValueError(
            f"Model {split.model.name!r} does not split into feature extraction and head: "
            "expected the standard geomatch graph (preprocess → feature_extraction → "
            "feature_l2_norm → feature_correlation [→ match_relu → match_l2_norm] → "
            f"feature_regression). θ differs: model {expected.tolist()}, split "
            f"{received.tolist()}"
        )


def split_head(model):
    """The head of a geomatch model, split at the regression's input.

        correlation:  (f_A, f_B) ─ feature_correlation [─ match_relu ─ match_l2_norm] ─ c
        regression:   c ─ feature_regression ─ θ

    Both share the model's layers, so training `regression` trains the
    model's head: with a frozen backbone, `c` of a pair never changes and can
    be computed once (`training.pair_feature_cache`).

    Returns:
        `(correlation, regression)`, two `keras.Model`s.
    """
    model = model_loading.find_geomatch_model(model)
    feature_shape = model.get_layer("feature_correlation").input[0].shape[1:]
    features_a = keras.Input(feature_shape, name="features_a")
    features_b = keras.Input(feature_shape, name="features_b")
    correlation = model.get_layer("feature_correlation")(features_a, features_b)
    correlation = _normalize_matches(model, correlation)
    correlation_model = keras.Model(
        [features_a, features_b], correlation, name=f"{model.name}_correlation"
    )
    matches = keras.Input(correlation.shape[1:], name="correlation")
    theta = model.get_layer("feature_regression")(matches)
    return correlation_model, keras.Model(matches, theta, name=f"{model.name}_regression")
