"""Is the input pipeline a bottleneck? Training steps/s on the real pipeline vs on a cached batch.

For each setting it trains the same compiled model (see `training_step`)
for the same number of steps twice:

1. on one in-memory batch repeated (`Dataset.from_tensors(...).repeat()`):
   the step time without any input work;
2. on the real synthetic-pair pipeline (`data.make_pair_dataset`, as
   `keras_geomatch.training` builds it). Images as each setting trains on
   them: quickstart, the built-in sample photos (decoded once and cached in
   memory, resized and augmented as `small_from_scratch.flags` says); full-size, JPEGs written like
   `pipeline_throughput.py --source voc-like` (500×375), decoded for every
   pair (`cache_decoded=False`, as for Pascal VOC's 13.5k images, too many
   for the automatic cache);

and prints the ratio (the target: the pipeline costs < 10%). It also prints
the pipeline's own pairs/s (batches pulled without a model), for scale. On a
2-core machine the pipeline's threads and the training step share the same
cores, so any pipeline work shows up in the step time.

    python benchmarks/pipeline_vs_cached.py           # smoke: quickstart, 88x88, batch 2
    python benchmarks/pipeline_vs_cached.py --full    # quickstart and full-size
"""

import argparse
import tempfile
import time

import bench_common

import keras  # noqa: E402

import bench_models  # noqa: E402
import training_step  # noqa: E402
from keras_geomatch import data  # noqa: E402
from pipeline_throughput import write_voc_like_images  # noqa: E402


def pipeline(files, geometric_model, image_size, batch_size, cache, resize_size=(480, 640),
             augment=False):
    config = data.PairConfig(geometric_model, image_size=tuple(image_size),
                             resize_size=tuple(resize_size))
    return data.make_pair_dataset(files, config, batch_size=batch_size, training=True, seed=0,
                                  repeat=True, cache_decoded=cache, check_images="header",
                                  augment=data.ViewAugmentation() if augment else None)


def pipeline_rate(dataset, batch_size, batches, warmup=3):
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        _, theta = next(iterator)
    theta.numpy()
    return batches * batch_size / (time.perf_counter() - start)


def measure(setting, geometric_model, batch_size, policy, jit, files, cache, args,
            image_size=None, pipeline_options=None):
    previous = bench_common.set_policy(policy)
    try:
        model, info = training_step.compiled_model(setting, geometric_model, jit == "on",
                                                   image_size)
        size = info["image_size"]
        cached = training_step.cached_batch_dataset(batch_size, size, geometric_model)
        real = pipeline(files, geometric_model, size, batch_size, cache,
                        **(pipeline_options or {}))
        # Alternate the two, so that a change of load hits both alike.
        cached_steps, real_steps = [], []
        for _ in range(args.rounds):
            cached_steps.extend(training_step.time_fit(model, cached, args.steps, args.warmup)[1])
            real_steps.extend(training_step.time_fit(model, real, args.steps, args.warmup)[1])
        cached_step = bench_common.median(cached_steps)
        real_step = bench_common.median(real_steps)
        alone = pipeline_rate(real, batch_size, args.pipeline_batches)
        print(f"RESULT setting={setting} model={info['description']} batch={batch_size} "
              f"policy={policy} xla={jit}: cached batch {1 / cached_step:.3f} steps/s, "
              f"real pipeline {1 / real_step:.3f} steps/s, ratio {cached_step / real_step:.3f} "
              f"(pipeline costs {100 * (real_step / cached_step - 1):+.1f}%); pipeline alone "
              f"{alone:.1f} pairs/s vs {batch_size / cached_step:.1f} pairs/s consumed "
              f"({bench_common.load_note()})", flush=True)
        return cached_step, real_step, alone
    finally:
        keras.backend.clear_session()
        bench_common.set_policy(previous)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", nargs="+", choices=["full-size", "quickstart"], default=None)
    parser.add_argument("--model", default="affine")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--policy", default="float32")
    parser.add_argument("--jit", choices=["off", "on"], default="off")
    parser.add_argument("--source", choices=["auto", "voc-like", "samples"], default="auto",
                        help="auto: samples for quickstart, voc-like for full-size")
    parser.add_argument("--num-images", type=int, default=None, help="voc-like JPEGs to write")
    parser.add_argument("--cache", choices=["auto", "yes", "no"], default=None,
                        help="decoded-image cache of make_pair_dataset; default: 'auto' for "
                        "samples, 'no' for voc-like")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=None, help="cached/real alternations")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pipeline-batches", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--full", action="store_true", help="the real measurement")
    args = parser.parse_args(argv)
    settings = args.setting or (["quickstart", "full-size"] if args.full else ["quickstart"])
    args.steps = args.steps or (10 if args.full else 2)
    args.rounds = args.rounds or (2 if args.full else 1)
    args.pipeline_batches = args.pipeline_batches or (20 if args.full else 2)
    num_images = args.num_images or (200 if args.full else 4)
    size = (args.image_size, args.image_size) if args.image_size else (None if args.full else (88, 88))
    quick, quick_source = bench_models.quickstart_settings()

    print(bench_common.machine_header())
    print(f"quickstart settings from {quick_source}: {quick}")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"median step over {args.rounds} x {args.steps} steps per input")
        results = {}
        for setting in settings:
            source = args.source
            if source == "auto":
                source = "samples" if setting == "quickstart" else "voc-like"
            if source == "voc-like":
                files = write_voc_like_images(tmp, num_images)
                described = f"{num_images} voc-like 500x375 JPEGs"
            else:
                train, _ = data.builtin_sample_images()
                files, described = train, f"{len(train)} built-in sample photos"
            cache = args.cache or ("auto" if source == "samples" else "no")
            print(f"{setting}: images {described}, decoded-image cache {cache}")
            cache = {"auto": None, "yes": True, "no": False}[cache]
            if args.batch_size:
                batch_size = args.batch_size
            elif not args.full:
                batch_size = 2
            else:
                batch_size = 16 if setting == "full-size" else quick["batch_size"]
            # As trainers/configs/small_from_scratch.flags cuts its pairs (resize size,
            # augmentation); full-size as the paper's configs (480×640, none).
            options = ({"resize_size": quick["resize_size"], "augment": quick["augment"]}
                       if setting == "quickstart" else {})
            print(f"{setting}: pipeline options {options or 'resize 480x640, no augmentation'}")
            results[setting] = measure(setting, args.model, batch_size, args.policy, args.jit,
                                       files, cache, args, size, options)
    return results


if __name__ == "__main__":
    main()
