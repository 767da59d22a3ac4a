r"""Trains the geometric matching CNN on synthetic pairs (Rocco et al. 2017).

Quick start (an affine head on the shipped VGG-16, from the feature cache, on the
built-in sample photographs):

    python trainers/train.py --flagfile=trainers/configs/quickstart.flags

The paper's setups, on a folder of images such as Pascal VOC 2011:

    python trainers/train.py --flagfile=trainers/configs/affine_vgg16.flags \
        --train_dir=VOC2011/train_images --val_dir=VOC2011/val_images

Every flag is a setting of `keras_geomatch.training.TrainConfig` (same name,
same meaning, the fields of its `pairs` included); later flags override a
flagfile's. The run writes its resolved
config, backups, best checkpoint, TensorBoard logs and metrics.json to
--workdir (default workdirs/MODEL_NAME) and exports to --export_dir (default
saved_models/MODEL_NAME: model.keras, serving/1/, config.json).

A killed run resumes from its last backup when the same command is run again.

Distributed: --strategy=mirrored (all GPUs of this machine, else all logical
CPUs) or --strategy=multi_worker (one process per worker, the cluster in the
TF_CONFIG environment variable; the chief writes the files).
"""

import logging
import sys

from absl import app
from absl import flags

if __name__ == "__main__":  # run as a script: trainers/ is sys.path[0]
    import cli_support

    cli_support.defer_package_import()  # TensorFlow starts once the flags are read
else:
    from trainers import cli_support


def define_flags(flag_values=flags.FLAGS):
    """Defines the training flags on `flag_values`; returns their names.

    One flag per `TrainConfig` setting, with its default and help
    (`keras_geomatch.config_flags`).
    """
    from keras_geomatch import config_flags
    from keras_geomatch.training.train_config import TrainConfig

    return config_flags.define_flags(TrainConfig, flag_values, module_name=__name__)


def config_from_flags(flag_values=flags.FLAGS, model_checks=True):
    """The `TrainConfig` of parsed flags, validated (see `TrainConfig.validate`).

    Raises:
        ValueError: a list flag with a bad item, or what `TrainConfig`
            (or its `PairConfig`) rejects.
    """
    from keras_geomatch import config_flags
    from keras_geomatch.training.train_config import TrainConfig

    return config_flags.from_flags(TrainConfig, flag_values).validate(model_checks)


def _error(error):
    print(f"train.py: error: {error}", file=sys.stderr)
    return cli_support.USAGE_ERROR


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments: {argv[1:]}")
    try:
        config = config_from_flags(flags.FLAGS, model_checks=False)  # before TensorFlow
        cli_support.start_tensorflow()
        config.validate()  # and what needs the backbones (Keras)
    except (ValueError, FileNotFoundError) as error:
        return _error(error)
    logging.getLogger("keras_geomatch").setLevel(logging.INFO)  # the run's progress
    from keras_geomatch import training

    try:
        result = training.train(config)
    except (ValueError, FileNotFoundError) as error:  # bad settings or files: no traceback
        return _error(error)
    print(result_line(result), flush=True)


def result_line(result):
    """The program's last line: the synthetic validation PCK and where the run went."""
    parts = []
    pck = result["metrics"].get("synthetic_pck")
    if pck:
        alpha = 0.1 if 0.1 in pck["alphas"] else pck["alphas"][0]
        parts.append(
            f"synthetic PCK@{alpha:g} {pck[f'pck@{alpha:g}']:.3f} "
            f"(identity {pck[f'identity_pck@{alpha:g}']:.3f}, {pck['num_pairs']} validation pairs)"
        )
    parts.append(f"workdir {result['config'].workdir}")
    if result["export_dir"]:
        parts.append(f"exported to {result['export_dir']}")
    return "Done: " + "; ".join(parts)


if __name__ == "__main__":
    define_flags()
    cli_support.run(main)
