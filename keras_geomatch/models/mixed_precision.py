"""The compute dtype policy of a geomatch model, and `auto`: bf16 where it is native.

Under `mixed_bfloat16` the backbone and the regression's convolutions compute
in bfloat16; the variables, the L2 norms, the correlation, the regression's
Dense (θ), the grid generators, the sampler and the loss stay float32 (the
layers pin it). How much faster and how close to float32 it is was measured
with VGG-16 at 240×240 (benchmarks/RESULTS.md, `mixed_precision_accuracy.py`).

`auto` picks `mixed_bfloat16` only where bfloat16 arithmetic is native, so
that it is both faster and as accurate as measured:

* a TPU;
* GPUs, every one of compute capability ≥ 8.0 (Ampere and newer);
* no accelerator, and a CPU with AMX-BF16 or AVX512-BF16 (Intel Cooper Lake,
  Sapphire Rapids and newer; AMD Zen 4 and newer), with TensorFlow's oneDNN
  kernels on (`TF_ENABLE_ONEDNN_OPTS` not 0).

Elsewhere (older GPUs, CPUs without bf16 instructions, where bf16 is emulated
and slower than float32) it is `float32`. `mixed_float16` is never chosen
automatically: it needs loss scaling and its range is too small for the
unnormalised correlation sums of other models.
"""

import contextlib
import dataclasses

import keras

from keras_geomatch import cpu_kernels

AUTO = "auto"
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
CHOICES = (AUTO, *POLICIES)
# For inference (evaluation, align): mixed_float16 is for training with loss
# scaling, and its range is not checked for inference.
INFERENCE_CHOICES = (AUTO, "float32", "mixed_bfloat16")

# CPU instruction sets with native bf16 dot products (/proc/cpuinfo names).
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# GPUs with bf16 tensor cores: compute capability 8.0 (A100) and newer.
BFLOAT16_GPU_CAPABILITY = (8, 0)


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What `auto` looks at: the accelerators and the CPU's instruction sets.

    Attributes:
        tpus: number of TPU devices.
        gpus: `((name, (major, minor)), ...)`, one per GPU; the compute
            capability is None when TensorFlow does not report it.
        cpu_flags: the CPU's feature flags (lower case, as in /proc/cpuinfo).
        onednn: whether TensorFlow's oneDNN CPU kernels are on.
    """

    tpus: int = 0
    gpus: tuple = ()
    cpu_flags: frozenset = frozenset()
    onednn: bool = True


def detect_hardware():
    """The `Hardware` of this process (devices as TensorFlow lists them).

    Lists physical devices only, so it may run before a `tf.distribute`
    strategy or logical devices are set up.
    """
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(device)
        except (RuntimeError, ValueError):
            details = {}
        capability = details.get("compute_capability")
        gpus.append((details.get("device_name", device.name),
                     tuple(capability) if capability else None))
    return Hardware(
        tpus=len(tf.config.list_physical_devices("TPU")),
        gpus=tuple(gpus),
        cpu_flags=_cpu_flags(),
        onednn=cpu_kernels.onednn_enabled(),
    )


def _cpu_flags(cpuinfo="/proc/cpuinfo"):
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].lower().split())
    except OSError:
        pass
    # Not Linux (or no /proc): nothing known, so `auto` stays float32 on CPU.
    return frozenset()


def native_bfloat16(hardware):
    """`(True/False, why)`: whether the device that computes does bf16 natively."""
    if hardware.tpus:
        return True, f"{hardware.tpus} TPU device(s)"
    if hardware.gpus:
        old = [
            f"{name} (compute capability {_capability(cc)})"
            for name, cc in hardware.gpus
            if cc is None or tuple(cc) < BFLOAT16_GPU_CAPABILITY
        ]
        if old:
            return False, (
                "GPU without native bf16 (needs compute capability "
                f"{_capability(BFLOAT16_GPU_CAPABILITY)}): {', '.join(old)}"
            )
        names = ", ".join(f"{name} ({_capability(cc)})" for name, cc in hardware.gpus)
        return True, f"GPU with bf16 tensor cores: {names}"
    flags = [flag for flag in BFLOAT16_CPU_FLAGS if flag in hardware.cpu_flags]
    if not flags:
        return False, "CPU without AMX-BF16 or AVX512-BF16 (bf16 would be emulated)"
    if not hardware.onednn:
        return False, "TensorFlow's oneDNN CPU kernels, which do bf16, are off"
    return True, f"CPU with {', '.join(flags)} and oneDNN"


def _capability(cc):
    return "unknown" if cc is None else ".".join(str(v) for v in cc)


def resolve_dtype_policy(name, hardware=None):
    """The Keras dtype policy name that `name` means on `hardware`.

    Args:
        name: 'auto', 'float32', 'mixed_float16' or 'mixed_bfloat16'.
        hardware: a `Hardware`; None detects this machine's (only for 'auto').

    Returns:
        `(policy, why)`: the policy name and a short reason, for logs.

    Raises:
        ValueError: an unknown name.
    """
    if name not in CHOICES:
        raise ValueError(
            f"Unknown mixed_precision {name!r}. Expected one of {', '.join(CHOICES)}."
        )
    if name != AUTO:
        return name, "asked for"
    native, why = native_bfloat16(detect_hardware() if hardware is None else hardware)
    return ("mixed_bfloat16" if native else "float32"), f"auto: {why}"


def set_compute_dtype_policy(model, policy):
    """Makes a built geomatch model compute under `policy`, as if built under it.

    The layers the package keeps in float32 whatever the policy (L2 norms,
    correlation, the pair split and the ReLU between them, the regression's
    Dense, grid generators, sampler) keep their float32 policy; every other
    layer, nested ones included (the backbone's, the regression's
    convolutions), gets `policy`. Variables are untouched (float32 under every
    policy), so a model loaded from a float32 `.keras` file and switched to
    `mixed_bfloat16` computes exactly what `build_geomatch_model` builds under
    that policy with the same weights.

    Call it before the model's first call under the new policy (a traced
    function keeps the dtypes it was traced with).

    Args:
        model: a geomatch model (or a model wrapping one).
        policy: a dtype policy name ('auto' is resolved first).

    Returns:
        The resolved policy name.
    """
    policy, _ = resolve_dtype_policy(policy)
    for layer in _layers_with_own_policy(model):
        layer.dtype_policy = policy
    return policy


@contextlib.contextmanager
def computing_in(model, policy):
    """Within the block, `model` computes under `policy`; then as before.

    For eager calls, e.g. a float32 check of a model that runs in bf16: a
    `tf.function` traced inside the block keeps the block's dtypes.

    Example:
        >>> with computing_in(model, "float32"):
        ...     reference = model(inputs)
    """
    layers = list(_layers_with_own_policy(model))
    previous = [layer.dtype_policy for layer in layers]
    policy, _ = resolve_dtype_policy(policy)
    try:
        for layer in layers:
            layer.dtype_policy = policy
        yield model
    finally:
        for layer, layer_policy in zip(layers, previous):
            layer.dtype_policy = layer_policy


def _layers_with_own_policy(layer):
    """`layer` and its nested layers, except those pinned to float32."""
    if _pinned_float32(layer):
        return
    yield layer
    for sublayer in layer._flatten_layers(include_self=False, recursive=False):
        yield from _layers_with_own_policy(sublayer)


def _pinned_float32(layer):
    from keras_geomatch import layers as gm_layers
    from keras_geomatch.models.geomatch_model import FLOAT32_LAYER_NAMES

    pinned_classes = (
        gm_layers.FeatureL2Norm,
        gm_layers.FeatureCorrelation,
        gm_layers.PairSplit,
        gm_layers.GridGen,
        gm_layers.BilinearSampler,
    )
    if isinstance(layer, pinned_classes):
        return True
    if layer.name in FLOAT32_LAYER_NAMES:
        return True
    # The regression's Dense: θ is computed in float32.
    return isinstance(layer, keras.layers.Dense) and layer.name == gm_layers.FeatureRegression.THETA_LAYER
