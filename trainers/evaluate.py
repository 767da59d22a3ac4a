r"""PCK evaluation on PF-WILLOW or PF-PASCAL, as in the paper (Rocco et al. 2017).

One model:

    python trainers/evaluate.py --model=saved_models/affine/model.keras \
        --dataset=pf-willow --dataset_root=datasets/proposal-flow-willow

Two stages (affine, then TPS on the affine-warped source), several α:

    python trainers/evaluate.py --model=saved_models/affine/model.keras \
        --model2=saved_models/tps/model.keras --dataset_root=datasets/proposal-flow-willow \
        --alpha=0.05,0.1,0.15 --output_json=results/willow_affine_tps.json

Prints a per-category table (the identity baseline beside the model) and
writes the results as JSON (default: `pck_<dataset>.json` next to the last
model). The work is done by `keras_geomatch.evaluation.run_evaluation`.

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

DATASETS = ("auto", "pf-willow", "pf-pascal")


def define_flags(flag_values=flags.FLAGS):
    """Defines this program's flags on `flag_values` (tests pass a fresh `FlagValues`)."""
    flags.DEFINE_string(
        "model",
        None,
        "The .keras geomatch model (the first stage for two stages), or the name of a "
        "shipped model: affine_vgg16, tps_vgg16, affine_tps_vgg16 (two stages).",
        required=True,
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "model2",
        None,
        "Optional second-stage .keras model or shipped one-stage name (e.g. TPS after affine).",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "dataset",
        "auto",
        DATASETS,
        "Format of the pairs file; 'auto' reads it from the CSV header.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "pairs_csv",
        None,
        "The pairs CSV. Relative paths are tried in the working directory, then under "
        "--dataset_root. Default: test_pairs_pf.csv (PF-WILLOW) or test_pairs_pf_pascal.csv "
        "(PF-PASCAL) under --dataset_root.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "dataset_root",
        None,
        "Folder the image paths of the pairs file are relative to.",
        required=True,
        flag_values=flag_values,
    )
    flags.DEFINE_list(
        "alpha",
        ["0.1"],
        "PCK threshold(s) α, comma-separated, e.g. 0.05,0.1.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "batch_size",
        16,
        "Pairs per batch (and images per backbone call).",
        lower_bound=1,
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "output_json",
        None,
        "Where to write the results. Default: evaluations/pck_<dataset>_<model>.json in the "
        "working directory (never inside an export folder); an empty string writes nothing.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "cache_features",
        True,
        "Compute each image's features once for all its pairs; --nocache_features "
        "recomputes them for every pair (same numbers, slower; for checking).",
        flag_values=flag_values,
    )
    flags.DEFINE_enum(
        "mixed_precision",
        "auto",
        ("auto", "float32", "mixed_bfloat16"),
        "Compute policy: 'auto' is mixed_bfloat16 where bf16 is native (TPU, GPU with compute "
        "capability >= 8.0, CPU with AMX-BF16 or AVX512-BF16), else float32. PCK under bf16 "
        "was measured within one keypoint of float32 (benchmarks/RESULTS.md).",
        flag_values=flag_values,
    )


def config_from_flags(flag_values=flags.FLAGS):
    """The `EvaluationConfig` that the parsed flags describe."""
    from keras_geomatch.evaluation import EvaluationConfig

    try:
        alphas = tuple(float(a) for a in flag_values.alpha)
    except ValueError:
        raise ValueError(
            f"Expected --alpha as comma-separated numbers. Received: {','.join(flag_values.alpha)}"
        ) from None
    return EvaluationConfig(
        model=flag_values.model,
        model2=flag_values.model2,
        dataset=flag_values.dataset,
        pairs_csv=flag_values.pairs_csv,
        dataset_root=flag_values.dataset_root,
        alphas=alphas,
        batch_size=flag_values.batch_size,
        output_json=flag_values.output_json,
        use_feature_cache=flag_values.cache_features,
        mixed_precision=flag_values.mixed_precision,
    )


def _check_inputs(flag_values):
    """The checks that need no TensorFlow: the models and the dataset folder exist."""
    cli_support.check_model_argument(flag_values.model, "--model")
    cli_support.check_model_argument(flag_values.model2, "--model2")
    if not os.path.isdir(flag_values.dataset_root):
        raise FileNotFoundError(
            f"Expected --dataset_root to be a folder. Received: {flag_values.dataset_root}"
        )


def main(argv, flag_values=flags.FLAGS):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        _check_inputs(flag_values)
        cli_support.start_tensorflow()
        from keras_geomatch.evaluation import run_evaluation

        run_evaluation(config_from_flags(flag_values))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return cli_support.USAGE_ERROR
    return 0


if __name__ == "__main__":
    define_flags()
    cli_support.run(main)
