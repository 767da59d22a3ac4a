"""trainers/align.py: figure, points, and one-line errors (exit 2)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from keras_geomatch.inference import align
from keras_geomatch.inference import load_geomatch_model
from tests.inference.tiny_models import constant_theta_model
from tests.inference.tiny_models import tiny_model
from tests.trainers.cli import run_program
from tests.trainers.cli import run_program_process
from trainers import align as cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)).save(folder / "b.jpg")
    Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8), mode="L").save(
        folder / "gray.png"
    )
    Image.fromarray(rng.integers(0, 256, (30, 40, 4), dtype=np.uint8), mode="RGBA").save(
        folder / "rgba.png"
    )
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(folder / "dot.png")
    (folder / "notes.txt").write_text("hello\n")
    (folder / "points.csv").write_text("x,y\n# a comment\n1,2\n39 49\n20.5,10\n")
    (folder / "bad_points.csv").write_text("x,y\n1,2\n3\n")
    constant_theta_model("affine", [0.9, 0.0, 0.05, 0.0, 0.9, 0.0]).save(folder / "affine.keras")
    tiny_model("tps", image_size=(96, 96)).save(folder / "tps.keras")
    import keras

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]).save(folder / "other.keras")
    return folder


def _run(capsys, *argv):
    status = run_program(cli, argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_writes_the_figure_and_prints_theta(files, tmp_path, capsys):
    out = tmp_path / "sub" / "result.png"
    status, stdout, stderr = _run(
        capsys, files / "a.png", files / "b.jpg", "--model", files / "affine.keras", "--out", out
    )
    assert status == 0, stderr
    assert "stage 1: affine θ = [0.9" in stdout and f"Wrote {out}" in stdout
    with Image.open(out) as image:
        assert image.format == "PNG"


def test_points_are_transferred_and_written(files, tmp_path, capsys):
    points_out = tmp_path / "moved.csv"
    status, _, stderr = _run(
        capsys,
        files / "a.png",
        files / "b.jpg",
        "--model",
        files / "affine.keras",
        "--model2",
        files / "tps.keras",
        "--out",
        tmp_path / "r.png",
        "--points",
        files / "points.csv",
        "--points_out",
        points_out,
    )
    assert status == 0, stderr
    rows = np.loadtxt(points_out, delimiter=",", skiprows=1)
    np.testing.assert_allclose(rows[:, :2], [[1, 2], [39, 49], [20.5, 10]])
    # The CLI computes under --mixed_precision=auto (bf16 where it is native).
    expected = align(
        load_geomatch_model(files / "affine.keras", mixed_precision="auto"),
        str(files / "a.png"),
        str(files / "b.jpg"),
        model2=load_geomatch_model(files / "tps.keras", mixed_precision="auto"),
    ).map_points(rows[:, :2])
    np.testing.assert_allclose(rows[:, 2:], expected, atol=2e-3)


def test_float32_cli_matches_the_float32_library(files, tmp_path, capsys):
    points_out = tmp_path / "moved.csv"
    status, _, stderr = _run(
        capsys, files / "a.png", files / "b.jpg", "--model", files / "affine.keras",
        "--out", tmp_path / "r.png", "--points", files / "points.csv",
        "--points_out", points_out, "--mixed_precision", "float32",
    )
    assert status == 0, stderr
    rows = np.loadtxt(points_out, delimiter=",", skiprows=1)
    expected = align(
        str(files / "affine.keras"), str(files / "a.png"), str(files / "b.jpg")
    ).map_points(rows[:, :2])
    np.testing.assert_allclose(rows[:, 2:], expected, atol=2e-3)


def test_grayscale_and_rgba_files_work(files, tmp_path, capsys):
    status, _, stderr = _run(
        capsys,
        files / "gray.png",
        files / "rgba.png",
        "--model",
        files / "affine.keras",
        "--out",
        tmp_path / "g.png",
    )
    assert status == 0, stderr


@pytest.mark.parametrize(
    "change, message",
    [
        ({"source": "missing.png"}, "error: source image not found: "),
        ({"target": "notes.txt"}, "error: Cannot read the target image "),
        ({"source": "dot.png"}, "error: Expected the source image to be at least 2×2 pixels"),
        ({"model": "notes.txt"}, "error: Cannot load "),
        ({"model": "other.keras"}, "error: Expected a geomatch model "),
        ({"model": "missing.keras"}, "error: --model not found: "),
        ({"model2": "other.keras"}, "error: Expected a geomatch model "),
        ({"points": "bad_points.csv"}, "error: "),
        ({"points": "missing.csv"}, "error: Points file not found: "),
        ({"out": "result.unknown_format"}, "error: Expected --out with an image extension"),
        ({"out": "result"}, "error: Expected --out with an image extension"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(files, tmp_path, capsys, change, message):
    args = {
        "source": "a.png",
        "target": "b.jpg",
        "model": "affine.keras",
        "model2": None,
        "points": None,
    }
    args.update(change)
    argv = [files / args["source"], files / args["target"], "--model", files / args["model"]]
    argv += ["--out", tmp_path / args.get("out", "r.png")]
    if args["model2"]:
        argv += ["--model2", files / args["model2"]]
    if args["points"]:
        argv += ["--points", files / args["points"]]
    status, _, stderr = _run(capsys, *argv)
    assert status == 2
    assert stderr.startswith(message), stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_bad_points_file_names_the_line(files):
    with pytest.raises(ValueError, match=r"bad_points.csv, line 3: expected two finite numbers"):
        cli.read_points_csv(str(files / "bad_points.csv"))
    assert cli.read_points_csv(str(files / "points.csv")) == [[1, 2], [39, 49], [20.5, 10]]


def test_missing_matplotlib_is_a_clear_error(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, _, stderr = _run(
        capsys,
        files / "a.png",
        files / "b.jpg",
        "--model",
        files / "affine.keras",
        "--out",
        tmp_path / "r.png",
    )
    assert status == 2 and "pip install 'keras-geomatch[plot]'" in stderr


def test_missing_argument_is_a_usage_error(capsys):
    assert run_program(cli, ["a.png"]) == 2
    assert "target" in capsys.readouterr().err


def test_an_unknown_model_name_is_a_one_line_error(files, capsys):
    status = run_program(cli, [files / "a.png", files / "b.jpg", "--model", "affine_vgg61"])
    stderr = capsys.readouterr().err
    assert status == 2 and stderr.count("\n") == 1
    assert "--model not found: affine_vgg61" in stderr and "affine_tps_vgg16" in stderr


def test_as_a_program_a_bad_file_exits_2_without_traceback(files, tmp_path):
    completed = run_program_process(
        "align.py", files / "notes.txt", files / "b.jpg", "--model", files / "affine.keras",
        "--out", tmp_path / "r.png", timeout=120,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("error: Cannot read the source image")
    assert completed.stderr.count("\n") == 1  # no TensorFlow start-up lines either


def test_points_that_map_beyond_float32_are_a_one_line_error(files, tmp_path, capsys):
    points = tmp_path / "huge.csv"
    points.write_text("x,y\n3e38,1\n")
    status = run_program(cli, [files / "a.png", files / "b.jpg", "--model",
                               files / "affine.keras", "--out", tmp_path / "r.png",
                               "--points", points])
    stderr = capsys.readouterr().err
    assert status == 2 and stderr.startswith("error: ") and stderr.count("\n") == 1


def test_images_above_max_megapixels_are_refused_in_one_line(files, tmp_path, capsys):
    # a.png has 60×80 = 0.0048 megapixels.
    status, stdout, stderr = _run(
        capsys, files / "a.png", files / "b.jpg", "--model", files / "affine.keras",
        "--out", tmp_path / "out.png", "--max_megapixels", "0.004",
    )
    assert status == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "max_megapixels" in stderr and "source" in stderr
    assert not (tmp_path / "out.png").exists()
    status, _, stderr = _run(
        capsys, files / "a.png", files / "b.jpg", "--model", files / "affine.keras",
        "--out", tmp_path / "out.png", "--max_megapixels", "0.005",
    )
    assert status == 0, stderr


def test_the_flag_default_is_the_library_default():
    from absl import flags

    from keras_geomatch.inference import images

    flag_values = flags.FlagValues()
    cli.define_flags(flag_values)
    assert flag_values["max_megapixels"].default == images.DEFAULT_MAX_MEGAPIXELS


def test_the_figure_of_a_large_photo_is_drawn_from_small_copies(files, tmp_path):
    from keras_geomatch.inference import figure

    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, (1500, 2600, 3), dtype=np.uint8)
    result = align(load_geomatch_model(str(files / "affine.keras")), big, big[:900, :1300])
    drawn = figure.make_alignment_figure(result, big, big[:900, :1300], [[10.0, 20.0]])
    shapes = [image.get_array().shape for ax in drawn.axes for image in ax.get_images()]
    assert shapes[0] == (692, 1200, 3) and all(s == (831, 1200, 3) for s in shapes[1:])
    # The axes keep the images' own pixel coordinates.
    assert drawn.axes[0].get_images()[0].get_extent() == [-0.5, 2599.5, 1499.5, -0.5]
    assert drawn.axes[1].get_xlim() == (-0.5, 1299.5)
