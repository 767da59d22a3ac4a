r"""Makes the README's alignment figure, docs/images/align_example.png.

    python docs/make_align_figure.py [--model affine_tps_vgg16] [--out docs/images/align_example.png]

Two real photographs of one category, two different people, that no model
was trained on: the source is scikit-image's 'astronaut' (Eileen Collins,
NASA, public domain), cropped to her head and shoulders; the target is
matplotlib's 'grace_hopper' sample (Grace Hopper, US Navy, public domain).
Both are formal portraits in front of a US flag, framed differently. The
figure is what `trainers/align.py` draws with the shipped
two-stage model (affine, then TPS; no download) and six keypoints marked by
hand on both faces (eye centres, nose tip, mouth corners, chin). The script
prints how far the transferred target keypoints land from the source's own,
for the model and for the identity, and PCK@0.1 with the SPEC's reference
length (the longer side of the source keypoints' bounding box).
"""

import argparse
import csv
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "images", "align_example.png")

# The astronaut photograph (512×512) cropped to x in [100, 340), y in [30, 300).
SOURCE_CROP = (100, 340, 30, 300)
# Keypoints marked by hand, 0-based (x, y) pixels of the full photographs:
# left eye, right eye, nose tip, left and right mouth corner, chin (image
# left/right).
ASTRONAUT_POINTS = [(204, 104), (244, 104), (222, 126), (203, 141), (243, 141), (232, 186)]
GRACE_HOPPER_POINTS = [(219, 190), (335, 188), (276, 256), (234, 288), (322, 286), (278, 336)]


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="affine_tps_vgg16",
                        help="a shipped model's name or a .keras file (default: affine_tps_vgg16)")
    parser.add_argument("--model2", default=None, help="optional second-stage model")
    parser.add_argument("--out", default=DEFAULT_OUT, help="where to write the figure")
    return parser


def example_pair():
    """`(source, target, source_points, target_points)`: uint8 images, float (N, 2) points."""
    import matplotlib.cbook
    import skimage.data
    from PIL import Image

    x0, x1, y0, y1 = SOURCE_CROP
    source = skimage.data.astronaut()[y0:y1, x0:x1]
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        target = np.asarray(image.convert("RGB"))
    source_points = np.array(ASTRONAUT_POINTS, float) - [x0, y0]
    return source, target, source_points, np.array(GRACE_HOPPER_POINTS, float)


def main(argv=None):
    args = _parser().parse_args(argv)
    sys.path.insert(0, REPO)  # run from a checkout without installing
    from PIL import Image

    from trainers import cli_support

    cli_support.defer_package_import()  # TensorFlow starts quietly, in align_program.run
    from trainers import align as align_program

    source, target, source_points, target_points = example_pair()
    with tempfile.TemporaryDirectory() as folder:
        source_file = os.path.join(folder, "astronaut.png")
        target_file = os.path.join(folder, "grace_hopper.png")
        points_file = os.path.join(folder, "points.csv")
        moved_file = os.path.join(folder, "transferred.csv")
        Image.fromarray(source).save(source_file)
        Image.fromarray(target).save(target_file)
        np.savetxt(points_file, target_points, delimiter=",", header="x,y", comments="", fmt="%.1f")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        status = align_program.run(
            source_file, target_file, model=args.model, model2=args.model2, out=args.out,
            points=points_file, points_out=moved_file,
        )
        if status:
            return status
        with open(moved_file, newline="") as f:
            moved = np.array([[float(v) for v in row] for row in list(csv.reader(f))[1:]])[:, 2:]

    # Identity: the target point at the same normalised position of the source.
    scale = (np.array(source.shape[1::-1]) - 1) / (np.array(target.shape[1::-1]) - 1)
    identity = target_points * scale
    reference = (source_points.max(axis=0) - source_points.min(axis=0)).max()
    for name, mapped in (("model", moved), ("identity", identity)):
        errors = np.linalg.norm(mapped - source_points, axis=1)
        print(f"{name}: mean error {errors.mean():.1f} px, max {errors.max():.1f} px, "
              f"PCK@0.1 {np.mean(errors <= 0.1 * reference):.2f}, "
              f"@0.2 {np.mean(errors <= 0.2 * reference):.2f} "
              f"(reference length {reference:.0f} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
