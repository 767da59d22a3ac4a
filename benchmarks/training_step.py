"""Training steps/s of the geomatch model, with XLA (`jit_compile`) on and off, fp32 and bf16.

The model is compiled as `keras_geomatch.training` does (Adam, the
transformed grid loss, `jit_compile`, the global dtype policy set before the
model is built) and trained with `fit` on one cached in-memory batch
(`Dataset.from_tensors(batch).repeat()`), so that the input pipeline costs
nothing. Per-step wall times come from a callback; the first `--warmup`
steps (tracing, XLA compilation) are dropped and the median is reported.

Settings: full-size (VGG-16 pool4, 240×240, frozen backbone as in the paper,
batch 16) and quickstart (see `bench_models`: small backbone trained end to
end).

    python benchmarks/training_step.py                # smoke: quickstart at 88x88, batch 2
    python benchmarks/training_step.py --full         # both settings, XLA off/on, fp32/bf16
"""

import argparse
import time

import bench_common

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import bench_models  # noqa: E402
from keras_geomatch.geometry import get_geometric_model  # noqa: E402
from keras_geomatch.losses import TransformedGridLoss  # noqa: E402
from keras_geomatch.models import SOURCE_IMAGE  # noqa: E402
from keras_geomatch.models import TARGET_IMAGE  # noqa: E402


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training step (batch begin → batch end)."""

    def __init__(self):
        super().__init__()
        self.durations = []
        self._start = None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.durations.append(time.perf_counter() - self._start)


def compiled_model(setting, geometric_model, jit_compile, image_size=None, backbone=None):
    """A geomatch model compiled like the trainer does (under the current policy)."""
    keras.utils.set_random_seed(0)
    model, info = bench_models.build_model(setting, geometric_model, image_size=image_size,
                                           backbone=backbone)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=TransformedGridLoss(geometric_model),
        jit_compile=jit_compile,
    )
    return model, info


def cached_batch_dataset(batch_size, image_size, geometric_model, seed=0):
    """One random batch `(inputs, θgt)`, repeated forever."""
    source, target = bench_models.random_pairs(batch_size, image_size, seed)
    spec = get_geometric_model(geometric_model)
    rng = np.random.default_rng(seed)
    theta = np.asarray(spec.identity, np.float32) + rng.uniform(
        -0.1, 0.1, (batch_size, spec.num_params)).astype(np.float32)
    batch = ({SOURCE_IMAGE: source, TARGET_IMAGE: target}, tf.constant(theta))
    return tf.data.Dataset.from_tensors(batch).repeat()


def time_fit(model, dataset, steps, warmup):
    """Median seconds per step of `model.fit` on `dataset`, and all step times."""
    timer = StepTimer()
    bench_common.mark_cpu()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, callbacks=[timer], verbose=0,
              shuffle=False)
    measured = timer.durations[warmup:]
    return bench_common.median(measured), measured


def measure(setting, geometric_model, batch_size, policy, jit, args, image_size=None,
            backbone=None):
    previous = bench_common.set_policy(policy)
    try:
        model, info = compiled_model(setting, geometric_model, jit == "on", image_size, backbone)
        dataset = cached_batch_dataset(batch_size, info["image_size"], geometric_model)
        step, steps = time_fit(model, dataset, args.steps, args.warmup)
        print(f"RESULT setting={setting} model={info['description']} "
              f"train_backbone={info['train_backbone']} batch={batch_size} policy={policy} "
              f"xla={jit}: {1 / step:8.3f} steps/s, {step * 1000:9.1f} ms/step, "
              f"{batch_size / step:7.2f} pairs/s (steps {bench_common.spread([s * 1000 for s in steps])} ms; "
              f"{bench_common.load_note()})", flush=True)
        return step
    finally:
        keras.backend.clear_session()
        bench_common.set_policy(previous)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", nargs="+", choices=["full-size", "quickstart"], default=None)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: 16 full-size, the quickstart's batch size, 2 in smoke runs")
    parser.add_argument("--policies", nargs="+", default=None)
    parser.add_argument("--jit", nargs="+", choices=["off", "on"], default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--full", action="store_true", help="the real measurement")
    args = parser.parse_args(argv)
    settings = args.setting or (["quickstart", "full-size"] if args.full else ["quickstart"])
    models = args.models or ["affine"]
    policies = args.policies or (["float32", "mixed_bfloat16"] if args.full else ["float32"])
    jits = args.jit or ["off", "on"]
    args.steps = args.steps or (8 if args.full else 2)
    size = (args.image_size, args.image_size) if args.image_size else (None if args.full else (88, 88))
    quick, quick_source = bench_models.quickstart_settings()

    print(bench_common.machine_header())
    print(f"quickstart settings from {quick_source}: {quick}")
    print(f"median of {args.steps} steps after {args.warmup} warm-up steps; one cached batch")
    results = {}
    for setting in settings:
        if args.batch_size:
            batch_size = args.batch_size
        elif not args.full:
            batch_size = 2
        else:
            batch_size = 16 if setting == "full-size" else quick["batch_size"]
        for geometric_model in models:
            for policy in policies:
                for jit in jits:
                    results[(setting, geometric_model, policy, jit)] = measure(
                        setting, geometric_model, batch_size, policy, jit, args, size, args.backbone
                    )
        for geometric_model in models:
            for policy in policies:
                off, on = (results.get((setting, geometric_model, policy, j)) for j in ("off", "on"))
                if off and on:
                    print(f"  {setting} {geometric_model} {policy}: XLA on is {off / on:.2f}x "
                          f"{'faster' if on < off else 'slower'} than off")
            steps32 = {j: results.get((setting, geometric_model, "float32", j)) for j in jits}
            steps16 = {j: results.get((setting, geometric_model, "mixed_bfloat16", j)) for j in jits}
            for j in jits:
                if steps32[j] and steps16[j]:
                    print(f"  {setting} {geometric_model} XLA {j}: mixed_bfloat16 is "
                          f"{steps32[j] / steps16[j]:.2f}x the speed of float32")
    return results


if __name__ == "__main__":
    main()
