r"""PCK evaluation on PF-WILLOW or PF-PASCAL, as in the paper (Rocco et al. 2017).

One model:

    python trainers/evaluate.py --model=saved_models/affine/model.keras \
        --dataset=pf-willow --dataset_root=datasets/proposal-flow-willow

Two stages (affine, then TPS on the affine-warped source), several α:

    python trainers/evaluate.py --model=saved_models/affine/model.keras \
        --model2=saved_models/tps/model.keras --dataset_root=datasets/proposal-flow-willow \
        --alpha=0.05,0.1,0.15 --output_json=results/willow_affine_tps.json

Prints a per-category table (the identity baseline beside the model) and
writes the results as JSON (default: `evaluations/pck_<dataset>_<model>.json`
in the working directory). The work is done by
`keras_geomatch.evaluation.run_evaluation`.

Every flag is a setting of `keras_geomatch.evaluation.EvaluationConfig`
(`--alpha` is its `alphas`, `--cache_features` its `use_feature_cache`).
The settings, the model files, the pairs file and the images it names are
checked before TensorFlow starts.

The last lines printed are the table and `Wrote OUTPUT_JSON`. Exit status:
0 on success, 2 on a usage or input error (a one-line message on stderr).
"""

import os
import sys

from absl import app
from absl import flags

if __name__ == "__main__":  # run as a script: trainers/ is sys.path[0]
    import cli_support

    cli_support.defer_package_import()  # TensorFlow starts once the arguments are checked
else:
    from trainers import cli_support


def define_flags(flag_values=flags.FLAGS):
    """Defines this program's flags on `flag_values` (tests pass a fresh `FlagValues`);
    returns their names.

    One flag per `EvaluationConfig` setting, with its default and help
    (`keras_geomatch.config_flags`).
    """
    from keras_geomatch import config_flags
    from keras_geomatch.evaluation.evaluation_config import EvaluationConfig

    names = config_flags.define_flags(EvaluationConfig, flag_values, module_name=__name__)
    # Refused while the flags are parsed, as a bad enum value is.
    flags.register_validator(
        "batch_size", lambda value: value >= 1, message="--batch_size must be >= 1",
        flag_values=flag_values,
    )
    return names


def config_from_flags(flag_values=flags.FLAGS):
    """The `EvaluationConfig` that the parsed flags describe.

    Raises:
        ValueError: an --alpha item that is no number, or what
            `EvaluationConfig` rejects.
    """
    from keras_geomatch import config_flags
    from keras_geomatch.evaluation.evaluation_config import EvaluationConfig

    return config_flags.from_flags(EvaluationConfig, flag_values)


def check_inputs(config):
    """The checks that need no TensorFlow: the models exist, and the pairs file
    and the images it names are there and readable as the dataset's format.

    Returns:
        `config.read_pairs()`, for `run_evaluation`.
    """
    cli_support.check_model_argument(config.model, "--model")
    cli_support.check_model_argument(config.model2, "--model2")
    if not os.path.isdir(config.dataset_root):
        raise FileNotFoundError(
            f"Expected --dataset_root to be a folder. Received: {config.dataset_root}"
        )
    return config.read_pairs()


def main(argv, flag_values=flags.FLAGS):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        config = config_from_flags(flag_values)
        read_pairs = check_inputs(config)
        cli_support.start_tensorflow()
        from keras_geomatch.evaluation import run_evaluation

        run_evaluation(config, read_pairs=read_pairs)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return cli_support.USAGE_ERROR
    return 0


if __name__ == "__main__":
    define_flags()
    cli_support.run(main)
