r"""Trains the geometric matching CNN on synthetic pairs (Rocco et al. 2017).

Quick start (an affine head on the shipped VGG-16, from the feature cache, on the
built-in sample photographs; about 2 minutes on a 2-core CPU):

    python trainers/train.py --flagfile=trainers/configs/quickstart.flags

The paper's setups, on a folder of images such as Pascal VOC 2011:

    python trainers/train.py --flagfile=trainers/configs/affine_vgg16.flags \
        --train_dir=VOC2011/train_images --val_dir=VOC2011/val_images

Every flag is a field of `keras_geomatch.training.TrainConfig` (same name,
same meaning); later flags override a flagfile's. The run writes its resolved
config, backups, best checkpoint, TensorBoard logs and metrics.json to
--workdir (default workdirs/MODEL_NAME) and exports to --export_dir (default
saved_models/MODEL_NAME: model.keras, serving/1/, config.json).

A killed run resumes from its last backup when the same command is run again.

Distributed: --strategy=mirrored (all GPUs of this machine, else all logical
CPUs) or --strategy=multi_worker (one process per worker, the cluster in the
TF_CONFIG environment variable; the chief writes the files).
"""

import dataclasses
import logging
import sys

from absl import app
from absl import flags

from keras_geomatch import geometry
from keras_geomatch import models

# Flags that take comma-separated lists, and the type of their items.
_LIST_ITEM_TYPES = {
    "image_size": int,
    "resize_size": int,
    "affine_scale_range": float,
    "lr_step_epochs": int,
}


def define_flags(flag_values=flags.FLAGS):
    """Defines the training flags on `flag_values`; returns their names.

    One flag per `TrainConfig` field, with the config's default.
    """
    from keras_geomatch.training import train_config as tc

    defaults = tc.TrainConfig()
    names = []

    def define(kind, name, help_text, **kwargs):
        default = getattr(defaults, name)
        if isinstance(default, tuple):
            default = [str(v) for v in default]
        getattr(flags, f"DEFINE_{kind}")(
            name=name, default=default, help=help_text, flag_values=flag_values, **kwargs
        )
        names.append(name)

    # === Model ===
    define("enum", "geometric_model", "Geometric model of θ.",
           enum_values=sorted(geometry.GEOMETRIC_MODELS))
    define("enum", "backbone", "Feature extraction CNN ('small': this project's CPU backbone).",
           enum_values=sorted(models.BACKBONES))
    define("string", "weights",
           "Backbone weights: 'imagenet' (downloaded by Keras), 'torchvision' (vgg16: "
           "torchvision's ImageNet weights, shipped with the package), 'none' (random) or "
           "the path of a local HDF5 weights file.")
    define("list", "image_size", "Network input size: height,width.")
    define("bool", "train_backbone", "Train the backbone too (the paper keeps it frozen).")
    define("enum", "preprocessing", "Input normalisation; 'auto': the backbone's default.",
           enum_values=list(tc.PREPROCESSING_MODES))
    # === Data ===
    define("bool", "builtin_samples",
           "Train and validate on the photographs shipped with scikit-image (no download).")
    define("string", "train_dir", "Folder of training images (searched recursively).")
    define("string", "train_list", "List file of training images (.txt or .csv).")
    define("string", "val_dir", "Folder of validation images.")
    define("string", "val_list", "List file of validation images.")
    define("list", "resize_size", "Images are resized to height,width before cutting pairs.")
    define("float", "padding_factor", "Mirror padding on each side, a fraction of the size.")
    define("float", "crop_factor", "Fraction of the resized image the source covers.")
    define("float", "affine_max_rotation", "Affine θgt: max rotation α, radians.")
    define("float", "affine_max_shear_angle", "Affine θgt: max angle φ of the scaling axes, radians.")
    define("list", "affine_scale_range", "Affine θgt: range of the scales λ1, λ2: low,high.")
    define("float", "affine_max_translation", "Affine θgt: max translation (normalised units).")
    define("float", "tps_max_offset", "TPS θgt: max offset of each control point value.")
    define("float", "hom_max_offset", "Homography θgt: max offset of each corner value (< 0.5).")
    define("string", "feature_cache",
           "Folder of stored correlation maps: with a frozen backbone, the first epoch's "
           "pairs and the validation pairs go through the backbone once and every epoch "
           "trains the head on them ('': pairs made on the fly). Resumable; refused if "
           "built for other settings.")
    define("enum", "feature_cache_dtype", "Storage of the cached correlation maps.",
           enum_values=list(tc.FEATURE_CACHE_DTYPES))
    define("bool", "augment",
           "Randomly zoom, flip and recolour training images before cutting pairs "
           "(not in the paper; for small image sets).")
    # === Optimisation ===
    define("integer", "batch_size", "Global batch size.")
    define("integer", "epochs", "Number of epochs.")
    define("integer", "steps_per_epoch", "Steps per epoch; 0: number of training images // batch.")
    define("integer", "validation_steps",
           "Validation batches per epoch; 0: ceil(number of validation images / batch).")
    define("float", "learning_rate", "Adam's (initial) learning rate.")
    define("enum", "lr_schedule", "Learning-rate schedule.", enum_values=list(tc.LR_SCHEDULES))
    define("float", "lr_decay_rate",
           "Decay factor for lr_schedule=step (default 0.1) or exponential (per epoch, 0.9).")
    define("list", "lr_step_epochs", "For lr_schedule=step: epochs at which the rate drops.")
    define("float", "lr_min_ratio", "For lr_schedule=cosine: final rate / initial rate (0).")
    define("integer", "loss_grid_size", "Points per side of the loss grid.")
    define("integer", "seed", "Seed of the initial weights and of the training pairs.")
    # === System ===
    define("enum", "jit_compile",
           "XLA: 'auto' lets Keras decide (on with an accelerator and no tf.distribute).",
           enum_values=list(tc.JIT_COMPILE_MODES))
    define("enum", "strategy", "tf.distribute strategy.", enum_values=list(tc.STRATEGIES))
    define("enum", "mixed_precision",
           "Keras dtype policy; 'auto': mixed_bfloat16 where bf16 is native (TPU, GPU with "
           "compute capability >= 8.0, CPU with AMX-BF16 or AVX512-BF16), else float32.",
           enum_values=list(tc.MIXED_PRECISION_POLICIES))
    define("integer", "backup_every_steps",
           "Back up the training state every N steps (and at each epoch end); 0: epoch ends.")
    define("integer", "verbose", "0: silent, 1: progress bar, 2: one line per epoch.")
    # === Output ===
    define("string", "model_name", "Name of the model; '': GEOMETRIC_MODEL_BACKBONE.")
    define("string", "workdir", "Work directory; '': workdirs/MODEL_NAME.")
    define("string", "export_dir", "Export directory; '': saved_models/MODEL_NAME.")
    define("bool", "export_at_end", "Export the trained model at the end.")
    return names


def config_from_flags(flag_values=flags.FLAGS):
    """The `TrainConfig` of parsed flags, validated.

    Raises:
        ValueError: a list flag with a bad item, or what
            `TrainConfig.validate` rejects.
    """
    from keras_geomatch.training import TrainConfig

    values = {}
    for field in dataclasses.fields(TrainConfig):
        value = flag_values[field.name].value
        if field.name in _LIST_ITEM_TYPES:
            item_type = _LIST_ITEM_TYPES[field.name]
            try:
                value = tuple(item_type(v) for v in value)
            except ValueError:
                raise ValueError(
                    f"Expected --{field.name} as comma-separated {item_type.__name__} values. "
                    f"Received: --{field.name}={','.join(value)}"
                ) from None
        values[field.name] = value
    return TrainConfig(**values).validate()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments: {argv[1:]}")
    try:
        config = config_from_flags(flags.FLAGS)
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"train.py: error: {error}")
    logging.getLogger("keras_geomatch").setLevel(logging.INFO)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # SavedModel chatter

    from keras_geomatch import training

    try:
        result = training.train(config)
    except (ValueError, FileNotFoundError) as error:  # bad settings or files: no traceback
        sys.exit(f"train.py: error: {error}")
    print(f"Done: workdir {result['config'].workdir}, export {result['export_dir']}", flush=True)


if __name__ == "__main__":
    import absl_help

    define_flags()
    absl_help.run(main)
