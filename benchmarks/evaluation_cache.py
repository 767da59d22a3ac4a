"""PCK evaluation time with and without the per-image feature cache.

A PF-WILLOW-shaped synthetic dataset: `--categories` × `--images-per-category`
images (default 10 × 10 = 100, PNGs of PF-WILLOW-like sizes) and every
ordered pair within a category (10 · 9 · 10 = 900 pairs), 10 random
keypoints per pair. `keras_geomatch.evaluation.evaluate_keypoint_pairs` runs
on them with `use_feature_cache=True` (each image's features computed once:
100 backbone passes) and `False` (two per pair: 1800), and the script
prints the wall time, pairs/s, the backbone passes, and checks that both give
the same θ and PCK. Image loading and resizing are part of the time, as in a
real evaluation.

    python benchmarks/evaluation_cache.py                 # smoke: 2 x 3 images, small backbone
    python benchmarks/evaluation_cache.py --full          # 100 images / 900 pairs, quickstart model
    python benchmarks/evaluation_cache.py --full --setting full-size --repeats 1
"""

import argparse
import os
import tempfile
import time

import bench_common

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import bench_models  # noqa: E402
from keras_geomatch.evaluation import KeypointPair  # noqa: E402
from keras_geomatch.evaluation import evaluate_keypoint_pairs  # noqa: E402


def write_dataset(root, categories, per_category, image_size, num_points=10, seed=0):
    """Writes the images; returns the list of `KeypointPair` (all ordered pairs per category)."""
    rng = np.random.default_rng(seed)
    height, width = image_size
    pairs = []
    for c in range(categories):
        folder = os.path.join(root, f"category{c:02d}")
        os.makedirs(folder, exist_ok=True)
        paths, points = [], []
        for k in range(per_category):
            # Slightly different sizes, like real photographs.
            h, w = height + int(rng.integers(-20, 21)), width + int(rng.integers(-20, 21))
            coarse = rng.uniform(0, 255, (h // 16 + 2, w // 16 + 2, 3)).astype(np.uint8)
            image = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
            path = os.path.join(folder, f"{k:03d}.png")
            image.save(path)
            paths.append(path)
            points.append(rng.uniform((0, 0), (w - 1, h - 1), (num_points, 2)))
        for a in range(per_category):
            for b in range(per_category):
                if a != b:
                    pairs.append(KeypointPair(paths[a], paths[b], points[a], points[b],
                                              f"category{c:02d}"))
    return pairs


def run(pairs, model, use_feature_cache, batch_size):
    start = time.perf_counter()
    result = evaluate_keypoint_pairs(pairs, model, batch_size=batch_size,
                                     use_feature_cache=use_feature_cache)
    return time.perf_counter() - start, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=["quickstart", "full-size"], default="quickstart")
    parser.add_argument("--model", default="affine")
    parser.add_argument("--categories", type=int, default=None)
    parser.add_argument("--images-per-category", type=int, default=None)
    parser.add_argument("--image-size", type=int, nargs=2, default=(300, 400),
                        metavar=("HEIGHT", "WIDTH"), help="size of the written images (about)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--network-size", type=int, default=None, help="override the model's input size")
    parser.add_argument("--repeats-no-cache", type=int, default=None,
                        help="timed runs without the cache (default: --repeats)")
    bench_common.add_common_arguments(parser, repeats=1, warmup=0, full_repeats=3)
    args = parser.parse_args(argv)
    categories = args.categories or (10 if args.full else 2)
    per_category = args.images_per_category or (10 if args.full else 3)
    repeats = bench_common.repeats_of(args)
    repeats_no_cache = args.repeats_no_cache or repeats
    size = (args.network_size,) * 2 if args.network_size else (None if args.full else (88, 88))

    print(bench_common.machine_header())
    keras.utils.set_random_seed(0)
    model, info = bench_models.build_model(args.setting, args.model, image_size=size)
    with tempfile.TemporaryDirectory() as tmp:
        image_size = tuple(args.image_size) if args.full else (60, 80)
        pairs = write_dataset(tmp, categories, per_category, image_size)
        images = len({p.source_path for p in pairs} | {p.target_path for p in pairs})
        print(f"model {info['description']} (random weights); {images} images, {len(pairs)} pairs, "
              f"batch {args.batch_size}; median of {repeats} (cache on) / {repeats_no_cache} "
              f"(cache off) runs after {args.warmup} warm-up")
        # Warm-up: traces the split model's functions.
        for _ in range(max(1, args.warmup)):
            run(pairs[: args.batch_size], model, True, args.batch_size)
        results = {}
        for enabled, count in ((True, repeats), (False, repeats_no_cache)):
            times = []
            bench_common.mark_cpu()
            for _ in range(count):
                seconds, result = run(pairs, model, enabled, args.batch_size)
                times.append(seconds)
            seconds = bench_common.median(times)
            results[enabled] = (seconds, result)
            print(f"RESULT evaluation model={info['description']} pairs={len(pairs)} "
                  f"images={images} feature_cache={'on' if enabled else 'off'}: "
                  f"{seconds:8.2f} s, {len(pairs) / seconds:7.2f} pairs/s, "
                  f"{result.num_backbone_images} backbone passes "
                  f"(runs {bench_common.spread(times)} s; {bench_common.load_note()})", flush=True)
        (on_s, on), (off_s, off) = results[True], results[False]
        same_theta = np.allclose(on.thetas, off.thetas, atol=1e-5)
        same_pck = np.allclose(on.pck.dataset_pck(), off.pck.dataset_pck())
        print(f"  cache speed-up {off_s / on_s:.2f}x; same θ: {same_theta}; "
              f"same PCK: {same_pck} ({on.pck.dataset_pck().tolist()})")
    return results


if __name__ == "__main__":
    main()
