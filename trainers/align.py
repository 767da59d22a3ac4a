r"""Aligns a source image to a target image and draws the result.

    python trainers/align.py SOURCE TARGET [--out=result.png] \
        [--model=saved_models/NAME/model.keras | --model=affine_vgg16] \
        [--model2=saved_models/NAME2/model.keras] \
        [--points=points.csv] [--points_out=transferred.csv]

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

The last line printed is `Wrote OUT`. Exit status: 0 on success, 2 on a
usage or input error (a one-line message on stderr: missing or unreadable
file, not a geomatch model, matplotlib missing, ...).
"""

import csv
import os
import sys

from absl import flags

if __name__ == "__main__":  # run as a script: trainers/ is sys.path[0]
    import cli_support

    cli_support.defer_package_import()  # TensorFlow starts once the arguments are checked
else:
    from trainers import cli_support

from keras_geomatch import pretrained  # noqa: E402 (reads the registry; no TensorFlow)

USAGE_ERROR = cli_support.USAGE_ERROR


def define_flags(flag_values=flags.FLAGS):
    """Defines this program's flags on `flag_values` (tests pass a fresh `FlagValues`)."""
    names = ", ".join(sorted(pretrained.list_pretrained()))
    flags.DEFINE_string(
        "model", pretrained.DEFAULT_TWO_STAGE,
        f"A .keras geomatch model (the first stage) or a shipped model's name ({names}).",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "model2", None,
        "Optional second-stage .keras model, applied after --model (e.g. TPS after affine).",
        flag_values=flag_values,
    )
    flags.DEFINE_string("out", "alignment.png", "Where to write the figure.",
                        flag_values=flag_values)
    flags.DEFINE_string(
        "points", None,
        "CSV of target keypoints, 'x,y' per line, 0-based pixels; transferred to the source.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "points_out", None,
        "Write the transferred points as CSV target_x,target_y,source_x,source_y.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer("dpi", 100, "Resolution of the figure.", lower_bound=1,
                         flag_values=flag_values)
    flags.DEFINE_float(
        "max_megapixels", 180.0,
        "Refuse images with more pixels than this many millions, before decoding them "
        "(memory grows with the images; raise it if you have the memory).",
        lower_bound=0.0, flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "mixed_precision", "auto", ("auto", "float32", "mixed_bfloat16"),
        "Compute policy: 'auto' is mixed_bfloat16 where bf16 is native (a TPU, a GPU of "
        "compute capability >= 8.0 or a CPU with AMX-BF16/AVX512-BF16), else float32.",
        flag_values=flag_values,
    )


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


def _align_files(source, target, model, model2, out, points, points_out, dpi, mixed_precision,
                 max_megapixels):
    """Does the work of `run`; raises on input errors."""
    _check_matplotlib()
    _check_output_format(out)
    target_points = None if points is None else read_points_csv(points)
    for path, what in ((source, "source image"), (target, "target image")):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{what} not found: {path}")
    names = sorted(pretrained.list_pretrained())
    for path, what in ((model, "--model"), (model2, "--model2")):
        if path is not None and not os.path.exists(path) and path not in names:
            raise FileNotFoundError(
                f"{what} not found: {path} (expected a .keras file or one of the shipped models "
                f"{names})"
            )

    cli_support.start_tensorflow()  # only now that the arguments are checked
    import numpy as np

    from keras_geomatch.inference import align
    from keras_geomatch.inference import load_image
    from keras_geomatch.inference import save_alignment_figure
    from keras_geomatch.inference.model_loading import load_stages

    source_image = load_image(source, "source image", max_megapixels, keep_uint8=True)
    target_image = load_image(target, "target image", max_megapixels, keep_uint8=True)
    model, model2 = load_stages(model, model2, mixed_precision=mixed_precision)
    result = align(model, source_image, target_image, model2=model2,
                   max_megapixels=max_megapixels)

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_alignment_figure(
        out, result, source_image, target_image, target_points=target_points, dpi=dpi
    )

    np.set_printoptions(precision=4, suppress=True)
    for index, (geometric_model, theta) in enumerate(result.stages, start=1):
        print(f"stage {index}: {geometric_model} θ = {theta}")
    if target_points is not None:
        transferred = result.map_points(target_points)
        if points_out:
            with open(points_out, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["target_x", "target_y", "source_x", "source_y"])
                for (tx, ty), (sx, sy) in zip(np.asarray(target_points), transferred):
                    writer.writerow([f"{tx:.3f}", f"{ty:.3f}", f"{sx:.3f}", f"{sy:.3f}"])
            print(f"Wrote {points_out}")
    print(f"Wrote {out}")


def _is_input_error(error):
    if isinstance(error, (FileNotFoundError, ValueError, ImportError, OSError)):
        return True
    # Points that map outside float32 (tf, imported only once a model is used).
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(error, tf.errors.InvalidArgumentError)


def run(source, target, model=pretrained.DEFAULT_TWO_STAGE, model2=None, out="alignment.png",
        points=None, points_out=None, dpi=100, mixed_precision="auto", max_megapixels=180.0):
    """Aligns the image files `source` to `target`, writes the figure (and points).

    The arguments are the program's (see the module docstring).

    Returns:
        The exit status: 0, or 2 after a one-line message on stderr for an
        input problem (anything else is a bug and keeps its traceback).
    """
    try:
        _align_files(source, target, model, model2, out, points, points_out, dpi,
                     mixed_precision, max_megapixels)
    except Exception as error:
        if not _is_input_error(error):
            raise
        message = getattr(error, "message", None) or str(error)
        message = message.strip().splitlines()[0] if message.strip() else repr(error)
        print(f"error: {message}", file=sys.stderr)
        return USAGE_ERROR
    return 0


def main(argv, flag_values=flags.FLAGS):
    """Runs the program on parsed flags; `argv` is the program name, SOURCE and TARGET."""
    if len(argv) != 3:
        print(
            "error: expected two arguments, the source and the target image. "
            f"Received: {argv[1:]}",
            file=sys.stderr,
        )
        return USAGE_ERROR
    return run(
        argv[1],
        argv[2],
        model=flag_values.model,
        model2=flag_values.model2,
        out=flag_values.out,
        points=flag_values.points,
        points_out=flag_values.points_out,
        dpi=flag_values.dpi,
        mixed_precision=flag_values.mixed_precision,
        max_megapixels=flag_values.max_megapixels,
    )


if __name__ == "__main__":
    define_flags()
    cli_support.run(main)
