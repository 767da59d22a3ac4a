"""Peak resident memory of `align` on large JPEG photographs (issue 14).

For each size it writes a smooth random JPEG of that many megapixels (in a
temporary folder; smooth content compresses to a few MB) and runs, in a
fresh Python process of its own, `align(model, source.jpg, target.jpg)`
with the shipped pretrained affine model (`load_pretrained('affine_vgg16')`,
VGG-16 pool4 at 240×240: the network part is fixed-size, so what grows
with the photograph is the image handling). It reports the child's peak
resident set size (`ru_maxrss` from `os.wait4`, and `VmHWM` read by the
child itself), the resident size after the model was built, and the time.

Two kinds of rows:

* `source N MP`: the source is the large photograph, the target a 640×480
  JPEG (the usual case: the warped source has the target's size);
* `source and target N MP` (`--both`): the same large photograph as both,
  so the float32 warped source (12 bytes per pixel) is large too.

The parent process imports neither numpy nor TensorFlow: a child started by
`subprocess` inherits its parent's peak RSS in `ru_maxrss` (Linux counts
the parent's address space up to the exec), so the images are written by
a child too.

    nice python benchmarks/align_memory.py                      # 12, 50, 144 MP
    nice python benchmarks/align_memory.py --megapixels 12 --both
    nice python benchmarks/align_memory.py --package_root /tmp/old_checkout  # another version

`--package_root` runs the children on the `keras_geomatch` package found in
another folder (e.g. `git archive REV keras_geomatch | tar -x -C DIR`), to
measure a version before a change on the same machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Width × height of each size; 12 MP is a phone camera, 50 MP a full-frame
# 3:2 sensor, 144 MP the 12000×12000 JPEG of the issue.
SIZES = {
    12: (4000, 3000),
    50: (8688, 5792),
    144: (12000, 12000),
}
TARGET_SIZE = (640, 480)


def _write_jpeg(path, width, height, seed):
    """A smooth random RGB JPEG (random 48×64 colours enlarged bicubically)."""
    import numpy as np
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # our own file, not a bomb
    coarse = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    image.save(path, quality=90)


def _child_make(args):
    width, height = (int(v) for v in args.size.split("x"))
    _write_jpeg(args.path, width, height, args.seed)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _child_align(args):
    sys.path.insert(0, args.package_root)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    import numpy as np

    import keras_geomatch
    from keras_geomatch.inference import align

    model = keras_geomatch.load_pretrained(args.model)
    rss_model = _status_kib("VmRSS")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning in older versions
        result = align(model, args.source, args.target)
    seconds = time.perf_counter() - start
    warped = result.warped_source
    print(
        json.dumps(
            {
                "package": os.path.dirname(os.path.dirname(os.path.abspath(keras_geomatch.__file__))),
                "rss_after_model_kib": rss_model,
                "vmhwm_kib": _status_kib("VmHWM"),
                "seconds": seconds,
                "theta": [round(float(v), 4) for v in result.theta],
                "warped": [list(warped.shape), str(warped.dtype), float(np.mean(warped))],
            }
        )
    )


def _spawn(arguments):
    """Runs this script in a child; returns (stdout, stderr, exit status, ru_maxrss KiB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), *arguments], stdout=out, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return out.read(), err.read(), process.returncode, usage.ru_maxrss


def _header():
    stdout, stderr, code, _ = _spawn(["--_header"])
    return stdout.strip() if code == 0 else f"(machine header failed: {stderr.strip()[-300:]})"


def _child_header(args):
    sys.path.insert(0, os.path.join(REPO_ROOT, "benchmarks"))
    import bench_common

    print(bench_common.machine_header())


def _gib(kib):
    return kib / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", default="12,50,144", help="comma-separated, of " + str(sorted(SIZES)))
    parser.add_argument("--both", action="store_true", help="also rows with the large photograph as the target")
    parser.add_argument("--only_both", action="store_true", help="only the rows with a large target")
    parser.add_argument("--model", default="affine_vgg16")
    parser.add_argument("--package_root", default=REPO_ROOT, help="folder holding the keras_geomatch to measure")
    args = parser.parse_args(argv)
    sizes = [int(v) for v in args.megapixels.split(",") if v]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"--megapixels: expected values among {sorted(SIZES)}. Received: {unknown}")

    print(_header())
    print(f"package: {os.path.abspath(args.package_root)}, model: {args.model}")
    print("| case | pixels | JPEG | peak RSS (ru_maxrss) | VmHWM | RSS after model | align time |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="align_memory_") as folder:
        target = os.path.join(folder, "target.jpg")
        _spawn_checked(["--_make", target, "--size", "%dx%d" % TARGET_SIZE, "--seed", "1"])
        for megapixels in sizes:
            width, height = SIZES[megapixels]
            source = os.path.join(folder, f"source_{megapixels}mp.jpg")
            _spawn_checked(["--_make", source, "--size", f"{width}x{height}", "--seed", "0"])
            cases = []
            if not args.only_both:
                cases.append((f"source {megapixels} MP", target))
            if args.both or args.only_both:
                cases.append((f"source and target {megapixels} MP", source))
            for label, target_path in cases:
                stdout, stderr, code, maxrss = _spawn(
                    ["--_align", source, "--target", target_path, "--model", args.model,
                     "--package_root", os.path.abspath(args.package_root)]
                )
                if code != 0:
                    print(f"| {label} | {width}×{height} | failed (exit {code}) | "
                          f"{_gib(maxrss):.2f} GiB | | | |")
                    print("  " + "\n  ".join(stderr.strip().splitlines()[-5:]))
                    continue
                report = json.loads(stdout.strip().splitlines()[-1])
                print(
                    f"| {label} | {width}×{height} | {os.path.getsize(source) / 2**20:.1f} MiB | "
                    f"{_gib(maxrss):.2f} GiB | {_gib(report['vmhwm_kib']):.2f} GiB | "
                    f"{_gib(report['rss_after_model_kib']):.2f} GiB | {report['seconds']:.1f} s |"
                )
                print(f"  θ = {report['theta']}, warped {report['warped']}", flush=True)
            os.remove(source)


def _spawn_checked(arguments):
    stdout, stderr, code, _ = _spawn(arguments)
    if code != 0:
        raise RuntimeError(f"child {arguments[:2]} failed: {stderr.strip()[-500:]}")
    return stdout


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("--_make", "--_align", "--_header"):
        mode = sys.argv[1]
        child = argparse.ArgumentParser()
        child.add_argument("path", nargs="?")
        child.add_argument("--size")
        child.add_argument("--seed", type=int, default=0)
        child.add_argument("--target")
        child.add_argument("--model", default="affine_vgg16")
        child.add_argument("--package_root", default=REPO_ROOT)
        parsed = child.parse_args(sys.argv[2:])
        if mode == "--_make":
            _child_make(parsed)
        elif mode == "--_align":
            parsed.source = parsed.path
            _child_align(parsed)
        else:
            _child_header(parsed)
    else:
        main()
