"""`--help` of the absl programs exits 0 with their flags; a bad flag still fails."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(program, *args):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "trainers", program), *args],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@pytest.mark.parametrize("program, flag", [("export.py", "--export_dir"),
                                           ("evaluate.py", "--dataset_root")])
@pytest.mark.parametrize("help_flag", ["--help", "-h", "--helpfull"])
def test_help_exits_zero_and_lists_the_flags(program, flag, help_flag):
    completed = _run(program, help_flag)
    assert completed.returncode == 0, completed.stderr[-1000:]
    assert f"{flag}:" in completed.stdout


def test_an_unknown_flag_still_fails():
    assert _run("export.py", "--no_such_flag").returncode != 0
