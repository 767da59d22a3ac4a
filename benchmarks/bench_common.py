"""What every benchmark script shares: the machine description and the timer.

Every script prints `machine_header()` first (CPU model, usable cores, ISA
extensions that matter for bf16, TensorFlow/Keras versions, oneDNN setting,
1-minute load average) and reports the median of several timed runs after
warm-up runs (`time_runs`). Next to each figure, `load_note()` prints the
load average and, more to the point, the share of the machine's CPU time
that *other* processes used while it was measured (from /proc/stat minus
this process's own CPU time, since the last `mark_cpu()`): on a shared
machine other jobs are the main source of noise, and the load average alone
counts this benchmark's own threads too.

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

# Imported before TensorFlow, as in the package's programs: its oneDNN CPU
# kernels are on unless TF_ENABLE_ONEDNN_OPTS says otherwise.
from keras_geomatch import cpu_kernels  # noqa: E402

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

    onednn = "on" if cpu_kernels.onednn_enabled() else "off"
    onednn += f" (TF_ENABLE_ONEDNN_OPTS={os.environ.get(cpu_kernels.ENV_VAR, 'unset')})"
    return "\n".join(
        [
            f"CPU: {cpu_model()}, {usable_cores()} usable cores, "
            f"ISA: {' '.join(cpu_isa_flags()) or 'n/a'}",
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
            f"oneDNN {onednn}, Python {platform.python_version()}",
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
    mark_cpu()
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


def _busy_jiffies():
    """Total non-idle CPU time of the machine, in seconds (None without /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...; guest is in user.
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]
    return busy / os.sysconf("SC_CLK_TCK")


_mark = None


def mark_cpu():
    """Starts the window that `load_note()` reports other processes' CPU share for."""
    global _mark
    times = os.times()
    _mark = (time.perf_counter(), _busy_jiffies(), times.user + times.system)


def others_cpu_share():
    """Fraction of all cores' time used by other processes since `mark_cpu()` (or None)."""
    if _mark is None or _mark[1] is None:
        return None
    start, busy_start, own_start = _mark
    elapsed = time.perf_counter() - start
    busy = _busy_jiffies()
    times = os.times()
    own = times.user + times.system - own_start
    # /proc/stat counts in clock ticks (10 ms): shorter windows say nothing.
    if elapsed < 1.0 or busy is None:
        return None
    return max(0.0, (busy - busy_start - own) / (elapsed * (os.cpu_count() or 1)))


def load_note():
    share = others_cpu_share()
    others = "" if share is None else f", other processes {100 * share:.0f}% CPU"
    return f"load {load_average():.2f}{others}"


def set_policy(name):
    """Sets the global Keras dtype policy; returns the previous one's name."""
    import keras

    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(name)
    return previous


def add_common_arguments(parser, repeats=3, warmup=1, full_repeats=None):
    """`--repeats`, `--warmup` and `--full` (the measurement settings).

    `--repeats` defaults to `repeats`, or under `--full` to `full_repeats`
    (if given); a `--repeats` on the command line always wins. Read it with
    `repeats_of(args)`.
    """
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed runs, median reported (default {repeats}"
                        + (f", {full_repeats} with --full)" if full_repeats else ")"))
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed runs first")
    parser.add_argument(
        "--full", action="store_true",
        help="the real measurement (full sizes, more repeats); default: a quick smoke run",
    )
    parser.set_defaults(_repeats_default=repeats, _full_repeats_default=full_repeats or repeats)


def repeats_of(args):
    """The number of timed runs: `--repeats` if given, else the default for
    `--full` or the smoke run (see `add_common_arguments`)."""
    if args.repeats is not None:
        return args.repeats
    return args._full_repeats_default if args.full else args._repeats_default
