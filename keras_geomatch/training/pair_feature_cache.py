"""Training the head from stored correlation maps (`TrainConfig.feature_cache`).

With a frozen backbone (the paper's setting) only the regression learns,
and the paper trains it on a fixed set of synthetic pairs. So the pairs can
be pushed through the backbone once: for every pair the cache stores what
the regression sees, the normalised correlation map `(h, w, h·w)` (101 KB
per 240×240 VGG-16 pair in float16), and θgt. Every epoch then costs only
the head, not the backbone.

    pairs (the run's own stream) ─ backbone ─ L2 norm ─ correlation ─ c ─┐ once
    c (from disk, in a new order every epoch) ─ feature_regression ─ θ ◄─┘ every epoch

What is stored, in `directory/`:

* `key.json`: everything the stored maps depend on (`cache_key`): the
  backbone and a digest of its weight values, the input normalisation, the
  compute dtype, the pair settings (`PairConfig`), the seed, the number of
  pairs, the content digest of every image file, the storage dtype. A
  folder whose key differs is refused with the differences, never reused.
* `train/shard-NNNNN.npz`, `val/shard-NNNNN.npz`: `correlation`, `theta`
  for `SHARD_BATCHES` batches, each written under a temporary name and
  renamed, so a shard that exists is complete. A build killed at any moment
  restarts at its first missing shard; `complete.json` marks a finished set,
  and only a finished set is read.

The pairs are exactly those the on-the-fly run would use: the training set
is the first `steps_per_epoch` batches of the run's stream
(`run_datasets.training_dataset`), the validation set the run's fixed
validation batches. Without augmentation the source of a pair is the same
crop for every pair of its image; its features are computed once (found by
the crop's bytes) and reused.
"""

import dataclasses
import hashlib
import json
import logging
import math
import os
import time

import numpy as np
import tensorflow as tf

from keras_geomatch.inference.split_model import split_geomatch_model
from keras_geomatch.inference.split_model import split_head
from keras_geomatch.models import SOURCE_IMAGE
from keras_geomatch.models import TARGET_IMAGE
from keras_geomatch.training import atomic_files
from keras_geomatch.training import run_datasets
from keras_geomatch.training.train_config import describe_differences

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
KEY_FILE = "key.json"
COMPLETE_FILE = "complete.json"
SHARD_BATCHES = 16
TRAIN, VAL = "train", "val"


def file_digest(paths):
    """SHA-256 over the paths' order and every file's bytes."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def weights_digest(layer):
    """SHA-256 over the values of a layer's weights (float32 bytes)."""
    digest = hashlib.sha256()
    for variable in layer.weights:
        digest.update(np.ascontiguousarray(np.asarray(variable, np.float32)).tobytes())
    return digest.hexdigest()


def cache_key(config, model, train_files, val_files):
    """The dict a cache folder is valid for (see the module docstring)."""
    return {
        "format_version": FORMAT_VERSION,
        "backbone": config.backbone,
        "backbone_weights_sha256": weights_digest(model.get_layer("feature_extraction")),
        "preprocessing": model.get_layer("preprocess").mode,
        "compute_dtype": model.get_layer("feature_extraction").compute_dtype,
        "normalize_matches": "match_l2_norm" in {layer.name for layer in model.layers},
        "pair_config": _json_ready(dataclasses.asdict(config.pair_config())),
        "augment": config.augment,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "train_pairs": config.steps_per_epoch * config.batch_size,
        "val_pairs": config.validation_steps * config.batch_size if val_files else 0,
        "train_files_sha256": file_digest(train_files),
        "num_train_files": len(train_files),
        "val_files_sha256": file_digest(val_files) if val_files else None,
        "storage_dtype": config.feature_cache_dtype,
    }


def _json_ready(value):
    return json.loads(json.dumps(value))


class PairFeatureCache:
    """The stored correlation maps of one run's training and validation pairs.

    Args:
        directory: the cache folder.
        key: `cache_key(...)` of the run.

    Raises:
        ValueError: the folder holds a cache for other settings.
    """

    def __init__(self, directory, key):
        self.directory = os.fspath(directory)
        self.key = key
        path = os.path.join(self.directory, KEY_FILE)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
            differences = {
                name: (stored.get(name), key.get(name))
                for name in sorted(set(stored) | set(key))
                if stored.get(name) != key.get(name)
            }
            if differences:
                listed = describe_differences(differences, "cache")
                raise ValueError(
                    f"The feature cache {self.directory!r} was built for other settings; it is "
                    "not used. Give another --feature_cache folder, or delete this one to "
                    f"rebuild it. Differences:\n  {listed}"
                )
        else:
            atomic_files.write_json_atomic(path, key)

    # ------------------------------------------------------------ building
    def is_complete(self, name):
        return os.path.exists(os.path.join(self.directory, name, COMPLETE_FILE))

    def build(self, name, model, batches, num_batches):
        """Stores the maps of `num_batches` batches, resuming a partial build.

        Args:
            name: `TRAIN` or `VAL`.
            model: the geomatch model (frozen backbone).
            batches: `fn(first_batch, count)` → a data set of `count`
                batches `(inputs, θgt)` starting at batch `first_batch`.
            num_batches: the number of batches of the set.
        """
        folder = os.path.join(self.directory, name)
        if self.is_complete(name):
            return
        os.makedirs(folder, exist_ok=True)
        num_shards = math.ceil(num_batches / SHARD_BATCHES)
        missing = [s for s in range(num_shards) if not os.path.exists(_shard_path(folder, s))]
        if missing:
            logger.info(
                "Feature cache %s/%s: %d of %d shards to compute (%d batches in all).",
                self.directory, name, len(missing), num_shards, num_batches,
            )
            correlator = _Correlator(model, self.key["storage_dtype"])
            started, done = time.time(), 0
            # One data set per run of consecutive missing shards: making one
            # checks the image files and compiles the warp, seconds each.
            for run in _consecutive_runs(missing):
                first = run[0] * SHARD_BATCHES
                count = min(num_batches, (run[-1] + 1) * SHARD_BATCHES) - first
                iterator = iter(batches(first, count))
                for shard in run:
                    maps, thetas = [], []
                    for _ in range(min(SHARD_BATCHES, num_batches - shard * SHARD_BATCHES)):
                        inputs, theta = next(iterator)
                        maps.append(correlator(inputs))
                        thetas.append(np.asarray(theta, np.float32))
                    maps, thetas = np.concatenate(maps), np.concatenate(thetas)
                    atomic_files.write_file_atomic(
                        _shard_path(folder, shard),
                        lambda f: np.savez(f, correlation=maps, theta=thetas),
                    )
                    done += len(thetas)
                    logger.info(
                        "Feature cache %s: shard %d/%d stored, %.2f pairs/s (%d backbone "
                        "images).", name, shard + 1, num_shards,
                        done / (time.time() - started), correlator.num_images,
                    )
        atomic_files.write_json_atomic(
            os.path.join(folder, COMPLETE_FILE), {"num_batches": num_batches, "shards": num_shards}
        )

    # ------------------------------------------------------------- reading
    def load(self, name):
        """`(correlation, theta)` numpy arrays of a finished set.

        Raises:
            ValueError: the set is not complete (its build was interrupted).
        """
        folder = os.path.join(self.directory, name)
        if not self.is_complete(name):
            raise ValueError(
                f"The feature cache set {folder!r} is incomplete; build it first "
                "(the trainer resumes its build)."
            )
        with open(os.path.join(folder, COMPLETE_FILE), encoding="utf-8") as f:
            num_shards = json.load(f)["shards"]
        maps, thetas = [], []
        for shard in range(num_shards):
            with np.load(_shard_path(folder, shard)) as stored:
                maps.append(stored["correlation"])
                thetas.append(stored["theta"])
        return np.concatenate(maps), np.concatenate(thetas)


def _consecutive_runs(shards):
    """[1, 2, 3, 7, 8] → [[1, 2, 3], [7, 8]]."""
    runs = []
    for shard in shards:
        if runs and shard == runs[-1][-1] + 1:
            runs[-1].append(shard)
        else:
            runs.append([shard])
    return runs


def _shard_path(folder, shard):
    return os.path.join(folder, f"shard-{shard:05d}.npz")


class _Correlator:
    """Pair batch → stored correlation maps, each source crop computed once."""

    def __init__(self, model, storage_dtype):
        self._split = split_geomatch_model(model)
        correlation, _ = split_head(model)
        spec = tf.TensorSpec((None, *self._split.features.output.shape[1:]), "float32")
        self._correlate = tf.function(
            lambda a, b: correlation([a, b], training=False), input_signature=[spec, spec]
        )
        self._dtype = np.dtype(storage_dtype)
        self._sources = {}
        self.num_images = 0

    def __call__(self, inputs):
        sources = np.asarray(inputs[SOURCE_IMAGE], np.float32)
        targets = np.asarray(inputs[TARGET_IMAGE], np.float32)
        keys = [hashlib.sha1(source.tobytes()).hexdigest() for source in sources]
        new = list(dict.fromkeys(k for k in keys if k not in self._sources))
        new_images = [sources[keys.index(k)] for k in new]
        # One backbone call on the new sources and the targets together.
        features = self._split.extract_features(np.concatenate([np.stack(new_images), targets])
                                                if new_images else targets)
        features = np.asarray(features, np.float32)
        self.num_images += len(features)
        for k, value in zip(new, features[: len(new)]):
            self._sources[k] = value
        source_features = np.stack([self._sources[k] for k in keys])
        maps = self._correlate(source_features, features[len(new):])
        return np.asarray(maps, np.float32).astype(self._dtype)


def prepare(config, model, train_files, val_files):
    """Builds (or resumes, or reuses) the run's cache; returns it.

    Args:
        config: a resolved `TrainConfig` with `feature_cache` set.
        model: the run's geomatch model, its backbone weights loaded.
        train_files, val_files: the run's images (`val_files` may be None).
    """
    cache = PairFeatureCache(config.feature_cache, cache_key(config, model, train_files, val_files))
    cache.build(
        TRAIN,
        model,
        lambda first, count: run_datasets.training_dataset(config, train_files, first, count),
        config.steps_per_epoch,
    )
    if val_files:
        cache.build(
            VAL,
            model,
            lambda first, count: run_datasets.validation_dataset(config, val_files)
            .skip(first).take(count),
            config.validation_steps,
        )
    return cache


def training_dataset(correlation, theta, batch_size, seed, first_step, num_steps):
    """Batches of the stored training pairs, a new order every epoch.

    Step `s` is batch `s mod E` of epoch `s // E` (`E = len(theta) //
    batch_size`), whose order is a permutation keyed on `(seed, epoch)`: a
    run resumed at step `first_step` sees the batches an uninterrupted run
    would have seen.

    Returns:
        A `tf.data.Dataset` of `num_steps` batches `(correlation float32, θgt)`.
    """
    steps_per_epoch = len(theta) // batch_size
    if steps_per_epoch < 1:
        raise ValueError(
            f"Expected at least one batch of {batch_size} stored pairs. Received: {len(theta)}"
        )

    def batches():
        order, order_epoch = None, None
        for step in range(first_step, first_step + num_steps):
            epoch, index = divmod(step, steps_per_epoch)
            if epoch != order_epoch:
                order = np.random.default_rng([int(seed), epoch]).permutation(len(theta))
                order_epoch = epoch
            chosen = np.sort(order[index * batch_size : (index + 1) * batch_size])
            yield correlation[chosen].astype(np.float32), theta[chosen]

    signature = (
        tf.TensorSpec((batch_size, *correlation.shape[1:]), tf.float32),
        tf.TensorSpec((batch_size, theta.shape[1]), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(int(num_steps)))
    return dataset.prefetch(4)


def validation_dataset(correlation, theta, batch_size):
    """The stored validation pairs in order, in batches of `batch_size`."""

    def batches():
        for start in range(0, len(theta), batch_size):
            yield (correlation[start : start + batch_size].astype(np.float32),
                   theta[start : start + batch_size])

    signature = (
        tf.TensorSpec((None, *correlation.shape[1:]), tf.float32),
        tf.TensorSpec((None, theta.shape[1]), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    num_batches = math.ceil(len(theta) / batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(num_batches)).prefetch(2)
