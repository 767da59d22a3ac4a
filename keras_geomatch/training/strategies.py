"""The `tf.distribute` strategies a run can use, by name.

* `default`: no distribution (one device).
* `mirrored`: `MirroredStrategy` over all GPUs of this machine, or, without
  GPUs, over all its logical CPU devices (to test on CPU, split the CPU with
  `tf.config.set_logical_device_configuration` before TensorFlow starts).
  Trained with Keras `fit`.
* `multi_worker`: `MultiWorkerMirroredStrategy`; the cluster comes from the
  `TF_CONFIG` environment variable. Keras 3's `fit` does not run under it
  (keras-team/keras#20585: the per-replica batches reach the model
  undistributed), so these runs use `custom_loop`. It must be created before
  TensorFlow runs any operation.
"""

import json
import os

import tensorflow as tf

STRATEGY_NAMES = ("default", "mirrored", "multi_worker")


def make_strategy(name):
    """The `tf.distribute.Strategy` called `name` (see the module docstring)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "strategy='multi_worker' needs the cluster in the TF_CONFIG environment "
                'variable, e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}. Received: TF_CONFIG unset'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(
        f"Unknown strategy. Expected one of {list(STRATEGY_NAMES)}. Received: strategy={name!r}"
    )


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy):
    """Whether this process writes the run's files (backups, logs, export).

    The chief is the task of type 'chief', or worker 0 when the cluster has
    no 'chief'; every process of a non-multi-worker run is its own chief.
    """
    if not is_multi_worker(strategy):
        return True
    task_type, task_id = worker_task(strategy)
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return is_chief_task(task_type, task_id, cluster)


def is_chief_task(task_type, task_id, cluster):
    """The chief rule on a task and a TF_CONFIG cluster dict."""
    if task_type == "chief":
        return True
    return task_type == "worker" and int(task_id) == 0 and "chief" not in cluster


def worker_task(strategy):
    """`(task_type, task_id)` of this process in the cluster."""
    resolver = strategy.cluster_resolver
    return resolver.task_type, int(resolver.task_id)

