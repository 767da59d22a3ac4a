r"""Publishes trained runs as the package's pretrained models.

After training the shipped models

    python trainers/train.py --flagfile=trainers/configs/pretrained_affine_vgg16.flags
    python trainers/train.py --flagfile=trainers/configs/pretrained_tps_vgg16.flags

this program

1. copies each run's regression head into `keras_geomatch/pretrained/weights/`
   (`affine_vgg16.h5`, `tps_vgg16.h5`) and checks that the model rebuilt
   from the shipped backbone and that head gives the exported model's θ;
2. measures, on the runs' own synthetic validation pairs made from the
   images (not from the feature cache, in float32), the PCK of the identity,
   of each model and of the two-stage affine+TPS model (through `align`);
3. writes `keras_geomatch/pretrained/registry.json` (stages, how each model
   was trained, validation figures) and `tests/pretrained/expected_theta.json`
   (θ of each shipped model on a fixed pair made from a scikit-image
   photograph, which the tests compare against).

    python trainers/publish_pretrained.py
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

if __name__ == "__main__":  # run as a script: trainers/ is sys.path[0]
    import cli_support

    cli_support.defer_package_import()  # TensorFlow starts once the flags are read
else:
    from trainers import cli_support

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_AFFINE = flags.DEFINE_string(
    "affine_workdir", "workdirs/pretrained_affine_vgg16", "Work dir of the affine run.")
_TPS = flags.DEFINE_string("tps_workdir", "workdirs/pretrained_tps_vgg16", "Work dir of the TPS run.")
_VAL_PAIRS = flags.DEFINE_integer(
    "val_pairs", 0, "Validation pairs of each kind to measure (0: all of the run's).")

# The fixed check pair of the tests: scikit-image's astronaut (512×512) as
# the source, the target that photograph warped by this affine θ (target →
# source) with the package's warp.
CHECK_IMAGE = "astronaut"
CHECK_THETA = [0.9, -0.15, 0.1, 0.12, 0.95, -0.08]
EXPECTED_THETA_FILE = os.path.join(REPO, "tests", "pretrained", "expected_theta.json")


def check_pair():
    """`(source, target)` float32 `(512, 512, 3)`: the tests' fixed pair."""
    import numpy as np
    import skimage.data

    from keras_geomatch.inference import warp_images

    source = getattr(skimage.data, CHECK_IMAGE)().astype(np.float32)
    target = warp_images(source[None], [("affine", np.float32(CHECK_THETA))], source.shape[:2])[0]
    return source, np.clip(np.asarray(target, np.float32), 0.0, 255.0)


def _run_summary(workdir):
    from keras_geomatch.training import TrainConfig

    config = TrainConfig.load(os.path.join(workdir, "config.json"))
    with open(os.path.join(workdir, "metrics.json")) as f:
        metrics = json.load(f)
    return config, metrics


def _synthetic_pck(stages_list, dataset, gt_model, limit):
    """PCK@0.05/0.1 of each list of stages on `dataset`, through `align`."""
    import numpy as np

    from keras_geomatch import geometry
    from keras_geomatch.inference import align

    size = 240
    grid = np.asarray(geometry.identity_grid(20, 20)).reshape(-1, 2)
    grid_pixels = np.asarray(geometry.normalized_to_pixel(grid, (size, size)))
    errors = {name: [] for name in stages_list}
    seen = 0
    for inputs, theta_gt in dataset:
        for source, target, theta in zip(inputs["source_image"].numpy(),
                                         inputs["target_image"].numpy(), theta_gt.numpy()):
            if limit and seen >= limit:
                break
            expected = np.asarray(geometry.normalized_to_pixel(
                geometry.map_points(theta[None], grid, gt_model)[0], (size, size)))
            for name, stages in stages_list.items():
                if stages is None:
                    mapped = grid_pixels
                else:
                    mapped = align(stages, source, target).map_points(grid_pixels)
                errors[name].append(np.linalg.norm(mapped - expected, axis=-1))
            seen += 1
    result = {"num_pairs": seen}
    for name, values in errors.items():
        values = np.stack(values)
        for alpha in (0.05, 0.1):
            result[f"{name}_pck@{alpha:g}"] = round(float(np.mean(values <= alpha * size)), 4)
    return result


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    cli_support.start_tensorflow()
    import numpy as np

    from keras_geomatch.inference import load_geomatch_model
    from keras_geomatch.pretrained import pretrained_models as pm
    from keras_geomatch.training import run_datasets

    started = time.time()
    entries, exported = {}, {}
    runs = {"affine": _AFFINE.value, "tps": _TPS.value}
    for kind, workdir in runs.items():
        config, metrics = _run_summary(workdir)
        model = load_geomatch_model(os.path.join(config.export_dir, "model.keras"))
        head = f"{kind}_vgg16.h5"
        pm.save_head_weights(model, os.path.join(pm.WEIGHTS_FOLDER, head))
        exported[kind] = (config, model)
        train_files, val_files = run_datasets.resolve_files(config)
        pck = metrics["synthetic_pck"]
        entries[f"{kind}_vgg16"] = {
            "description": f"{kind} (Rocco et al. 2017) on torchvision's ImageNet VGG-16, "
                           "trained here from the feature cache",
            "stages": [{"geometric_model": kind, "head": head}],
            "backbone": config.backbone,
            "weights": config.weights,
            "image_size": list(config.image_size),
            "training": {
                "images": f"{len(train_files)} photographs of imagenet-sample (one per ImageNet "
                          "class; the 900 of its training split)",
                "validation_images": len(val_files),
                "pairs": config.steps_per_epoch * config.batch_size,
                "validation_pairs": pck["num_pairs"],
                "epochs": config.epochs,
                "best_epoch": metrics.get("best_epoch"),
                "batch_size": config.batch_size,
                "learning_rate": config.learning_rate,
                "lr_schedule": config.lr_schedule,
                "compute": config.mixed_precision,
                "feature_cache_dtype": config.feature_cache_dtype,
                "head_training_seconds": metrics["train_seconds"],
                "flagfile": f"trainers/configs/pretrained_{kind}_vgg16.flags",
            },
            "validation": {"from_feature_cache": {
                k: round(v, 4) for k, v in pck.items() if k.startswith(("pck", "identity"))}},
        }
    entries["affine_tps_vgg16"] = {
        "description": "two stages (Rocco et al. 2017, §4): affine_vgg16, then tps_vgg16 on "
                       "the affine-warped source",
        "stages": entries["affine_vgg16"]["stages"] + entries["tps_vgg16"]["stages"],
        "backbone": "vgg16",
        "weights": "torchvision",
        "image_size": entries["affine_vgg16"]["image_size"],
        "training": {"stages": ["affine_vgg16", "tps_vgg16"]},
        "validation": {},
    }
    with open(pm.REGISTRY_FILE, "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=2)

    # The shipped parts must rebuild the exported models exactly.
    source, target = check_pair()
    expected = {"image": CHECK_IMAGE, "theta_gt": CHECK_THETA}
    for kind, (config, model) in exported.items():
        rebuilt = pm.load_pretrained(f"{kind}_vgg16")
        inputs = {"source_image": source[None, ::2, ::2][:, :240, :240],
                  "target_image": target[None, ::2, ::2][:, :240, :240]}
        a = np.asarray(model(inputs)); b = np.asarray(rebuilt(inputs))
        if not np.allclose(a, b, atol=1e-5):
            sys.exit(f"The rebuilt {kind} model differs from the export: {a} vs {b}")
    stages = {
        "identity": None,
        "affine": pm.load_pretrained("affine_vgg16"),
        "tps": pm.load_pretrained("tps_vgg16"),
        "affine+tps": pm.load_pretrained("affine_tps_vgg16"),
    }
    from keras_geomatch.inference import align

    for name in ("affine_vgg16", "tps_vgg16", "affine_tps_vgg16"):
        result = align(stages[{"affine_vgg16": "affine", "tps_vgg16": "tps",
                               "affine_tps_vgg16": "affine+tps"}[name]], source, target)
        expected[name] = [[float(v) for v in theta] for _, theta in result.stages]
    os.makedirs(os.path.dirname(EXPECTED_THETA_FILE), exist_ok=True)
    with open(EXPECTED_THETA_FILE, "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=2)

    # Validation figures through the product's own align, float32, from images.
    for kind, (config, _) in exported.items():
        _, val_files = run_datasets.resolve_files(config)
        dataset = run_datasets.validation_dataset(config, val_files)
        figures = _synthetic_pck(stages, dataset, kind, _VAL_PAIRS.value)
        print(f"{kind} validation pairs: {figures}", flush=True)
        for name in entries:
            entries[name]["validation"][f"{kind}_pairs"] = figures
    with open(pm.REGISTRY_FILE, "w", encoding="utf-8") as f:
        json.dump(entries, f, indent=2)
    print(f"Published {sorted(entries)} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    cli_support.run(main)
