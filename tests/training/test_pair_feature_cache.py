"""Training from stored correlation maps: what is stored, staleness, resume."""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

import keras_geomatch  # noqa: F401
from keras_geomatch.inference.split_model import split_head
from keras_geomatch.training import TrainConfig
from keras_geomatch.training import pair_feature_cache as pfc
from keras_geomatch.training import run_datasets
from keras_geomatch.training import train
from keras_geomatch.training.trainer import build_model


def cached_config(tmp_path, **changes):
    values = dict(
        backbone="small", weights="none", train_backbone=False, image_size=(88, 88),
        resize_size=(120, 160), builtin_samples=True, batch_size=4, epochs=2,
        steps_per_epoch=3, validation_steps=2, verbose=0, model_name="cached",
        feature_cache=str(tmp_path / "cache"), feature_cache_dtype="float32",
        mixed_precision="float32", backup_every_steps=1,
        workdir=str(tmp_path / "work"), export_dir=str(tmp_path / "export"),
    )
    values.update(changes)
    return TrainConfig.from_dict(values).resolved(7, 2)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A model, its config and a built cache (module-wide: the build is the slow part)."""
    tmp_path = tmp_path_factory.mktemp("cache")
    config = cached_config(tmp_path)
    train_files, val_files = run_datasets.resolve_files(config)
    model = build_model(config)
    cache = pfc.prepare(config, model, train_files, val_files)
    return config, model, cache, train_files, val_files


def test_stored_maps_give_the_models_theta_on_the_runs_own_pairs(built):
    config, model, cache, train_files, val_files = built
    correlation, theta_gt = cache.load(pfc.TRAIN)
    assert correlation.shape == (config.steps_per_epoch * config.batch_size, 11, 11, 121)
    assert correlation.dtype == np.float32
    _, regression = split_head(model)
    # The same pairs, made on the fly, through the whole model.
    dataset = run_datasets.training_dataset(config, train_files, 0, config.steps_per_epoch)
    expected_theta, expected_gt = [], []
    for inputs, gt in dataset:
        expected_theta.append(np.asarray(model(inputs, training=False)))
        expected_gt.append(np.asarray(gt))
    np.testing.assert_array_equal(np.concatenate(expected_gt), theta_gt)
    np.testing.assert_allclose(
        np.asarray(regression(correlation, training=False)), np.concatenate(expected_theta),
        atol=1e-4,
    )
    val_correlation, val_theta = cache.load(pfc.VAL)
    assert len(val_theta) == config.validation_steps * config.batch_size


def test_sources_of_one_image_go_through_the_backbone_once(built, tmp_path):
    config, model, _, train_files, val_files = built
    config = dataclasses.replace(config, feature_cache=str(tmp_path / "again"))
    cache = pfc.PairFeatureCache(config.feature_cache, pfc.cache_key(config, model, train_files,
                                                                     val_files))
    counts = []
    original = pfc._Correlator.__call__

    def counting(self, inputs):
        result = original(self, inputs)
        counts.append(self.num_images)
        return result

    pfc._Correlator.__call__ = counting
    try:
        cache.build(pfc.TRAIN, model, lambda first, count: run_datasets.training_dataset(
            config, train_files, first, count), config.steps_per_epoch)
    finally:
        pfc._Correlator.__call__ = original
    pairs = config.steps_per_epoch * config.batch_size
    # 12 pairs of 7 images: 12 targets and 7 distinct sources.
    assert counts[-1] == pairs + len(train_files)


def test_a_cache_built_for_other_settings_is_refused(built):
    config, model, cache, train_files, val_files = built
    changed = TrainConfig.from_dict({**config.to_dict(), "tps_max_offset": 0.3, "seed": 5})
    other = pfc.cache_key(changed, model, train_files, val_files)
    with pytest.raises(ValueError, match=r"built for other settings") as error:
        pfc.PairFeatureCache(config.feature_cache, other)
    assert "seed: 0 in the cache, 5 now" in str(error.value)
    assert "pair_config" in str(error.value) and "backbone_weights" not in str(error.value)
    # Other backbone weights change the key too.
    weights = model.get_layer("feature_extraction").weights[0]
    saved = np.asarray(weights).copy()
    weights.assign(saved + 1.0)
    try:
        changed = pfc.cache_key(config, model, train_files, val_files)
    finally:
        weights.assign(saved)
    assert changed["backbone_weights_sha256"] != cache.key["backbone_weights_sha256"]


def test_an_interrupted_build_resumes_at_its_missing_shards(built, tmp_path, monkeypatch):
    config, model, cache, train_files, val_files = built
    monkeypatch.setattr(pfc, "SHARD_BATCHES", 1)
    config = dataclasses.replace(config, feature_cache=str(tmp_path / "partial"))
    key = pfc.cache_key(config, model, train_files, val_files)

    def batches(first, count):
        return run_datasets.training_dataset(config, train_files, first, count)

    partial = pfc.PairFeatureCache(config.feature_cache, key)
    partial.build(pfc.TRAIN, model, batches, config.steps_per_epoch)
    reference = partial.load(pfc.TRAIN)
    # As after a kill: the completion mark and a shard are missing, a
    # temporary file is left over.
    folder = tmp_path / "partial" / pfc.TRAIN
    os.remove(folder / pfc.COMPLETE_FILE)
    os.remove(folder / "shard-00001.npz")
    (folder / ".tmp-x.part").write_bytes(b"torn")
    resumed = pfc.PairFeatureCache(config.feature_cache, key)
    with pytest.raises(ValueError, match="incomplete"):
        resumed.load(pfc.TRAIN)
    asked = []
    resumed.build(pfc.TRAIN, model, lambda first, count: asked.append((first, count))
                  or batches(first, count), config.steps_per_epoch)
    assert asked == [(1, 1)]
    for a, b in zip(resumed.load(pfc.TRAIN), reference):
        np.testing.assert_array_equal(a, b)


def test_training_batches_cover_every_pair_each_epoch_and_resume_exactly():
    correlation = np.arange(12, dtype=np.float16).reshape(12, 1, 1, 1)
    theta = np.arange(12, dtype=np.float32).reshape(12, 1)
    full = [b[1].numpy().ravel() for b in pfc.training_dataset(correlation, theta, 4, 3, 0, 9)]
    for epoch in range(3):
        seen = np.concatenate(full[3 * epoch: 3 * epoch + 3])
        assert sorted(seen) == list(range(12))
    assert not np.array_equal(np.concatenate(full[:3]), np.concatenate(full[3:6]))
    resumed = [b[1].numpy().ravel() for b in pfc.training_dataset(correlation, theta, 4, 3, 4, 5)]
    for a, b in zip(resumed, full[4:]):
        np.testing.assert_array_equal(a, b)


def test_training_from_the_cache_resumes_to_the_same_weights(tmp_path):
    config = cached_config(tmp_path)
    whole = train(config)
    assert whole["metrics"]["global_step"] == 6
    assert whole["metrics"]["synthetic_pck"]["num_pairs"] == 8
    exported = keras_geomatch.inference.load_geomatch_model(tmp_path / "export" / "model.keras")

    # The same run again in a new workdir, then as if killed mid-epoch:
    # only its older backup (step 5 of 6) is kept (the cache is reused).
    config2 = dataclasses.replace(config, workdir=str(tmp_path / "work2"),
                                  export_dir=str(tmp_path / "export2"))
    train(config2)
    backups = tmp_path / "work2" / "backup"
    names = sorted(os.listdir(backups))
    assert names == ["step-0000000005", "step-0000000006"]
    shutil.rmtree(backups / names[-1])
    os.remove(tmp_path / "work2" / "metrics.json")
    resumed = train(config2)
    assert resumed["start_step"] == 5
    model2 = keras_geomatch.inference.load_geomatch_model(tmp_path / "export2" / "model.keras")
    for a, b in zip(exported.get_layer("feature_regression").weights,
                    model2.get_layer("feature_regression").weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    key = json.loads((tmp_path / "cache" / pfc.KEY_FILE).read_text())
    assert key["train_pairs"] == 12 and key["storage_dtype"] == "float32"


def test_feature_cache_needs_a_frozen_backbone(tmp_path):
    with pytest.raises(ValueError, match="train_backbone=False"):
        cached_config(tmp_path, train_backbone=True)
    with pytest.raises(ValueError, match="feature_cache_dtype"):
        cached_config(tmp_path, feature_cache_dtype="int8")
