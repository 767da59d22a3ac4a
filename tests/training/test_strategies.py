"""Strategies by name, and which process is the chief."""

import pytest
import tensorflow as tf

from keras_geomatch.training import make_strategy
from keras_geomatch.training import strategies


def test_default_is_the_default_strategy():
    strategy = make_strategy("default")
    assert strategy is tf.distribute.get_strategy()
    assert strategies.is_chief(strategy)
    assert not strategies.is_multi_worker(strategy)


def test_unknown_strategy():
    with pytest.raises(ValueError, match="Unknown strategy"):
        make_strategy("tpu")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi_worker")


@pytest.mark.parametrize(
    "task_type, task_id, cluster, expected",
    [
        ("worker", 0, {"worker": ["a", "b"]}, True),
        ("worker", 1, {"worker": ["a", "b"]}, False),
        ("chief", 0, {"chief": ["c"], "worker": ["a"]}, True),
        ("worker", 0, {"chief": ["c"], "worker": ["a"]}, False),
    ],
)
def test_chief_rule(task_type, task_id, cluster, expected):
    assert strategies.is_chief_task(task_type, task_id, cluster) is expected
