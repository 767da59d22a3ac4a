r"""Exports trained `.keras` model(s) for serving (and as `.keras` copies).

One model:

    python trainers/export.py --model=workdirs/affine/model.keras \
        --export_dir=exports/affine --version=1

A shipped pretrained model, by name (two stages for affine_tps_vgg16):

    python trainers/export.py --model=affine_tps_vgg16 --export_dir=exports/affine_tps_vgg16

Two stages (affine, then TPS on the affine-warped source, as in the paper):

    python trainers/export.py --model=workdirs/affine/model.keras \
        --model2=workdirs/tps/model.keras --export_dir=exports/affine_tps --version=2

Writes `EXPORT_DIR/model.keras` (+ `model_stage2.keras`), `EXPORT_DIR/config.json`
and the SavedModel `EXPORT_DIR/serving/VERSION/` (TF Serving:
`--model_base_path=EXPORT_DIR/serving`). The directory is replaced atomically;
see `keras_geomatch.export`. Training calls the same `export.export_model`.

The last line printed is `Exported to EXPORT_DIR`. Exit status: 0 on
success, 2 on a usage or input error (a one-line message on stderr).
"""

import functools
import json
import os

from absl import app
from absl import flags

if __name__ == "__main__":  # run as a script: trainers/ is sys.path[0]
    import cli_support

    cli_support.defer_package_import()  # TensorFlow starts once the arguments are checked
else:
    from trainers import cli_support


def define_flags(flag_values=flags.FLAGS):
    """Defines this program's flags on `flag_values`; returns their holders."""
    return {
        "model": flags.DEFINE_string(
            "model", None,
            "Path of the trained .keras model (the first stage for two stages), or the name "
            "of a shipped model: affine_vgg16, tps_vgg16, affine_tps_vgg16 (two stages).",
            required=True, flag_values=flag_values,
        ),
        "model2": flags.DEFINE_string(
            "model2", None, "Optional .keras model (or shipped one-stage name) of a second stage (e.g. TPS "
            "after affine).",
            flag_values=flag_values,
        ),
        "export_dir": flags.DEFINE_string(
            "export_dir", None, "Directory to (re)create with the export.",
            required=True, flag_values=flag_values,
        ),
        "version": flags.DEFINE_integer(
            "version", 1, "TF Serving version number (serving/VERSION); must be >= 1.",
            lower_bound=1, flag_values=flag_values,
        ),
        "config": flags.DEFINE_string(
            "config", None,
            "Optional JSON file of the training config to record in config.json. "
            "Default: config.json next to --model, if there is one.",
            flag_values=flag_values,
        ),
        "mixed_precision": flags.DEFINE_enum(
            "mixed_precision", "float32", ["float32", "mixed_bfloat16"],
            "Compute policy of the exported models. float32 (default) runs as fast anywhere; "
            "mixed_bfloat16 is much faster on serving hardware with native bf16 (CPUs with "
            "AMX-BF16/AVX512-BF16, GPUs of compute capability >= 8.0) and slower elsewhere. "
            "No 'auto': the serving machine is not this one.",
            flag_values=flag_values,
        ),
    }


def _read_config(config_path, model_path):
    if config_path is None and not os.path.exists(model_path):
        from keras_geomatch import pretrained

        if pretrained.is_pretrained_name(model_path):  # its training, from the registry
            return {"pretrained": model_path, **pretrained.list_pretrained()[model_path]}
        return None
    if config_path is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
        if not os.path.isfile(beside):
            return None
        config_path = beside
    with open(config_path) as file:
        return json.load(file)


def run(model_path, export_dir, version=1, model2_path=None, config_path=None,
        mixed_precision="float32"):
    """Loads the model(s) and exports them (`keras_geomatch.export.export_model`).

    Args:
        mixed_precision: the policy the exported models compute under
            ('float32' or 'mixed_bfloat16'; the loaded models are switched
            to it).

    Returns:
        The absolute export directory.
    """
    cli_support.check_model_argument(model_path, "--model")
    cli_support.check_model_argument(model2_path, "--model2")
    if config_path is not None and not os.path.isfile(config_path):
        raise FileNotFoundError(f"Expected --config to be a JSON file. Received: {config_path}")
    cli_support.start_tensorflow()  # only now that the arguments are checked
    from keras_geomatch import export
    from keras_geomatch.inference import model_loading

    # The policy is set even for float32: a .keras saved from a bf16 model.
    model, second = model_loading.load_stages(
        model_path, model2_path, mixed_precision=mixed_precision
    )
    config = _read_config(config_path, model_path)
    return export.export_model(
        model, export_dir, config=config, version=version, second_stage_model=second
    )


def main(argv, holders):
    """Runs the export from parsed flags (`holders` from `define_flags`)."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    export_dir = run(
        holders["model"].value,
        holders["export_dir"].value,
        version=holders["version"].value,
        model2_path=holders["model2"].value,
        config_path=holders["config"].value,
        mixed_precision=holders["mixed_precision"].value,
    )
    print(f"Exported to {export_dir}")


if __name__ == "__main__":
    cli_support.run(functools.partial(main, holders=define_flags()),
                    input_errors=(FileNotFoundError, ValueError))
