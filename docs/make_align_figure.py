r"""Makes the README's alignment figure, docs/images/align_example.png.

    python docs/make_align_figure.py [--model saved_models/quickstart/model.keras] \
        [--model2 ...] [--image PATH] [--out docs/images/align_example.png]

Trains nothing: it needs a trained model, by default the quick start's
(`python trainers/train.py --flagfile=trainers/configs/quickstart.flags`).

The pair is synthetic, so the answer is known: the source is a photograph
(default: scikit-image's 'chelsea', one of the quick start's *validation*
images, never trained on) and the target is that photograph warped by a
known affine transformation (a 10° rotation, a zoom and a shift) with the
project's own warp. The figure is what `python -m keras_geomatch.align`
draws for this pair and a 3×3 grid of target points; the script also prints
how far the transferred points land from where the known transformation
sends them.
"""

import argparse
import csv
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_MODEL = os.path.join(REPO, "saved_models", "quickstart", "model.keras")
DEFAULT_OUT = os.path.join(HERE, "images", "align_example.png")

# θ (target → source, normalised): a 10° rotation, ×0.8 zoom, a small shift.
# Every target corner maps inside the source, so the target has no black border.
_ANGLE = np.deg2rad(10.0)
_SCALE = 0.8
TRUE_THETA = np.array(
    [
        _SCALE * np.cos(_ANGLE),
        -_SCALE * np.sin(_ANGLE),
        0.05,
        _SCALE * np.sin(_ANGLE),
        _SCALE * np.cos(_ANGLE),
        -0.04,
    ],
    dtype=np.float32,
)


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the .keras model to show")
    parser.add_argument("--model2", default=None, help="optional second-stage .keras model")
    parser.add_argument("--image", default=None, help="source photograph (default: chelsea)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="where to write the figure")
    return parser


def _default_image():
    from keras_geomatch.data import builtin_sample_images

    _, val_files = builtin_sample_images()
    return next(f for f in val_files if os.path.basename(f).startswith("chelsea"))


def main(argv=None):
    args = _parser().parse_args(argv)
    if not os.path.isfile(args.model):
        print(
            f"error: no model at {args.model}. Train the quick start first:\n"
            "  python trainers/train.py --flagfile=trainers/configs/quickstart.flags\n"
            "or pass --model PATH.",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, REPO)  # run from a checkout without installing
    from PIL import Image

    from keras_geomatch import align as align_cli
    from keras_geomatch.inference import load_image
    from keras_geomatch.inference import transfer_points
    from keras_geomatch.inference import warp_images

    image_path = args.image or _default_image()
    source = load_image(image_path, "source")
    height, width = source.shape[:2]
    target = warp_images(source[None], [("affine", TRUE_THETA)], (height, width))[0]
    points = np.array(
        [[fx * (width - 1), fy * (height - 1)] for fy in (0.2, 0.5, 0.8) for fx in (0.2, 0.5, 0.8)]
    )

    with tempfile.TemporaryDirectory() as folder:
        source_file = os.path.join(folder, "source.png")
        target_file = os.path.join(folder, "target.png")
        points_file = os.path.join(folder, "points.csv")
        moved_file = os.path.join(folder, "transferred.csv")
        Image.fromarray(np.round(source).astype(np.uint8)).save(source_file)
        Image.fromarray(np.clip(np.round(target), 0, 255).astype(np.uint8)).save(target_file)
        np.savetxt(points_file, points, delimiter=",", header="x,y", comments="", fmt="%.2f")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        argv = [
            source_file,
            target_file,
            "--model",
            args.model,
            "--out",
            args.out,
            "--points",
            points_file,
            "--points_out",
            moved_file,
        ]
        if args.model2:
            argv += ["--model2", args.model2]
        status = align_cli.main(argv)
        if status:
            return status
        with open(moved_file, newline="") as f:
            rows = np.array([[float(v) for v in row] for row in list(csv.reader(f))[1:]])

    truth = transfer_points(points, [("affine", TRUE_THETA)], (height, width), (height, width))
    errors = np.linalg.norm(rows[:, 2:] - truth, axis=1)
    identity_errors = np.linalg.norm(points - truth, axis=1)
    print(
        f"Source {os.path.basename(image_path)} ({width}×{height}); target = source warped by "
        f"θ = {np.round(TRUE_THETA, 3).tolist()}"
    )
    print(
        f"Transferred points vs the known transformation: mean error {errors.mean():.1f} px, "
        f"max {errors.max():.1f} px (identity: mean {identity_errors.mean():.1f} px)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
