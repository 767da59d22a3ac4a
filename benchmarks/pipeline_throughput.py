"""Throughput of the synthetic-pair pipeline (`keras_geomatch.data`), in pairs/s.

Builds `make_pair_dataset` exactly as training does, pulls batches, and
prints the median pairs/s over several timed windows after a warm-up, for
each geometric model, with the CPU model and core count. It also prints the
process CPU time per pair: on a machine shared with other jobs the wall-clock
rate drops, the CPU time per pair much less.

    python benchmarks/pipeline_throughput.py                      # sample photos, cached
    python benchmarks/pipeline_throughput.py --source voc-like    # 500×375 JPEGs, decoded every time
    python benchmarks/pipeline_throughput.py --source voc-like --jpeg-size 4032x3024 --num-images 40
                                                                  # 12-megapixel photos
    python benchmarks/pipeline_throughput.py --setting quickstart # as small_from_scratch.flags cuts its pairs
    python benchmarks/pipeline_throughput.py --images /data/VOC2011/JPEGImages --cache no
"""

import argparse
import os
import statistics
import tempfile
import time

# Runs from a checkout without installing the package: bench_common puts the
# repository root on sys.path and sets up the CPU kernels before TensorFlow.
import bench_common  # noqa: I001
import bench_models  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from keras_geomatch import data  # noqa: E402


def write_voc_like_images(folder, num_images, seed=0, size=(500, 375)):
    """JPEGs of `size` (width, height; 500×375 is the typical Pascal VOC size),
    smooth noise + edges. At 4032×3024 they weigh about 3.3 MB, as phone
    photos do."""
    rng = np.random.default_rng(seed)
    width, height = size
    files = []
    for i in range(num_images):
        coarse = rng.uniform(0, 255, size=(12, 16, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
        noise = rng.normal(0, 12, size=(height, width, 3))
        array = np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"{i:05d}.jpg")
        Image.fromarray(array).save(path, quality=90)
        files.append(path)
    return files


def measure(files, args, geometric_model, options):
    config = data.PairConfig(geometric_model, image_size=options["image_size"],
                             resize_size=options["resize_size"])
    cache = {"auto": None, "yes": True, "no": False}[args.cache]
    dataset = data.make_pair_dataset(
        files, config, batch_size=options["batch_size"], training=True, seed=0,
        cache_decoded=cache, check_images="header",
        augment=data.ViewAugmentation() if options["augment"] else None,
    )
    iterator = iter(dataset)
    for _ in range(args.warmup_batches):
        next(iterator)
    rates, cpu_ms = [], []
    bench_common.mark_cpu()
    for _ in range(args.windows):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(args.window_batches):
            inputs, theta = next(iterator)
        theta.numpy()
        pairs = args.window_batches * options["batch_size"]
        rates.append(pairs / (time.perf_counter() - start))
        cpu_ms.append(1000 * (time.process_time() - cpu_start) / pairs)
    return rates, cpu_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("samples", "voc-like"), default="samples",
                        help="built-in sample photos, or generated 500x375 JPEGs (ignored with --images)")
    parser.add_argument("--images", help="a folder of images to use instead")
    parser.add_argument("--num-images", type=int, default=200, help="number of voc-like JPEGs")
    parser.add_argument("--jpeg-size", default="500x375",
                        help="WIDTHxHEIGHT of the voc-like JPEGs (4032x3024: a phone photo)")
    parser.add_argument("--setting", choices=("full-size", "quickstart"), default="full-size",
                        help="full-size: 240x240 pairs from 480x640, batch 16, no augmentation; "
                        "quickstart: image size, resize size, batch and augmentation of "
                        "trainers/configs/small_from_scratch.flags")
    parser.add_argument("--models", nargs="+", default=None,
                        help="geometric models (default: affine and tps; the quickstart's)")
    parser.add_argument("--batch-size", type=int, default=None, help="overrides the setting's")
    parser.add_argument("--image-size", type=int, default=None, help="overrides the setting's")
    parser.add_argument("--cache", choices=("auto", "yes", "no"), default="auto",
                        help="cache decoded images in memory (auto: when they fit in 128 MiB)")
    parser.add_argument("--warmup-batches", type=int, default=5)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--window-batches", type=int, default=10)
    args = parser.parse_args()
    options = {"image_size": (240, 240), "resize_size": (480, 640), "batch_size": 16,
               "augment": False}
    models = ["affine", "tps"]
    if args.setting == "quickstart":
        quick, quick_source = bench_models.quickstart_settings()
        options = {name: quick[name] for name in options}
        models = [quick["geometric_model"]]
        print(f"quickstart settings from {quick_source}: {options}")
    if args.image_size:
        options["image_size"] = (args.image_size, args.image_size)
    if args.batch_size:
        options["batch_size"] = args.batch_size
    models = args.models or models
    jpeg_size = tuple(int(v) for v in args.jpeg_size.lower().split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        if args.images:
            files, source = data.list_image_files(args.images), args.images
        elif args.source == "voc-like":
            files = write_voc_like_images(tmp, args.num_images, size=jpeg_size)
            source = f"voc-like {jpeg_size[0]}x{jpeg_size[1]} JPEGs"
        else:
            train, val = data.builtin_sample_images()
            files, source = train + val, "built-in sample photos"
        print(bench_common.machine_header())
        height, width = options["image_size"]
        resize_height, resize_width = options["resize_size"]
        print(f"images: {len(files)} ({source}); cache={args.cache}; batch {options['batch_size']}; "
              f"pairs of {height}x{width} from {resize_height}x{resize_width}; "
              f"augmentation {'on' if options['augment'] else 'off'}")
        for model in models:
            rates, cpu_ms = measure(files, args, model, options)
            print(f"{model:>10}: median {statistics.median(rates):7.1f} pairs/s  "
                  f"(windows: {', '.join(f'{r:.0f}' for r in rates)}); "
                  f"CPU time {statistics.median(cpu_ms):.2f} ms/pair ({bench_common.load_note()})")


if __name__ == "__main__":
    main()
