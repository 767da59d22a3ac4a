"""Aligns a source image to a target image and draws the result.

    python -m keras_geomatch.align SOURCE TARGET [--out result.png] \
        [--model saved_models/NAME/model.keras | --model affine_vgg16] \
        [--model2 saved_models/NAME2/model.keras] \
        [--points points.csv] [--points_out transferred.csv]

Without `--model`, the shipped two-stage model `affine_tps_vgg16` (affine,
then TPS, on torchvision's ImageNet VGG-16; no download) aligns the pair.
`--model` also takes a shipped model's name (`affine_vgg16`, `tps_vgg16`,
`affine_tps_vgg16`).

SOURCE and TARGET are image files of any size (grayscale and RGBA are
converted to RGB). `--model2` adds a second stage (e.g. an affine model then
a TPS model, as in the paper). The figure (`--out`, PNG/JPEG/PDF/SVG by extension)
shows the source, the target, the source warped onto the target, blends
before and after alignment and a checkerboard; it needs matplotlib
(`pip install "keras-geomatch[plot]"`).

`--points` is a CSV of keypoints on the TARGET image, one `x,y` per line,
0-based pixels (x = column, y = row), an optional header line, `#` comments
allowed. They are transferred to the source (θ maps target → source), drawn
in the figure, and written with `--points_out` as
`target_x,target_y,source_x,source_y`.

Exit status: 0 on success, 2 on a usage or input error (a one-line message
on stderr: missing or unreadable file, not a geomatch model, matplotlib
missing, ...).
"""

import argparse
import csv
import os
import sys

USAGE_ERROR = 2
# The shipped two-stage model (keras_geomatch.pretrained.DEFAULT_TWO_STAGE),
# written out so that --help needs nothing of the package.
DEFAULT_TWO_STAGE = "affine_tps_vgg16"


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m keras_geomatch.align",
        description="Align SOURCE to TARGET with a trained geomatch model and draw the result.",
    )
    parser.add_argument("source", help="source image A (the one that gets warped)")
    parser.add_argument("target", help="target image B")
    parser.add_argument(
        "--model",
        default=DEFAULT_TWO_STAGE,
        help="a .keras geomatch model (first stage) or a shipped model's name: affine_vgg16, "
        "tps_vgg16, affine_tps_vgg16 (two stages; the default)",
    )
    parser.add_argument(
        "--model2",
        default=None,
        help="optional second-stage .keras model, applied after --model (e.g. TPS after affine)",
    )
    parser.add_argument(
        "--out", default="alignment.png", help="where to write the figure (default alignment.png)"
    )
    parser.add_argument(
        "--points",
        default=None,
        help="CSV of target keypoints, 'x,y' per line, 0-based pixels; transferred to the source",
    )
    parser.add_argument(
        "--points_out",
        default=None,
        help="write the transferred points as CSV target_x,target_y,source_x,source_y",
    )
    parser.add_argument(
        "--dpi", type=int, default=100, help="resolution of the figure (default 100)"
    )
    parser.add_argument(
        "--mixed_precision",
        default="auto",
        choices=("auto", "float32", "mixed_bfloat16"),
        help="compute policy (default auto: mixed_bfloat16 where bf16 is native, i.e. a TPU, "
        "a GPU of compute capability >= 8.0 or a CPU with AMX-BF16/AVX512-BF16; else float32)",
    )
    return parser


def read_points_csv(path):
    """Reads `x,y` rows (0-based pixels) into a float64 `(N, 2)` array.

    A first line that is not numeric is taken as a header; blank lines and
    lines starting with `#` are skipped; fields may be separated by commas
    or whitespace.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a row that is not two finite numbers, or no point at all.

    Returns:
        A list of `[x, y]` floats.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Points file not found: {path}")
    points = []
    first_row = True
    with open(path, newline="", encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            is_first_row, first_row = first_row, False
            try:
                values = [float(v) for v in text.replace(",", " ").split()]
            except ValueError:
                if is_first_row:
                    continue  # a header such as 'x,y'
                values = []
            if len(values) != 2 or not all(abs(v) < float("inf") for v in values):
                raise ValueError(
                    f"{path}, line {line_number}: expected two finite numbers 'x,y' (0-based "
                    f"pixels of the target). Received: {text!r}"
                )
            points.append(values)
    if not points:
        raise ValueError(f"{path}: expected at least one 'x,y' point. Received: no point")
    return points


def _pretrained_names():
    from keras_geomatch import pretrained

    return sorted(pretrained.list_pretrained())


def _check_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "the figure needs matplotlib, which is not installed: "
            "pip install 'keras-geomatch[plot]' (or: pip install matplotlib)"
        ) from None


def _check_output_format(path):
    from matplotlib.backend_bases import FigureCanvasBase

    supported = sorted(FigureCanvasBase.get_supported_filetypes())
    extension = os.path.splitext(path)[1][1:].lower()
    if extension not in supported:
        raise ValueError(
            f"Expected --out with an image extension ({', '.join(supported)}). Received: {path}"
        )


def run(args):
    """Runs the command for parsed `args`; raises on input errors."""
    _check_matplotlib()
    _check_output_format(args.out)
    points = None if args.points is None else read_points_csv(args.points)
    for path, what in (
        (args.source, "source image"),
        (args.target, "target image"),
    ):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{what} not found: {path}")
    for path, what in ((args.model, "--model"), (args.model2, "--model2")):
        if path is not None and not os.path.exists(path) and path not in _pretrained_names():
            raise FileNotFoundError(
                f"{what} not found: {path} (expected a .keras file or one of the shipped models "
                f"{_pretrained_names()})"
            )

    # Imported here so that --help and argument errors need no TensorFlow start-up.
    import numpy as np

    from keras_geomatch.inference import align
    from keras_geomatch.inference import load_image
    from keras_geomatch.inference import save_alignment_figure
    from keras_geomatch.inference.model_loading import load_stages

    source = load_image(args.source, "source image")
    target = load_image(args.target, "target image")
    model, model2 = load_stages(args.model, args.model2, mixed_precision=args.mixed_precision)
    result = align(model, source, target, model2=model2)

    directory = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(directory, exist_ok=True)
    save_alignment_figure(args.out, result, source, target, target_points=points, dpi=args.dpi)

    np.set_printoptions(precision=4, suppress=True)
    print(f"{result.geometric_model} θ = {result.theta}")
    if result.theta2 is not None:
        print(f"{result.geometric_model2} θ2 = {result.theta2}")
    if points is not None:
        transferred = result.map_points(points)
        if args.points_out:
            with open(args.points_out, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["target_x", "target_y", "source_x", "source_y"])
                for (tx, ty), (sx, sy) in zip(np.asarray(points), transferred):
                    writer.writerow([f"{tx:.3f}", f"{ty:.3f}", f"{sx:.3f}", f"{sy:.3f}"])
            print(f"Wrote {args.points_out}")
    print(f"Wrote {args.out}")


def _is_input_error(error):
    if isinstance(error, (FileNotFoundError, ValueError, ImportError, OSError)):
        return True
    # Points that map outside float32 (tf, imported only once a model is used).
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(error, tf.errors.InvalidArgumentError)


def main(argv=None):
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        run(args)
    # Input problems are the user's to fix: one line, no traceback. Anything
    # else is a bug and keeps its traceback.
    except Exception as error:
        if not _is_input_error(error):
            raise
        message = getattr(error, "message", None) or str(error)
        message = message.strip().splitlines()[0] if message.strip() else repr(error)
        print(f"error: {message}", file=sys.stderr)
        return USAGE_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
