"""`auto` chooses bf16 only where it is native; switching a built model's policy."""

import keras
import numpy as np
import pytest

from keras_geomatch.models import build_geomatch_model
from keras_geomatch.models import mixed_precision
from keras_geomatch.models.mixed_precision import Hardware

AMX_CPU = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
ZEN4_CPU = frozenset({"avx2", "avx512f", "avx512_bf16"})
AVX2_CPU = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512_NO_BF16_CPU = frozenset({"avx2", "avx512f", "avx512bw", "avx512_vnni"})


@pytest.mark.parametrize(
    "hardware, expected",
    [
        (Hardware(cpu_flags=AMX_CPU), "mixed_bfloat16"),
        (Hardware(cpu_flags=ZEN4_CPU), "mixed_bfloat16"),
        (Hardware(cpu_flags=AVX2_CPU), "float32"),
        (Hardware(cpu_flags=AVX512_NO_BF16_CPU), "float32"),
        (Hardware(cpu_flags=frozenset()), "float32"),
        # bf16 CPU kernels come from oneDNN.
        (Hardware(cpu_flags=AMX_CPU, onednn=False), "float32"),
        # The accelerator decides, not the host CPU.
        (Hardware(gpus=(("A100", (8, 0)),), cpu_flags=AVX2_CPU), "mixed_bfloat16"),
        (Hardware(gpus=(("H100", (9, 0)), ("L4", (8, 9))), cpu_flags=AVX2_CPU), "mixed_bfloat16"),
        (Hardware(gpus=(("V100", (7, 0)),), cpu_flags=AMX_CPU), "float32"),
        (Hardware(gpus=(("T4", (7, 5)),), cpu_flags=AMX_CPU), "float32"),
        (Hardware(gpus=(("A100", (8, 0)), ("V100", (7, 0))), cpu_flags=AMX_CPU), "float32"),
        (Hardware(gpus=(("unknown", None),), cpu_flags=AMX_CPU), "float32"),
        (Hardware(tpus=8, cpu_flags=AVX2_CPU), "mixed_bfloat16"),
    ],
)
def test_auto_picks_bfloat16_only_where_native(hardware, expected):
    policy, why = mixed_precision.resolve_dtype_policy("auto", hardware)
    assert policy == expected
    assert why.startswith("auto: ")


def test_auto_says_why_an_old_gpu_is_float32():
    hardware = Hardware(gpus=(("Tesla T4", (7, 5)),), cpu_flags=AMX_CPU)
    _, why = mixed_precision.resolve_dtype_policy("auto", hardware)
    assert "Tesla T4 (compute capability 7.5)" in why and "8.0" in why


@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_explicit_policies_pass_through_whatever_the_hardware(name):
    for hardware in (Hardware(cpu_flags=AMX_CPU), Hardware(cpu_flags=AVX2_CPU)):
        assert mixed_precision.resolve_dtype_policy(name, hardware) == (name, "asked for")


def test_unknown_policy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"Unknown mixed_precision 'bfloat16'.*auto, float32"):
        mixed_precision.resolve_dtype_policy("bfloat16")


def test_detect_hardware_reads_this_machine():
    hardware = mixed_precision.detect_hardware()
    assert isinstance(hardware.cpu_flags, frozenset)
    with open("/proc/cpuinfo") as f:
        text = f.read()
    # The flags line is read whole: a flag this CPU has is found.
    assert ("avx2" in text.split()) == ("avx2" in hardware.cpu_flags)
    policy, _ = mixed_precision.resolve_dtype_policy("auto")
    assert policy == mixed_precision.resolve_dtype_policy("auto", hardware)[0]


def test_cpu_flags_of_a_missing_file_are_empty(tmp_path):
    assert mixed_precision._cpu_flags(str(tmp_path / "no_cpuinfo")) == frozenset()


def _policies(layer, prefix=""):
    """`{"outer/inner": policy name}` for every nested layer of `layer`."""
    policies = {}
    for sublayer in layer._flatten_layers(include_self=False, recursive=False):
        if isinstance(sublayer, keras.layers.InputLayer):
            continue  # auto-numbered names, nothing computed
        path = prefix + sublayer.name
        policies[path] = sublayer.dtype_policy.name
        policies.update(_policies(sublayer, path + "/"))
    return policies


def _build(policy, backbone, image_size, geometric_model="tps"):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(3)
        return build_geomatch_model(geometric_model, backbone, weights=None, image_size=image_size)
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("backbone, image_size", [("small", (88, 88)), ("vgg16", (176, 176))])
def test_switching_a_float32_model_equals_building_it_under_bf16(backbone, image_size):
    built_bf16 = _build("mixed_bfloat16", backbone, image_size)
    model = _build("float32", backbone, image_size)
    built_bf16.set_weights(model.get_weights())
    assert set(_policies(model).values()) == {"float32"}

    assert mixed_precision.set_compute_dtype_policy(model, "mixed_bfloat16") == "mixed_bfloat16"

    # Every layer, nested ones included, has the policy the builder gives it.
    assert _policies(model) == _policies(built_bf16)
    policies = _policies(model)
    assert "bfloat16" in model.get_layer("feature_extraction").layers[1].compute_dtype
    assert policies["feature_regression/conv1"] == "mixed_bfloat16"
    for pinned in ("feature_l2_norm", "feature_correlation", "match_relu", "match_l2_norm",
                   "feature_regression/linear"):
        assert policies[pinned] == "float32", pinned
    rng = np.random.default_rng(0)
    inputs = {
        "source_image": rng.uniform(0, 255, (2, *image_size, 3)).astype("float32"),
        "target_image": rng.uniform(0, 255, (2, *image_size, 3)).astype("float32"),
    }
    theta = np.asarray(model(inputs))
    np.testing.assert_array_equal(theta, np.asarray(built_bf16(inputs)))
    assert theta.dtype == np.float32


def test_switching_back_to_float32_restores_float32_results():
    model = _build("float32", "small", (88, 88))
    rng = np.random.default_rng(1)
    inputs = {
        "source_image": rng.uniform(0, 255, (1, 88, 88, 3)).astype("float32"),
        "target_image": rng.uniform(0, 255, (1, 88, 88, 3)).astype("float32"),
    }
    expected = np.asarray(model(inputs))
    mixed_precision.set_compute_dtype_policy(model, "mixed_bfloat16")
    in_bf16 = np.asarray(model(inputs))
    assert not np.array_equal(in_bf16, expected)  # bf16 convolutions do change θ a little
    np.testing.assert_allclose(in_bf16, expected, atol=0.05)
    mixed_precision.set_compute_dtype_policy(model, "float32")
    np.testing.assert_array_equal(np.asarray(model(inputs)), expected)
