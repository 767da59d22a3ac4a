"""The feature cache (`train.py --feature_cache`): what it costs and what it saves.

Speed (same frozen backbone, same N pairs of the built-in photographs, or
of `--train_list`):

* build: pairs/s of building the cache (the backbone runs on every target
  and on every distinct source crop) and bytes per pair on disk;
* one epoch from the cache: `fit` of the regression head over the N stored
  correlation maps;
* one epoch on the fly: `fit` of the whole model (backbone frozen, as in the
  paper) over N pairs made from the images, the trainer's pipeline.
Each epoch is timed after a first, untimed one (tracing, warm-up).

Precision (`--precision-check WORKDIR`, a finished cached run such as
workdirs/pretrained_affine_vgg16): θ of its trained head on its validation
pairs from maps stored in float16 (what it trained on) against maps stored
in float32, and against maps of a float32 backbone (the exported model's
compute); max |Δθ| and the synthetic PCK of each.

    python benchmarks/feature_cache.py                       # smoke: small backbone, 88x88
    python benchmarks/feature_cache.py --full                # VGG-16 240x240, 256 pairs
    python benchmarks/feature_cache.py --precision-check workdirs/pretrained_affine_vgg16
"""

import argparse
import dataclasses
import os
import tempfile
import time

import bench_common

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_geomatch.inference.split_model import split_head  # noqa: E402
from keras_geomatch.losses import TransformedGridLoss  # noqa: E402
from keras_geomatch.models import mixed_precision  # noqa: E402
from keras_geomatch.training import TrainConfig  # noqa: E402
from keras_geomatch.training import pair_feature_cache as pfc  # noqa: E402
from keras_geomatch.training import run_datasets  # noqa: E402
from keras_geomatch.training.synthetic_pck import evaluate_synthetic_pck  # noqa: E402
from keras_geomatch.training.trainer import build_model  # noqa: E402


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _timed_epoch(model, dataset_fn, steps):
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TransformedGridLoss("affine"))
    timer = _EpochTimer()
    model.fit(dataset_fn(2 * steps), epochs=2, steps_per_epoch=steps, verbose=0, shuffle=False,
              callbacks=[timer])
    return timer.seconds[-1]


def speed(args):
    policy, why = mixed_precision.resolve_dtype_policy(args.policy)
    keras.config.set_dtype_policy(policy)
    print(f"compute policy {policy} ({why})")
    with tempfile.TemporaryDirectory() as folder:
        values = dict(
            backbone="vgg16", weights="torchvision", train_backbone=False, image_size=(240, 240),
            batch_size=16, steps_per_epoch=args.pairs // 16, validation_steps=0, epochs=1,
            feature_cache=os.path.join(folder, "cache"), mixed_precision=policy,
            builtin_samples=not args.train_list, train_list=args.train_list,
        )
        if not args.full:
            values.update(backbone="small", weights="none", image_size=(88, 88),
                          resize_size=(120, 160), batch_size=4,
                          steps_per_epoch=max(1, args.pairs // 4))
        config = TrainConfig.from_dict(values).resolved()
        train_files, _ = run_datasets.resolve_files(config)
        model = build_model(config)
        pairs = config.steps_per_epoch * config.batch_size
        print(f"{config.backbone} {config.image_size[0]}x{config.image_size[1]}, {pairs} pairs "
              f"of {len(train_files)} images, batch {config.batch_size}")

        started = time.perf_counter()
        cache = pfc.prepare(config, model, train_files, None)
        build_seconds = time.perf_counter() - started
        folder_train = os.path.join(config.feature_cache, pfc.TRAIN)
        disk = sum(os.path.getsize(os.path.join(folder_train, n))
                   for n in os.listdir(folder_train) if n.endswith(".npz"))
        print(f"build: {pairs / build_seconds:.2f} pairs/s ({build_seconds:.1f} s), "
              f"{disk / pairs / 1024:.1f} KiB per pair on disk ({config.feature_cache_dtype})")

        stored = cache.load(pfc.TRAIN)
        steps = config.steps_per_epoch
        # As the trainer does: on the fly the whole model computes under the
        # policy; from the cache only the head trains, in float32.
        on_the_fly = _timed_epoch(model, lambda n: run_datasets.training_dataset(
            config, train_files, 0, n), steps)
        mixed_precision.set_compute_dtype_policy(model, "float32")
        _, regression = split_head(model)
        cached = _timed_epoch(regression, lambda n: pfc.training_dataset(
            *stored, config.batch_size, config.seed, 0, n), steps)
        print(f"one epoch of {pairs} pairs: from the cache {cached:.2f} s "
              f"({pairs / cached:.0f} pairs/s), on the fly {on_the_fly:.2f} s "
              f"({pairs / on_the_fly:.2f} pairs/s): {on_the_fly / cached:.0f}x")


def precision_check(workdir):
    from keras_geomatch.inference import load_geomatch_model

    config = TrainConfig.load(os.path.join(workdir, "config.json"))
    _, val_files = run_datasets.resolve_files(config)
    trained = load_geomatch_model(os.path.join(config.export_dir, "model.keras"))
    head_weights = trained.get_layer("feature_regression").get_weights()
    rows = {}
    for label, dtype, policy in (
        ("float16 maps, bf16 backbone (trained on)", "float16", config.mixed_precision),
        ("float32 maps, bf16 backbone", "float32", config.mixed_precision),
        ("float32 maps, float32 backbone (the export)", "float32", "float32"),
    ):
        keras.config.set_dtype_policy(policy)
        run = dataclasses.replace(config, feature_cache_dtype=dtype, mixed_precision=policy)
        model = build_model(run)
        model.get_layer("feature_regression").set_weights(head_weights)
        with tempfile.TemporaryDirectory() as folder:
            run = dataclasses.replace(run, feature_cache=os.path.join(folder, "cache"))
            cache = pfc.PairFeatureCache(run.feature_cache,
                                         pfc.cache_key(run, model, val_files, val_files))
            cache.build(pfc.VAL, model, lambda first, count: run_datasets.validation_dataset(
                run, val_files).skip(first).take(count), run.validation_steps)
            correlation, theta_gt = cache.load(pfc.VAL)
        _, regression = split_head(model)
        theta = np.asarray(regression.predict(correlation.astype(np.float32), verbose=0))
        pck = evaluate_synthetic_pck(
            regression, pfc.validation_dataset(correlation, theta_gt, 16),
            config.geometric_model, config.image_size)
        rows[label] = theta
        reference = rows[next(iter(rows))]
        print(f"{label}: max |dθ| vs the first {np.abs(theta - reference).max():.2e}, "
              f"PCK@0.1 {pck['pck@0.1']:.4f}, @0.05 {pck['pck@0.05']:.4f} "
              f"({pck['num_pairs']} pairs)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="VGG-16 at 240x240")
    parser.add_argument("--pairs", type=int, default=None, help="pairs (default 256 full, 8 smoke)")
    parser.add_argument("--train_list", default="", help="a list of training images")
    parser.add_argument("--policy", default="auto", help="compute policy (auto, float32, ...)")
    parser.add_argument("--precision-check", default=None, metavar="WORKDIR")
    args = parser.parse_args()
    print(bench_common.machine_header())
    if args.precision_check:
        precision_check(args.precision_check)
        return
    args.pairs = args.pairs or (256 if args.full else 8)
    speed(args)


if __name__ == "__main__":
    main()
