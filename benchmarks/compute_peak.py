"""This machine's dense compute peak through TensorFlow: matmul and convolution, fp32 and bf16.

The reference the model's throughput is compared with (`inference_throughput`
reports "fraction of peak"): a large square `tf.matmul` (2·N³ FLOPs) and a
VGG-like 3×3 convolution (2·9·Cin·Cout·H·W·batch FLOPs), each in float32 and
bfloat16, each in a `tf.function` with and without XLA. The peak is the best
of these per dtype.

    python benchmarks/compute_peak.py            # smoke run: N=512, small conv
    python benchmarks/compute_peak.py --full     # N=4096, conv 256→256 on 8×60×60
"""

import argparse

import bench_common

import tensorflow as tf  # noqa: E402


def matmul_case(n, dtype, jit_compile):
    a = tf.random.stateless_normal((n, n), seed=(1, 2), dtype="float32")
    b = tf.random.stateless_normal((n, n), seed=(3, 4), dtype="float32")
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    fn = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[:1, :1]), jit_compile=jit_compile)
    return fn, 2.0 * n**3


def conv_case(batch, size, channels, dtype, jit_compile):
    x = tf.cast(tf.random.stateless_normal((batch, size, size, channels), seed=(5, 6)), dtype)
    w = tf.cast(
        tf.random.stateless_normal((3, 3, channels, channels), seed=(7, 8)) * 0.05, dtype
    )
    fn = tf.function(
        lambda: tf.reduce_sum(tf.nn.conv2d(x, w, 1, "SAME")[:1, :1, :1, :1]),
        jit_compile=jit_compile,
    )
    return fn, 2.0 * 9 * channels * channels * size * size * batch


def measure(fn, flops, repeats, warmup):
    durations = bench_common.time_runs(lambda: fn().numpy(), repeats, warmup)
    return flops / bench_common.median(durations) / 1e9, [flops / d / 1e9 for d in durations]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matmul-size", type=int, default=None, help="N of the N×N matmul")
    parser.add_argument("--conv", type=int, nargs=3, default=None, metavar=("BATCH", "SIZE", "CHANNELS"))
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--jit", nargs="+", default=["off", "on"], choices=["off", "on"])
    bench_common.add_common_arguments(parser, repeats=3, warmup=1, full_repeats=5)
    args = parser.parse_args(argv)
    n = args.matmul_size or (4096 if args.full else 512)
    conv = args.conv or ((8, 60, 256) if args.full else (1, 16, 32))
    repeats = bench_common.repeats_of(args)

    print(bench_common.machine_header())
    print(f"matmul {n}x{n}; conv 3x3 batch {conv[0]}, {conv[1]}x{conv[1]}, {conv[2]}->{conv[2]} "
          f"channels; median of {repeats} runs")
    peaks = {}
    for dtype in args.dtypes:
        for jit in args.jit:
            jit_compile = jit == "on"
            for name, (fn, flops) in (
                ("matmul", matmul_case(n, dtype, jit_compile)),
                ("conv3x3", conv_case(*conv, dtype, jit_compile)),
            ):
                rate, rates = measure(fn, flops, repeats, args.warmup)
                peaks[dtype] = max(peaks.get(dtype, 0.0), rate)
                print(f"  {name:8s} {dtype:8s} XLA {jit:3s}: {rate:8.1f} GFLOP/s "
                      f"(runs {bench_common.spread(rates)}; {bench_common.load_note()})")
    for dtype, rate in peaks.items():
        print(f"PEAK {dtype}: {rate:.1f} GFLOP/s")
    return peaks


if __name__ == "__main__":
    main()
