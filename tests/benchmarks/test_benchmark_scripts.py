"""Smoke tests of the benchmark scripts: each runs with its tiniest settings and prints a figure.

They check that the scripts still run against the current package (so they
do not rot), not any speed: speed is measured by running the scripts
themselves (see benchmarks/RESULTS.md), never by tests.
"""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "benchmarks")
NUMBER = r"[0-9]+(?:\.[0-9]+)?"


def run_script(name, *args, timeout=240):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, name), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=BENCHMARKS,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "CPU: " in completed.stdout and "TensorFlow " in completed.stdout
    return completed.stdout


def import_benchmark(name):
    """Imports benchmarks/<name>.py in this process (its folder goes on sys.path)."""
    if BENCHMARKS not in sys.path:
        sys.path.insert(0, BENCHMARKS)
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", os.path.join(BENCHMARKS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compute_peak_prints_gflops():
    out = run_script("compute_peak.py", "--matmul-size", "64", "--conv", "1", "8", "8",
                     "--jit", "off", "--repeats", "1")
    for dtype in ("float32", "bfloat16"):
        match = re.search(rf"PEAK {dtype}: ({NUMBER}) GFLOP/s", out)
        assert match and float(match.group(1)) > 0, out


def test_flops_counts_small_model_and_profiler_agrees():
    out = run_script("flops.py")
    analytic = float(re.search(rf"ANALYTIC affine: ({NUMBER}) GFLOP per pair", out).group(1))
    profiler = float(re.search(rf"PROFILER affine: ({NUMBER}) GFLOP per pair", out).group(1))
    assert analytic > 0
    # The profiler has no statistics for the correlation's einsum (small).
    assert abs(profiler - analytic) / analytic < 0.02, out


def test_flops_vgg16_pool4_per_pair_is_about_64_gflop():
    flops = import_benchmark("flops")
    result = flops.count_geomatch_flops("vgg16", (240, 240), "affine")
    assert 63.0e9 < result["total"] < 64.5e9
    assert result["backbone_per_pair"] == 2 * result["backbone_per_image"]


def test_inference_throughput_prints_pairs_per_second():
    out = run_script("inference_throughput.py", "--repeats", "1", "--warmup", "1")
    assert re.search(rf"part=theta batch=1 policy=float32 xla=off: +{NUMBER} pairs/s", out), out


def test_inference_throughput_alternates_models_with_the_peak():
    out = run_script("inference_throughput.py", "--repeats", "2", "--warmup", "1",
                     "--models", "affine", "tps", "--peak-here", "64")
    for model in ("affine", "tps"):
        match = re.search(rf"RESULT-ALTERNATING .*model={model}, .* ({NUMBER}) pairs/s, "
                          rf"({NUMBER})% of the float32 matmul peak measured alternately "
                          rf".*matmul ({NUMBER}) GFLOP/s", out)
        assert match and all(float(g) > 0 for g in match.groups()), out


def test_training_step_prints_steps_per_second():
    out = run_script("training_step.py", "--jit", "off", "--steps", "1", "--warmup", "1")
    assert re.search(rf"xla=off: +{NUMBER} steps/s", out), out


def test_pipeline_throughput_uses_the_quickstart_settings_and_jpeg_size():
    out = run_script("pipeline_throughput.py", "--setting", "quickstart", "--source", "voc-like",
                     "--jpeg-size", "300x200", "--num-images", "2", "--batch-size", "2",
                     "--warmup-batches", "1", "--windows", "1", "--window-batches", "1")
    quick = import_benchmark("bench_models").quickstart_settings()[0]
    height, width = quick["image_size"]
    resize_height, resize_width = quick["resize_size"]
    assert "voc-like 300x200 JPEGs" in out, out
    assert f"pairs of {height}x{width} from {resize_height}x{resize_width}" in out, out
    assert f"augmentation {'on' if quick['augment'] else 'off'}" in out, out
    rate = re.search(rf"{quick['geometric_model']}: median +({NUMBER}) pairs/s", out)
    assert rate and float(rate.group(1)) > 0, out


def test_pipeline_vs_cached_prints_ratio():
    out = run_script("pipeline_vs_cached.py", "--steps", "1", "--warmup", "1",
                     "--pipeline-batches", "1")
    assert re.search(rf"ratio {NUMBER}", out), out


def test_evaluation_cache_prints_times_and_same_pck():
    out = run_script("evaluation_cache.py", "--categories", "1", "--images-per-category", "3")
    assert re.search(rf"feature_cache=on: +{NUMBER} s", out), out
    assert re.search(rf"feature_cache=off: +{NUMBER} s", out), out
    assert "same θ: True" in out and "same PCK: True" in out, out


def test_mixed_precision_accuracy_prints_differences():
    out = run_script("mixed_precision_accuracy.py", "--pairs-per-category", "1")
    assert re.search(rf"mixed_bfloat16 +: max\|Δθ\| {NUMBER}", out), out


def test_an_explicit_repeats_wins_over_the_full_default():
    bench_common = import_benchmark("bench_common")
    import argparse

    parser = argparse.ArgumentParser()
    bench_common.add_common_arguments(parser, repeats=2, full_repeats=5)
    assert bench_common.repeats_of(parser.parse_args([])) == 2
    assert bench_common.repeats_of(parser.parse_args(["--full"])) == 5
    assert bench_common.repeats_of(parser.parse_args(["--full", "--repeats", "1"])) == 1
    plain = argparse.ArgumentParser()
    bench_common.add_common_arguments(plain, repeats=3)
    assert bench_common.repeats_of(plain.parse_args(["--full"])) == 3


def test_feature_cache_prints_build_rate_disk_and_both_epochs():
    out = run_script("feature_cache.py", "--pairs", "4")
    assert re.search(rf"build: {NUMBER} pairs/s .* {NUMBER} KiB per pair on disk \(float16\)",
                     out), out
    match = re.search(rf"from the cache {NUMBER} s .* on the fly {NUMBER} s", out)
    assert match, out
