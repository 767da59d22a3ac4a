"""Under a mixed dtype policy the matching layers stay float32 (see benchmarks/RESULTS.md).

The backbone and the regression's convolutions run in the policy's compute
dtype; the L2 norms, the correlation and the ReLU between them compute in
float32, like the grid generators, the sampler and the regression's Dense.
"""

import keras
import numpy as np
import pytest

from keras_geomatch.layers import FeatureCorrelation
from keras_geomatch.layers import FeatureL2Norm
from keras_geomatch.models import build_geomatch_model


@pytest.fixture
def mixed_bfloat16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    yield
    keras.config.set_dtype_policy(previous)


def test_l2_norm_computes_in_float32_under_mixed_policy(mixed_bfloat16):
    layer = FeatureL2Norm()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 3, 3, 512)).astype("float32")
    out = layer(keras.ops.cast(features, "bfloat16"))
    assert layer.compute_dtype == "float32"
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    # Norms of exactly 1 up to float32 rounding (bf16 arithmetic is off by ~1e-3).
    norms = np.linalg.norm(np.asarray(out), axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_correlation_computes_in_float32_under_mixed_policy(mixed_bfloat16):
    layer = FeatureCorrelation()
    rng = np.random.default_rng(1)
    a = rng.normal(size=(1, 4, 4, 64)).astype("float32")
    b = rng.normal(size=(1, 4, 4, 64)).astype("float32")
    out = layer(a, b)
    assert layer.compute_dtype == "float32"
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    # Entry (i, j, k = row_A + h·col_A) = <b[i, j], a[row_A, col_A]>, in float32.
    expected = np.einsum("ijd,nmd->ijmn", b[0], a[0]).reshape(4, 4, 16)
    np.testing.assert_allclose(np.asarray(out)[0], expected, rtol=1e-5, atol=1e-4)


def test_explicit_dtype_still_overrides(mixed_bfloat16):
    assert FeatureL2Norm(dtype="mixed_bfloat16").compute_dtype == "bfloat16"
    assert FeatureCorrelation(dtype="bfloat16").compute_dtype == "bfloat16"


def test_model_under_mixed_policy_runs_backbone_in_bf16_and_matching_in_float32(mixed_bfloat16):
    model = build_geomatch_model("affine", "small", weights=None, image_size=(88, 88))
    compute = {layer.name: layer.compute_dtype for layer in model.layers}
    assert model.get_layer("feature_extraction").get_layer("block1_conv1").compute_dtype == "bfloat16"
    for name in ("feature_l2_norm", "feature_correlation", "match_relu", "match_l2_norm"):
        assert compute[name] == "float32", name
    source = np.full((1, 88, 88, 3), 100.0, "float32")
    theta = model({"source_image": source, "target_image": source})
    assert keras.backend.standardize_dtype(theta.dtype) == "float32"


def test_config_round_trip_keeps_float32(mixed_bfloat16):
    layer = FeatureCorrelation.from_config(FeatureCorrelation().get_config())
    assert layer.compute_dtype == "float32"
    layer = FeatureL2Norm.from_config(FeatureL2Norm(epsilon=1e-3).get_config())
    assert layer.compute_dtype == "float32" and layer.epsilon == 1e-3
