"""The serving tests, run again on the shipped pretrained models (slow)."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVING_TESTS = [
    "tests/export/test_serving_signatures.py",
    "tests/export/test_saved_model_cli.py",
    "tests/export/test_serving_requests.py",
]


@pytest.mark.slow
def test_the_two_stage_pretrained_export_passes_the_serving_tests():
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SERVING_TESTS],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "KG_SERVING_MODELS": "pretrained", "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert " passed" in completed.stdout and " failed" not in completed.stdout
