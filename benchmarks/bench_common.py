"""What every benchmark script shares: the machine description and the timer.

Every script prints `machine_header()` first (CPU model, usable cores, ISA
extensions that matter for bf16, TensorFlow/Keras versions, oneDNN setting,
1-minute load average) and reports the median of several timed runs after
warm-up runs (`time_runs`). The load average is printed again next to the
figures, because on a shared machine a busy CPU is the main source of noise.

Scripts run from a checkout without installing the package: importing this
module puts the repository root on `sys.path`.
"""

import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

# CPU flags worth knowing for bf16 throughput (from /proc/cpuinfo).
_ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (or `platform.processor()`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_isa_flags():
    """The flags of `_ISA_FLAGS` this CPU has."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in _ISA_FLAGS if flag in present]
    except OSError:
        pass
    return []


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def load_average():
    """The 1-minute load average (None where unavailable)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine_header():
    """A multi-line description of the machine and the software."""
    import keras
    import tensorflow as tf

    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")
    return "\n".join(
        [
            f"CPU: {cpu_model()}, {usable_cores()} usable cores, "
            f"ISA: {' '.join(cpu_isa_flags()) or 'n/a'}",
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
            f"TF_ENABLE_ONEDNN_OPTS={onednn}, Python {platform.python_version()}",
            f"load average (1 min) at start: {load_average():.2f}",
        ]
    )


def time_runs(fn, repeats=5, warmup=1):
    """Calls `fn()` `warmup` times, then times `repeats` calls.

    `fn` must block until its work is done (e.g. end with `.numpy()`).

    Returns:
        The list of `repeats` durations in seconds.
    """
    for _ in range(warmup):
        fn()
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - start)
    return durations


def median(values):
    return statistics.median(values)


def spread(values):
    """`min–max` of a list of durations or rates, for the printout."""
    return f"{min(values):.3g}–{max(values):.3g}"


def load_note():
    return f"load {load_average():.2f}"


def set_policy(name):
    """Sets the global Keras dtype policy; returns the previous one's name."""
    import keras

    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(name)
    return previous


def add_common_arguments(parser, repeats=3, warmup=1):
    """`--repeats`, `--warmup` and `--full` (the measurement settings)."""
    parser.add_argument("--repeats", type=int, default=repeats, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed runs first")
    parser.add_argument(
        "--full", action="store_true",
        help="the real measurement (full sizes, more repeats); default: a quick smoke run",
    )
