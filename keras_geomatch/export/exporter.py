"""`export_model`: everything needed to use or serve a trained model, in one directory.

Layout of `export_dir`:

    export_dir/
      model.keras            the (first-stage) Keras model: keras.models.load_model
      model_stage2.keras     the second-stage model, for a two-stage export only
      config.json            the training config given, plus what the models say they are
      serving/VERSION/       the SavedModel, laid out for TF Serving
                             (model_base_path = export_dir/serving)

The `.keras` files need `import keras_geomatch` before loading (it registers
the layers); the SavedModel needs only TensorFlow. Its signatures are
described in `serving_signatures`.

The directory is replaced atomically (`atomic_dir`): a failure or a killed
process at any point leaves the previous export as it was. `export_dir` holds
one export: exporting again replaces it, older `serving/` versions included
(TF Serving then loads the new version and unloads the old; give each export
a new, higher version or it will not reload).
"""

import dataclasses
import json
import os
from collections.abc import Mapping

import numpy as np

from keras_geomatch.export import atomic_dir
from keras_geomatch.export import serving_signatures
from keras_geomatch.export.saved_model import write_saved_model
from keras_geomatch.inference import chain
from keras_geomatch.models import upgrade_if_legacy

MODEL_FILE = "model.keras"
STAGE2_MODEL_FILE = "model_stage2.keras"
CONFIG_FILE = "config.json"
SERVING_DIR = "serving"


def export_model(model, export_dir, config=None, version=1, second_stage_model=None):
    """Writes the `.keras` model(s), the serving SavedModel and `config.json`.

    Args:
        model: a `GeomatchModel` (trained, or loaded from a `.keras` file;
            a keras-geomatch 0.1 model is upgraded and saved in the current
            layout). With `second_stage_model`, the first stage (e.g. affine).
        export_dir: the directory to (re)create; see the module docstring.
        config: the training config: a dict, a dataclass, or an object with
            `to_dict()`/`get_config()`; written to `config.json` with the
            keys the export adds, read from the model(s) (`geometric_model(s)`,
            `image_size`, `backbone`; they replace the config's own, the
            model being what is exported), `keras_geomatch_version` and
            `export`.
        version: TF Serving version, a positive integer (`serving/<version>`).
        second_stage_model: optional model applied after `model` (e.g. TPS;
            SPEC §4 two-stage alignment); saved as `model_stage2.keras`.

    Returns:
        The absolute path of `export_dir`.

    Raises:
        ValueError: bad version, or a model without the expected inputs.

    Example:
        >>> export_model(model, "exports/affine", config={"lr": 1e-3}, version=1)
        >>> # tensorflow_model_server --model_base_path=$PWD/exports/affine/serving ...
    """
    version = _check_version(version)
    model = upgrade_if_legacy(model)
    stages = [chain.StageModel.from_model(model)]
    if second_stage_model is not None:
        second_stage_model = upgrade_if_legacy(second_stage_model)
        stages.append(chain.StageModel.from_model(second_stage_model))
    contents = export_config(stages, config_to_dict(config), version)
    export_dir = os.path.abspath(os.fspath(export_dir))
    with atomic_dir.atomic_directory(export_dir) as staging:
        model.save(os.path.join(staging, MODEL_FILE))
        if second_stage_model is not None:
            second_stage_model.save(os.path.join(staging, STAGE2_MODEL_FILE))
        write_saved_model(stages, os.path.join(staging, SERVING_DIR, str(version)))
        with open(os.path.join(staging, CONFIG_FILE), "w") as file:
            json.dump(contents, file, indent=2, default=_json_default)
            file.write("\n")
    return export_dir


def _check_version(version):
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 1:
        raise ValueError(
            f"Expected version to be a positive integer (TF Serving's version "
            f"directory). Received: version={version!r}"
        )
    return int(version)


def config_to_dict(config):
    """A plain dict of a config given as dict, dataclass or config object."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    for method in ("to_dict", "as_dict", "get_config"):
        if callable(getattr(config, method, None)):
            return dict(getattr(config, method)())
    if hasattr(config, "__dict__"):
        return {k: v for k, v in vars(config).items() if not k.startswith("_")}
    raise ValueError(
        "Expected config to be None, a dict, a dataclass or an object with "
        f"to_dict()/get_config(). Received: config of type {type(config).__name__}"
    )


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def export_config(stages, config, version):
    """The contents of `config.json`: `config` plus what the models say they are."""
    import keras_geomatch  # the version; imported here to avoid an import cycle

    first = stages[0].model
    stage_files = [MODEL_FILE, STAGE2_MODEL_FILE]
    stage_info = [
        {
            "file": stage_files[i],
            "geometric_model": stage.model.geometric_model,
            "image_size": list(stage.model.image_size),
            "backbone": stage.model.backbone,
            "preprocessing": stage.model.preprocessing,
            "normalize_matches": stage.model.normalize_matches,
            # The policy the SavedModel computes in (float32 unless the model
            # was switched, e.g. `trainers/export.py --mixed_precision`).
            "compute_dtype_policy": _backbone_policy(stage.model),
        }
        for i, stage in enumerate(stages)
    ]
    contents = dict(config)
    if len(stages) == 1:
        contents["geometric_model"] = first.geometric_model
    contents["geometric_models"] = [s.model.geometric_model for s in stages]
    contents["image_size"] = list(first.image_size)
    contents["backbone"] = first.backbone
    contents["keras_geomatch_version"] = keras_geomatch.__version__
    contents["export"] = {
        "version": version,
        "serving_model_base_path": SERVING_DIR,
        "stages": stage_info,
        "signatures": {
            serving_signatures.SERVING_DEFAULT: {
                "inputs": {"source_image": "uint8 [batch, H, W, 3]",
                           "target_image": "uint8 [batch, H, W, 3]"},
                "outputs": {**{n: "float32 [batch, P]" for n in
                               serving_signatures.theta_output_names(len(stages))},
                            "warped_image": "uint8 [batch, H_target, W_target, 3]"},
            },
            serving_signatures.MAP_POINTS: {
                "inputs": {"source_image": "uint8 [batch, H, W, 3]",
                           "target_image": "uint8 [batch, H, W, 3]",
                           "points": "float32 [batch, N, 2] target pixels (x, y), 0-based"},
                "outputs": {**{n: "float32 [batch, P]" for n in
                               serving_signatures.theta_output_names(len(stages))},
                            "source_points": "float32 [batch, N, 2] source pixels, 0-based"},
            },
        },
    }
    return contents


def _backbone_policy(model):
    try:
        return model.get_layer("feature_extraction").dtype_policy.name
    except ValueError:  # not the standard graph: say nothing rather than guess
        return None
