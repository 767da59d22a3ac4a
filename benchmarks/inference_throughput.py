"""Inference throughput (pairs/s) and latency of the geomatch model, and where the time goes.

For each setting (full-size: VGG-16 pool4 at 240×240; quickstart: see
`bench_models`), geometric model, batch size, dtype policy and XLA choice it
times, in inference mode, with random weights and random images:

* `theta`: the model, images → θ (what the evaluation and the exported θ
  signature run);
* with `--parts`: `backbone` (both images through the backbone), `head`
  (everything after it: L2 norms, correlation, regression, grid, sampling,
  from precomputed features), its two halves `head:theta` (features → θ)
  and `head:warp` (θ → grid → sampled source), and `theta+warp` (θ and the
  warped source).

Each line gives the median over `--repeats` calls after `--warmup` calls:
pairs/s, latency per batch, and (with `--peak`) the fraction of the compute
peak: counted FLOPs per pair (`flops.py`) × pairs/s ÷ peak GFLOP/s.

With `--peak-here N` the peak is measured in the same rounds instead: all the
geometric models of a setting are built, and each round times, for each
model in turn, one N×N matmul in the policy's compute dtype (XLA off, as
`compute_peak.py` times it) and then one call of the model (θ only). The
fraction is the median over rounds of (model GFLOP/s ÷ the matmul GFLOP/s
just before it). On a machine whose speed drifts (a VM), a peak measured
minutes earlier, or models timed one after the other, can differ by more
than the few per cent being measured.

    python benchmarks/inference_throughput.py                 # smoke: quickstart, tiny
    python benchmarks/inference_throughput.py --full          # the README figures
    python benchmarks/inference_throughput.py --setting full-size --batch-sizes 16 \
        --policies float32 mixed_bfloat16 --jit off on --parts --peak 208 394
    python benchmarks/inference_throughput.py --full --setting full-size --batch-sizes 16 1 \
        --policies float32 --peak-here 4096
"""

import argparse
import time

import bench_common

import keras  # noqa: E402

import bench_models  # noqa: E402
import compute_peak  # noqa: E402
import flops as flops_module  # noqa: E402


def prepare(setting, geometric_model, batch_size, jit, image_size=None, backbone=None,
            warp_jit=None, count_flops=False):
    """The model's timed functions and inputs, under the current dtype policy.

    Returns:
        `(functions, (source, target), info, pair_flops)`: `forward_parts`
        of the model, random pairs, `build_model`'s info, and the counted
        FLOPs per pair (None unless `count_flops`).
    """
    keras.utils.set_random_seed(0)
    model, info = bench_models.build_model(
        setting, geometric_model, image_size=image_size, backbone=backbone
    )
    functions = bench_models.forward_parts(model, geometric_model, jit_compile=(jit == "on"),
                                           warp_jit_compile=((warp_jit or jit) == "on"))
    pairs = bench_models.random_pairs(batch_size, info["image_size"])
    pair_flops = None
    if count_flops:
        pair_flops = flops_module.count_geomatch_flops(
            info["backbone"], info["image_size"], geometric_model)["total"]
    return functions, pairs, info, pair_flops


def measure_alternating(setting, geometric_models, batch_size, policy, jit, args,
                        image_size=None, backbone=None):
    """`--peak-here`: the models and the matmul peak timed in alternation.

    Returns:
        `{geometric_model: (fractions, pairs/s per round)}`.
    """
    previous = bench_common.set_policy(policy)
    try:
        calls, pair_flops, descriptions = {}, {}, {}
        for geometric_model in geometric_models:
            functions, pairs, info, pair_flops[geometric_model] = prepare(
                setting, geometric_model, batch_size, jit, image_size, backbone, count_flops=True)
            calls[geometric_model] = (
                lambda fn=functions["theta"], p=pairs: bench_models.block(fn(*p)))
            descriptions[geometric_model] = info["description"]
        # The matmul runs in the policy's compute dtype (bfloat16 for mixed_bfloat16).
        compute_dtype = keras.DTypePolicy(policy).compute_dtype
        matmul, matmul_flops = compute_peak.matmul_case(args.peak_here, compute_dtype,
                                                        jit_compile=False)
        for _ in range(max(1, args.warmup)):
            matmul().numpy()
            for call in calls.values():
                call()
        bench_common.mark_cpu()
        rounds = {name: ([], [], []) for name in calls}
        for _ in range(args.repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                matmul().numpy()
                peak = matmul_flops / (time.perf_counter() - start) / 1e9
                start = time.perf_counter()
                call()
                rate = batch_size / (time.perf_counter() - start)
                fractions, rates, peaks = rounds[name]
                fractions.append(pair_flops[name] * rate / 1e9 / peak)
                rates.append(rate)
                peaks.append(peak)
        for name, (fractions, rates, peaks) in rounds.items():
            print(f"RESULT-ALTERNATING setting={setting} model={descriptions[name]} part=theta "
                  f"batch={batch_size} policy={policy} xla={jit}: "
                  f"{bench_common.median(rates):8.3f} pairs/s, "
                  f"{100 * bench_common.median(fractions):.1f}% of the {compute_dtype} "
                  f"matmul peak measured alternately (rounds "
                  f"{bench_common.spread([100 * f for f in fractions])}%; matmul "
                  f"{bench_common.median(peaks):.1f} GFLOP/s, rounds {bench_common.spread(peaks)}; "
                  f"{bench_common.load_note()})", flush=True)
        return {name: (fractions, rates) for name, (fractions, rates, _) in rounds.items()}
    finally:
        keras.backend.clear_session()
        bench_common.set_policy(previous)


def measure_setting(setting, geometric_model, batch_size, policy, jit, parts, args,
                    image_size=None, backbone=None, peak=None, warp_jit=None):
    """Times one configuration; prints and returns {part: (pairs/s, latency s)}."""
    previous = bench_common.set_policy(policy)
    try:
        functions, (source, target), info, pair_flops = prepare(
            setting, geometric_model, batch_size, jit, image_size, backbone, warp_jit,
            count_flops=bool(peak))
        description = info["description"]
        warp_jit = warp_jit or jit
        results = {}
        for part in parts:
            fn = functions[part]
            durations = bench_common.time_runs(
                lambda: bench_models.block(fn(source, target)), args.repeats, max(1, args.warmup)
            )
            latency = bench_common.median(durations)
            rate = batch_size / latency
            results[part] = (rate, latency)
            line = (f"RESULT setting={setting} model={description} part={part} batch={batch_size} "
                    f"policy={policy} xla={jit}{'' if warp_jit == jit else f' warp_xla={warp_jit}'}: "
                    f"{rate:8.3f} pairs/s, latency {latency * 1000:9.1f} ms "
                    f"(runs {bench_common.spread([d * 1000 for d in durations])} ms")
            if pair_flops and part in ("theta", "theta+warp"):
                achieved = pair_flops * rate / 1e9
                reference = peak.get(policy)
                line += f"; {achieved:.1f} GFLOP/s"
                if reference:
                    line += f" = {100 * achieved / reference:.1f}% of peak {reference:g}"
            print(line + f"; {bench_common.load_note()})", flush=True)
        if "head" in results and ("theta+warp" in results or "theta" in results):
            whole = results.get("theta+warp", results.get("theta"))[1]
            print(f"  head / full forward = {100 * results['head'][1] / whole:.2f}%"
                  + (f"; backbone / full forward = {100 * results['backbone'][1] / whole:.1f}%"
                     if "backbone" in results else ""), flush=True)
        return results
    finally:
        keras.backend.clear_session()
        bench_common.set_policy(previous)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", nargs="+", choices=["full-size", "quickstart"], default=None)
    parser.add_argument("--models", nargs="+", default=None, help="geometric models")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--policies", nargs="+", default=None,
                        help="Keras dtype policies, e.g. float32 mixed_bfloat16")
    parser.add_argument("--jit", nargs="+", choices=["off", "on"], default=None)
    parser.add_argument("--warp-jit", choices=["off", "on"], default=None,
                        help="XLA for the warp (grid + sampler) alone; default: as --jit")
    parser.add_argument("--parts", action="store_true",
                        help="also time backbone, head and theta+warp separately")
    parser.add_argument("--image-size", type=int, default=None, help="override the setting's size")
    parser.add_argument("--backbone", default=None, help="override the setting's backbone")
    parser.add_argument("--peak", type=float, nargs=2, metavar=("FP32", "BF16"), default=None,
                        help="GFLOP/s peaks (from compute_peak.py) for the fraction-of-peak column")
    parser.add_argument("--peak-here", type=int, default=None, metavar="N",
                        help="time the models (theta only) in alternation with an NxN matmul "
                        "(see the docstring)")
    parser.add_argument("--intra-op-threads", type=int, default=None,
                        help="tf.config.threading intra-op threads (default: TensorFlow's)")
    parser.add_argument("--inter-op-threads", type=int, default=None,
                        help="tf.config.threading inter-op threads (default: TensorFlow's)")
    bench_common.add_common_arguments(parser, repeats=2, warmup=1, full_repeats=5)
    args = parser.parse_args(argv)
    import tensorflow as tf

    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    if args.full:
        settings = args.setting or ["full-size", "quickstart"]
        models = args.models or ["affine", "tps"]
        batch_sizes = args.batch_sizes or [1, 16]
        policies = args.policies or ["float32", "mixed_bfloat16"]
        jits = args.jit or ["off"]
    else:
        settings = args.setting or ["quickstart"]
        models = args.models or ["affine"]
        batch_sizes = args.batch_sizes or [1]
        policies = args.policies or ["float32"]
        jits = args.jit or ["off"]
    repeats = args.repeats = bench_common.repeats_of(args)
    size = (args.image_size, args.image_size) if args.image_size else (None if args.full else (88, 88))
    peak = None
    if args.peak:
        peak = {"float32": args.peak[0], "mixed_bfloat16": args.peak[1]}

    print(bench_common.machine_header())
    print(f"median of {repeats} calls after {max(1, args.warmup)} warm-up; random weights and images; "
          f"threads intra-op {args.intra_op_threads or 'default'}, inter-op "
          f"{args.inter_op_threads or 'default'}")
    parts = (["backbone", "head", "head:theta", "head:warp", "theta", "theta+warp"]
             if args.parts else ["theta"])
    results = {}
    if args.peak_here:
        for setting in settings:
            for batch_size in batch_sizes:
                for policy in policies:
                    for jit in jits:
                        results[(setting, batch_size, policy, jit)] = measure_alternating(
                            setting, models, batch_size, policy, jit, args,
                            image_size=size, backbone=args.backbone)
        return results
    for setting in settings:
        for geometric_model in models:
            for batch_size in batch_sizes:
                for policy in policies:
                    for jit in jits:
                        key = (setting, geometric_model, batch_size, policy, jit)
                        results[key] = measure_setting(
                            setting, geometric_model, batch_size, policy, jit, parts, args,
                            image_size=size, backbone=args.backbone, peak=peak,
                            warp_jit=args.warp_jit,
                        )
    return results


if __name__ == "__main__":
    main()
