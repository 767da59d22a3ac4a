"""Throughput of the synthetic-pair pipeline (`keras_geomatch.data`), in pairs/s.

Builds `make_pair_dataset` exactly as training does, pulls batches, and
prints the median pairs/s over several timed windows after a warm-up, for
each geometric model, with the CPU model and core count. It also prints the
process CPU time per pair: on a machine shared with other jobs the wall-clock
rate drops, the CPU time per pair much less.

    python benchmarks/pipeline_throughput.py                      # sample photos, cached
    python benchmarks/pipeline_throughput.py --source voc-like    # 500×375 JPEGs, decoded every time
    python benchmarks/pipeline_throughput.py --images /data/VOC2011/JPEGImages --cache no
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

# Runs from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from keras_geomatch import data  # noqa: E402


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def write_voc_like_images(folder, num_images, seed=0):
    """JPEGs of 500×375 (the typical Pascal VOC size), smooth noise + edges."""
    rng = np.random.default_rng(seed)
    files = []
    for i in range(num_images):
        coarse = rng.uniform(0, 255, size=(12, 16, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((500, 375), Image.BICUBIC)
        noise = rng.normal(0, 12, size=(375, 500, 3))
        array = np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"{i:05d}.jpg")
        Image.fromarray(array).save(path, quality=90)
        files.append(path)
    return files


def measure(files, args, geometric_model):
    config = data.PairConfig(geometric_model, image_size=(args.image_size, args.image_size))
    cache = {"auto": None, "yes": True, "no": False}[args.cache]
    dataset = data.make_pair_dataset(
        files, config, batch_size=args.batch_size, training=True, seed=0,
        cache_decoded=cache, check_images="header",
    )
    iterator = iter(dataset)
    for _ in range(args.warmup_batches):
        next(iterator)
    rates, cpu_ms = [], []
    for _ in range(args.windows):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(args.window_batches):
            inputs, theta = next(iterator)
        theta.numpy()
        pairs = args.window_batches * args.batch_size
        rates.append(pairs / (time.perf_counter() - start))
        cpu_ms.append(1000 * (time.process_time() - cpu_start) / pairs)
    return rates, cpu_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("samples", "voc-like"), default="samples",
                        help="built-in sample photos, or generated 500x375 JPEGs (ignored with --images)")
    parser.add_argument("--images", help="a folder of images to use instead")
    parser.add_argument("--num-images", type=int, default=200, help="number of voc-like JPEGs")
    parser.add_argument("--models", nargs="+", default=["affine", "tps"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=240)
    parser.add_argument("--cache", choices=("auto", "yes", "no"), default="auto",
                        help="cache decoded images in memory (auto: when they fit in 128 MiB)")
    parser.add_argument("--warmup-batches", type=int, default=5)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--window-batches", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.images:
            files, source = data.list_image_files(args.images), args.images
        elif args.source == "voc-like":
            files, source = write_voc_like_images(tmp, args.num_images), "voc-like 500x375 JPEGs"
        else:
            train, val = data.builtin_sample_images()
            files, source = train + val, "built-in sample photos"
        print(f"CPU: {cpu_model()}, {usable_cores()} usable cores; TensorFlow {tf.__version__}")
        print(f"images: {len(files)} ({source}); cache={args.cache}; batch {args.batch_size}; "
              f"pairs of {args.image_size}x{args.image_size}")
        for model in args.models:
            rates, cpu_ms = measure(files, args, model)
            print(f"{model:>10}: median {statistics.median(rates):7.1f} pairs/s  "
                  f"(windows: {', '.join(f'{r:.0f}' for r in rates)}); "
                  f"CPU time {statistics.median(cpu_ms):.2f} ms/pair")


if __name__ == "__main__":
    main()
