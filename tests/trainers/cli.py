"""Helpers to load and run trainers/train.py in tests."""

import importlib.util
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_PY = os.path.join(REPO, "trainers", "train.py")
CONFIGS = os.path.join(REPO, "trainers", "configs")

# A run of a few seconds: small backbone, 88×88 pairs cut from small images.
TINY_FLAGS = [
    "--backbone=small",
    "--weights=none",
    "--train_backbone",
    "--image_size=88,88",
    "--resize_size=120,160",
    "--builtin_samples",
    "--batch_size=2",
    "--verbose=2",
]


def load_train_module():
    """trainers/train.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("trainers_train", TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def environment(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def train_command(*flags):
    return [sys.executable, TRAIN_PY, *flags]


def run_train(*flags, timeout=300, **env):
    """Runs train.py to the end; returns the CompletedProcess (text output)."""
    return subprocess.run(
        train_command(*flags), cwd=REPO, env=environment(**env), capture_output=True,
        text=True, timeout=timeout,
    )


def run_program(module, argv):
    """A program of trainers/ (`module`, with `define_flags` and `main(argv, flag_values)`)
    on the command line `argv`, in this process, on fresh flags; returns its exit status.

    Raises:
        absl.flags.Error: a flag the program would refuse (exit 2).
    """
    from absl import flags

    flag_values = flags.FlagValues()
    module.define_flags(flag_values)
    remaining = flag_values([module.__name__, *[str(a) for a in argv]])
    return module.main(remaining, flag_values)


def run_program_process(program, *argv, timeout=300, cwd=REPO, **env):
    """`python trainers/PROGRAM ARGV...` in a fresh process; returns the CompletedProcess.

    TF_CPP_MIN_LOG_LEVEL is left unset, as for a user, so that tests see
    what the programs print by default.
    """
    environment_vars = environment(**env)
    if "TF_CPP_MIN_LOG_LEVEL" not in env:
        environment_vars.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "trainers", program), *[str(a) for a in argv]],
        cwd=cwd, env=environment_vars, capture_output=True, text=True, timeout=timeout,
    )
