"""TensorFlow's oneDNN CPU kernels, on by default wherever the package starts TensorFlow.

TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX512-VNNI,
AVX512-BF16 or AMX (Intel Cascade Lake and newer, AMD Zen 4 and newer). On
other x86 CPUs it keeps them off and convolutions run through Eigen. On an
AVX2-only CPU, alternated runs (benchmarks/RESULTS.md, the Zen 3 section)
showed oneDNN faster or the same for training and inference.

`TF_ENABLE_ONEDNN_OPTS` is read once, when TensorFlow starts. Importing
`keras_geomatch` before TensorFlow therefore sets it to 1 unless the user
set it already. This covers the programs of `trainers/` and an application
that imports this package first. If TensorFlow was imported earlier,
nothing is changed. `TF_ENABLE_ONEDNN_OPTS=0` still turns
the kernels off.
"""

import os
import sys

ENV_VAR = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn():
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` if unset and TensorFlow is not started yet.

    Returns:
        True if it set the variable, False if the user had set it or
        TensorFlow was already imported (then it would not take effect, and
        the environment should keep saying what TensorFlow does).
    """
    if ENV_VAR in os.environ or "tensorflow" in sys.modules:
        return False
    os.environ[ENV_VAR] = "1"
    return True


def onednn_enabled():
    """Whether this process's TensorFlow runs its oneDNN CPU kernels.

    It asks TensorFlow, since the default depends on the CPU. If TensorFlow
    cannot be asked (a private function changed), it falls back to the
    environment variable: on unless it is 0.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false")
