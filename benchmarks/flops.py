"""FLOPs of the geometric matching model, counted from the layer shapes, and TF's own count.

Analytic count (`count_geomatch_flops`): multiply-adds count 2 FLOPs.

* convolution: `2·kh·kw·Cin·Cout·H_out·W_out` (per image);
* dense: `2·in·out`;
* correlation: `2·(h·w)²·d` (every position of B against every one of A);
* elementwise work (bias, ReLU, BatchNorm, pooling, L2 norms, grid, sampler)
  is listed separately as "elementwise": it is memory-bound, not part of the
  matmul-class work that the compute peak measures, and about 0.1% of it.

For VGG-16 pool4 at 240×240 the backbone is ≈ 31.8 GFLOP per image, so a
pair (two images) is ≈ 63.7 GFLOP + a head of ≈ 0.15 GFLOP.

Cross-check (`profiler_flops`): the model's graph (batch 1, variables frozen
to constants) through `tf.compat.v1.profiler`'s float_operation counter,
which knows Conv2D and MatMul shapes (it has no statistics for some ops, e.g.
the batched matmul of the correlation einsum; those are listed).

    python benchmarks/flops.py                           # small backbone, 88x88
    python benchmarks/flops.py --full                    # VGG-16 pool4, 240x240, affine and TPS
"""

import argparse
import collections

import bench_common

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_geomatch import layers as gm_layers  # noqa: E402
from keras_geomatch.models import build_geomatch_model  # noqa: E402
from keras_geomatch.models import build_backbone  # noqa: E402


def _conv_flops(layer, output_shape):
    kh, kw, cin_per_group, cout = layer.kernel.shape
    height, width = output_shape[1], output_shape[2]
    return 2 * kh * kw * cin_per_group * cout * height * width


def _elementwise(shape):
    count = 1
    for s in shape[1:]:
        count *= s
    return count


def count_layer_model_flops(model):
    """Per-example FLOPs of a functional model whose layers each run once.

    Returns:
        `collections.OrderedDict` name → (kind, flops), kind 'matmul' or
        'elementwise' (one FLOP per output element: a lower bound, for scale).
    """
    counts = collections.OrderedDict()
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        output_shape = tuple(layer.output.shape)
        if isinstance(layer, keras.layers.Conv2D):
            counts[layer.name] = ("matmul", _conv_flops(layer, output_shape))
            counts[layer.name + "/bias+act"] = ("elementwise", 2 * _elementwise(output_shape))
        elif isinstance(layer, keras.layers.Dense):
            counts[layer.name] = ("matmul", 2 * layer.kernel.shape[0] * layer.kernel.shape[1])
        else:
            counts[layer.name] = ("elementwise", _elementwise(output_shape))
    return counts


def count_head_flops(feature_shape, num_params, output_size):
    """Per-pair FLOPs of everything after the backbone.

    Args:
        feature_shape: `(h, w, d)` of one image's features.
        num_params: P of θ.
        output_size: `(H, W)` of the warped image (grid and sampler).
    """
    h, w, d = feature_shape
    positions = h * w
    regression = gm_layers.FeatureRegression(num_params)
    corr_shape = (1, h, w, positions)
    regression.build(corr_shape)
    shape1 = regression.conv1.compute_output_shape(corr_shape)
    shape2 = regression.conv2.compute_output_shape(shape1)
    out_h, out_w = output_size
    counts = collections.OrderedDict()
    counts["feature_l2_norm (A and B)"] = ("elementwise", 2 * 3 * positions * d)
    counts["feature_correlation"] = ("matmul", 2 * positions * positions * d)
    counts["match_relu + match_l2_norm"] = ("elementwise", 4 * positions * positions)
    counts["regression conv1"] = ("matmul", _conv_flops(regression.conv1, shape1))
    counts["regression conv2"] = ("matmul", _conv_flops(regression.conv2, shape2))
    counts["regression bn/relu"] = ("elementwise", 3 * (_elementwise(shape1) + _elementwise(shape2)))
    counts["regression linear"] = ("matmul", 2 * _elementwise(shape2) * num_params)
    # Grid: an affine map is 4 FLOPs a point; a TPS about 9 kernels × 8.
    grid_per_point = 80 if num_params == 18 else 8
    counts["grid generation"] = ("elementwise", grid_per_point * out_h * out_w)
    counts["bilinear sampler (3 channels)"] = ("elementwise", (4 * 2 * 3 + 20) * out_h * out_w)
    return counts


def count_geomatch_flops(backbone, image_size, geometric_model, weights=None):
    """Analytic per-pair FLOPs of the geomatch model (two images + head).

    Returns:
        A dict: `backbone_per_image`, `backbone_per_pair`, `head`,
        `total` (per pair, matmul-class work only), `elementwise`
        (per pair), and `detail` (the per-layer tables).
    """
    num_params = {"affine": 6, "hom": 8, "hom_matrix": 9, "tps": 18}[geometric_model]
    features = build_backbone(backbone, image_size, weights)
    backbone_counts = count_layer_model_flops(features)
    feature_shape = tuple(features.output.shape[1:])
    head_counts = count_head_flops(feature_shape, num_params, image_size)
    per_image = sum(f for kind, f in backbone_counts.values() if kind == "matmul")
    head = sum(f for kind, f in head_counts.values() if kind == "matmul")
    elementwise = 2 * sum(f for kind, f in backbone_counts.values() if kind == "elementwise")
    elementwise += sum(f for kind, f in head_counts.values() if kind == "elementwise")
    return {
        "backbone_per_image": per_image,
        "backbone_per_pair": 2 * per_image,
        "head": head,
        "total": 2 * per_image + head,
        "elementwise": elementwise,
        "detail": {"backbone (per image)": backbone_counts, "head (per pair)": head_counts},
    }


def profiler_flops(model, batch_size=1):
    """TF profiler's float-op count of `model` on one batch of pairs.

    Returns:
        `(total_float_ops, {op_type: flops})` for the batch.
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    specs = {
        name: tf.TensorSpec((batch_size, *tensor.shape[1:]), tf.float32)
        for name, tensor in model.input.items()
    }
    concrete = tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(specs)
    frozen = convert_variables_to_constants_v2(concrete)
    options = (
        tf.compat.v1.profiler.ProfileOptionBuilder(
            tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        )
        .with_empty_output()
        .build()
    )
    profile = tf.compat.v1.profiler.profile(
        graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    per_op = {child.name: child.total_float_ops for child in profile.children}
    op_types = collections.Counter(op.type for op in frozen.graph.get_operations())
    return profile.total_float_ops, per_op, op_types


def format_counts(result):
    lines = []
    for section, counts in result["detail"].items():
        lines.append(f"  {section}:")
        for name, (kind, flops) in counts.items():
            if kind == "matmul" or flops > 1e6:
                lines.append(f"    {name:34s} {kind:11s} {flops / 1e9:10.4f} GFLOP")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default=None, help="default: small (smoke) / vgg16 (--full)")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--no-profiler", action="store_true", help="skip the TF profiler cross-check")
    parser.add_argument("--full", action="store_true", help="VGG-16 pool4, 240x240, affine and TPS")
    args = parser.parse_args(argv)
    backbone = args.backbone or ("vgg16" if args.full else "small")
    size = args.image_size or (240 if args.full else 88)
    models = args.models or (["affine", "tps"] if args.full else ["affine"])

    print(bench_common.machine_header())
    results = {}
    for geometric_model in models:
        result = count_geomatch_flops(backbone, (size, size), geometric_model)
        results[geometric_model] = result
        print(f"{geometric_model}, {backbone}, {size}x{size}:")
        print(format_counts(result))
        print(f"  backbone per image {result['backbone_per_image'] / 1e9:.3f} GFLOP, "
              f"head {result['head'] / 1e9:.4f} GFLOP")
        print(f"ANALYTIC {geometric_model}: {result['total'] / 1e9:.3f} GFLOP per pair "
              f"(+ {result['elementwise'] / 1e9:.3f} G elementwise ops)")
        if not args.no_profiler:
            model = build_geomatch_model(geometric_model, backbone, weights=None,
                                         image_size=(size, size))
            total, per_op, op_types = profiler_flops(model)
            print(f"PROFILER {geometric_model}: {total / 1e9:.3f} GFLOP per pair; by op: "
                  + ", ".join(f"{k} {v / 1e9:.3f}" for k, v in sorted(per_op.items()) if v))
            uncounted = sorted(t for t in op_types if t in ("BatchMatMulV2", "Einsum", "BatchMatMulV3"))
            if uncounted:
                print(f"  (graph ops without profiler statistics among the matmul class: {uncounted})")
            keras.backend.clear_session()
    return results


if __name__ == "__main__":
    main()
