"""keras_geomatch.cpu_kernels: oneDNN on when the package starts TensorFlow, and never forced."""

import os
import subprocess
import sys

import pytest

from keras_geomatch import cpu_kernels

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REPORT = (
    "import os; {imports}; "
    "from keras_geomatch import cpu_kernels; "
    "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset'), cpu_kernels.onednn_enabled())"
)


def run_fresh(imports, env_value=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO_ROOT)
    env.pop(cpu_kernels.ENV_VAR, None)
    if env_value is not None:
        env[cpu_kernels.ENV_VAR] = env_value
    result = subprocess.run(
        [sys.executable, "-c", REPORT.format(imports=imports)],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    return result.stdout.split()[-2:]


def test_importing_the_package_first_turns_onednn_on():
    assert run_fresh("import keras_geomatch; import tensorflow") == ["1", "True"]


def test_the_users_setting_wins():
    assert run_fresh("import keras_geomatch; import tensorflow", env_value="0") == ["0", "False"]


def test_nothing_changes_when_tensorflow_started_first():
    # The variable would not take effect any more: it must not claim it does.
    variable, _ = run_fresh("import tensorflow; import keras_geomatch")
    assert variable == "unset"


def test_prefer_onednn_leaves_a_set_variable_alone(monkeypatch):
    monkeypatch.setenv(cpu_kernels.ENV_VAR, "0")
    assert cpu_kernels.prefer_onednn() is False
    assert os.environ[cpu_kernels.ENV_VAR] == "0"


def test_prefer_onednn_does_nothing_once_tensorflow_is_imported(monkeypatch):
    import tensorflow  # noqa: F401  (already imported by the suite)

    monkeypatch.delenv(cpu_kernels.ENV_VAR, raising=False)
    assert cpu_kernels.prefer_onednn() is False
    assert cpu_kernels.ENV_VAR not in os.environ


@pytest.mark.parametrize("value, expected", [("0", False), ("1", True)])
def test_onednn_enabled_falls_back_to_the_variable(monkeypatch, value, expected):
    import tensorflow.python.util as util

    monkeypatch.setenv(cpu_kernels.ENV_VAR, value)
    monkeypatch.setitem(sys.modules, "tensorflow.python.util._pywrap_util_port", None)
    monkeypatch.delattr(util, "_pywrap_util_port", raising=False)
    assert cpu_kernels.onednn_enabled() is expected
