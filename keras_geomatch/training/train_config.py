"""`TrainConfig`: everything a training run depends on, in one frozen object.

`trainers/train.py` builds it from flags (one flag per field, same name);
library code receives it explicitly. `validate()` rejects bad values and
contradictions with a message naming the fields; `resolved()` fills the
values left to their "automatic" setting (empty strings, zeros, None) so the
config written next to a trained model says exactly what ran.

Example:
    >>> config = TrainConfig(backbone="small", weights="none",
    ...                      train_backbone=True, image_size=(96, 96),
    ...                      builtin_samples=True, epochs=2)
    >>> config.validate()
    >>> config.to_json()  # '{"geometric_model": "affine", ...}'
"""

import dataclasses
import json
import math
import os
import re
from typing import Optional, Tuple

from keras_geomatch import geometry
from keras_geomatch.data.pair_config import PairConfig
from keras_geomatch.models import backbones
from keras_geomatch.models import mixed_precision

# PairConfig fields copied into TrainConfig under the same names;
# `geometric_model` and `image_size` are shared by the model and the pairs.
PAIR_FIELDS = (
    "resize_size",
    "padding_factor",
    "crop_factor",
    "affine_max_rotation",
    "affine_max_shear_angle",
    "affine_scale_range",
    "affine_max_translation",
    "tps_max_offset",
    "hom_max_offset",
)
_PAIR_DEFAULTS = {f.name: f.default for f in dataclasses.fields(PairConfig)}

WEIGHTS_KEYWORDS = ("imagenet", "torchvision", "none")
FEATURE_CACHE_DTYPES = ("float16", "float32")
PREPROCESSING_MODES = ("auto", "caffe", "torch", "unit")
LR_SCHEDULES = ("constant", "cosine", "step", "exponential")
JIT_COMPILE_MODES = ("auto", "true", "false")
STRATEGIES = ("default", "mirrored", "multi_worker")
# "auto": mixed_bfloat16 where bf16 is native (TPU, GPU ≥ 8.0, CPU with
# AMX/AVX512-BF16), else float32 (`models.mixed_precision`).
MIXED_PRECISION_POLICIES = mixed_precision.CHOICES
VERBOSITY = (0, 1, 2)

# Default decay rate per schedule, used when `lr_decay_rate` is None.
_DEFAULT_DECAY_RATE = {"step": 0.1, "exponential": 0.9}

# Fields that may change between a run and its resumption: they change how a
# run is carried out or reported, not what it computes.
RESUMABLE_CHANGES = frozenset(
    {"verbose", "jit_compile", "strategy", "backup_every_steps", "export_at_end", "export_dir",
     # float32 ↔ mixed_bfloat16: the same float32 variables and optimizer
     # state (mixed_float16 adds loss scaling: the trainer refuses that).
     "mixed_precision"}
)

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run of the geometric matching CNN on synthetic pairs.

    Attributes (model):
        geometric_model: 'affine', 'hom', 'hom_matrix' or 'tps'.
        backbone: a name of `models.BACKBONES` ('vgg16', 'resnet101',
            'resnet101_torch' or 'small').
        weights: backbone weights: 'imagenet' (downloaded by Keras),
            'torchvision' (vgg16: the shipped torchvision ImageNet weights,
            offline), 'none' (random) or the path of a local HDF5 weights
            file.
        image_size: `(height, width)` of the network's inputs.
        train_backbone: train the backbone too (False: frozen, the paper).
        preprocessing: 'auto' (the backbone's default), 'caffe', 'torch' or 'unit'.

    Attributes (data; exactly one training source):
        builtin_samples: train and validate on the photographs shipped with
            scikit-image (`data.builtin_sample_images`).
        train_dir: a folder of training images (searched recursively).
        train_list: a list file of training images (`data.read_image_list`).
        val_dir: a folder of validation images.
        val_list: a list file of validation images. Without any validation
            source there is no validation, no best checkpoint and no PCK.
        resize_size ... hom_max_offset: the `data.PairConfig` fields (how a
            pair is cut, the random θgt ranges; rotations in radians).
        feature_cache: '' (pairs made on the fly) or a folder: with a
            frozen backbone only the head learns, so the pairs of the first
            epoch (`steps_per_epoch · batch_size` of them) and the validation
            pairs are made once and their correlation maps stored there
            (`training.pair_feature_cache`); every epoch then goes over
            that fixed pair set again in a new order, as the paper's fixed
            training pairs. Built resumably; a folder built for other
            settings is refused.
        feature_cache_dtype: 'float16' (half the disk and memory) or
            'float32': how the correlation maps are stored.
        augment: randomly zoom, flip/transpose and recolour each training
            image as its pair is cut (`data.ViewAugmentation`; not in the
            paper, meant for small image sets such as the built-in one).

    Attributes (optimisation):
        batch_size: global batch size (split across replicas).
        epochs: number of epochs.
        steps_per_epoch: 0: `len(train files) // batch_size` (at least 1).
        validation_steps: 0: `ceil(len(val files) / batch_size)`.
        learning_rate: Adam's (initial) learning rate.
        lr_schedule: 'constant', 'cosine' (to `lr_min_ratio · lr` at the
            end), 'step' (× `lr_decay_rate` at each epoch of
            `lr_step_epochs`) or 'exponential' (× `lr_decay_rate` per epoch,
            smoothly).
        lr_decay_rate: for 'step' (default 0.1) and 'exponential' (0.9).
        lr_step_epochs: for 'step': the epochs at which the rate drops.
        lr_min_ratio: for 'cosine': final rate / initial rate (default 0).
        loss_grid_size: points per side of the loss grid (20, the paper).
        seed: seeds the weights' initialisation and the training pairs.

    Attributes (system):
        jit_compile: 'auto' (Keras decides: XLA where there is an
            accelerator and no tf.distribute), 'true' or 'false'.
        strategy: 'default', 'mirrored' (all GPUs, else all logical CPUs of
            this machine) or 'multi_worker' (TF_CONFIG; custom loop).
        mixed_precision: 'auto' (default: 'mixed_bfloat16' where bf16 is
            native: a TPU, GPUs of compute capability ≥ 8.0, a CPU with
            AMX-BF16 or AVX512-BF16; else 'float32'; see
            `models.mixed_precision`), 'float32', 'mixed_bfloat16' or
            'mixed_float16'. The exported model is float32 either way.
        backup_every_steps: back up the training state every N steps (and
            at every epoch end); 0: at epoch ends only.
        verbose: 0 (silent), 1 (progress bar), 2 (a line per epoch).

    Attributes (output):
        model_name: '' → `{geometric_model}_{backbone}`.
        workdir: '' → `workdirs/{model_name}`; holds config.json, backups,
            the best checkpoint, TensorBoard logs and metrics.json.
        export_dir: '' → `saved_models/{model_name}`.
        export_at_end: export the trained model at the end (to export_dir).
    """

    # === Model ===
    geometric_model: str = "affine"
    backbone: str = "vgg16"
    weights: str = "imagenet"
    image_size: Tuple[int, int] = (240, 240)
    train_backbone: bool = False
    preprocessing: str = "auto"
    # === Data ===
    builtin_samples: bool = False
    train_dir: str = ""
    train_list: str = ""
    val_dir: str = ""
    val_list: str = ""
    resize_size: Tuple[int, int] = _PAIR_DEFAULTS["resize_size"]
    padding_factor: float = _PAIR_DEFAULTS["padding_factor"]
    crop_factor: float = _PAIR_DEFAULTS["crop_factor"]
    affine_max_rotation: float = _PAIR_DEFAULTS["affine_max_rotation"]
    affine_max_shear_angle: float = _PAIR_DEFAULTS["affine_max_shear_angle"]
    affine_scale_range: Tuple[float, float] = _PAIR_DEFAULTS["affine_scale_range"]
    affine_max_translation: float = _PAIR_DEFAULTS["affine_max_translation"]
    tps_max_offset: float = _PAIR_DEFAULTS["tps_max_offset"]
    hom_max_offset: float = _PAIR_DEFAULTS["hom_max_offset"]
    augment: bool = False
    feature_cache: str = ""
    feature_cache_dtype: str = "float16"
    # === Optimisation ===
    batch_size: int = 16
    epochs: int = 20
    steps_per_epoch: int = 0
    validation_steps: int = 0
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    lr_decay_rate: Optional[float] = None
    lr_step_epochs: Tuple[int, ...] = ()
    lr_min_ratio: Optional[float] = None
    loss_grid_size: int = 20
    seed: int = 0
    # === System ===
    jit_compile: str = "auto"
    strategy: str = "default"
    mixed_precision: str = "auto"
    backup_every_steps: int = 100
    verbose: int = 1
    # === Output ===
    model_name: str = ""
    workdir: str = ""
    export_dir: str = ""
    export_at_end: bool = True

    def __post_init__(self):
        # Flags and JSON give lists; store tuples so configs compare and hash.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, list):
                object.__setattr__(self, field.name, tuple(value))

    # --------------------------------------------------------------- checks
    def validate(self):
        """Raises `ValueError` (or `FileNotFoundError`) on a bad or
        contradictory setting; returns the config for chaining."""
        _check_choice("geometric_model", self.geometric_model, sorted(geometry.GEOMETRIC_MODELS))
        _check_choice("backbone", self.backbone, sorted(backbones.BACKBONES))
        backbone = backbones.get_backbone(self.backbone)
        self._validate_model(backbone)
        self._validate_data()
        self._validate_optimisation()
        self._validate_system()
        self._validate_output()
        return self

    def _validate_model(self, backbone):
        if self.weights == "torchvision" and not backbones.shipped_weights(
            self.backbone, "torchvision"
        ):
            raise ValueError(
                f"Contradictory flags: backbone={self.backbone!r} has no shipped torchvision "
                "weights (only vgg16 has). Received: weights='torchvision'"
            )
        if self.weights == "imagenet" and not backbone.has_imagenet_weights:
            raise ValueError(
                f"Contradictory flags: backbone={self.backbone!r} has no ImageNet weights. "
                "Expected weights='none' or a local weights file. "
                f"Received: weights={self.weights!r}"
            )
        if not self.weights:
            raise ValueError(
                "Expected weights='imagenet', 'torchvision', 'none' or a weights file path. "
                "Received: weights=''"
            )
        if self.weights not in WEIGHTS_KEYWORDS and not os.path.isfile(self.weights):
            raise FileNotFoundError(
                "Expected weights='imagenet', 'torchvision', 'none' or an existing weights file. "
                f"Received: weights={self.weights!r} (no such file)"
            )
        smallest = 11 * backbone.stride
        size = self.image_size
        if (
            len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in size)
            or min(size) < smallest
        ):
            raise ValueError(
                f"Expected image_size = (height, width), integers >= {smallest} for "
                f"backbone={self.backbone!r} (stride {backbone.stride}). "
                f"Received: image_size={size!r}"
            )
        _check_choice("preprocessing", self.preprocessing, PREPROCESSING_MODES)

    def _validate_data(self):
        sources = {
            "builtin_samples": self.builtin_samples,
            "train_dir": self.train_dir,
            "train_list": self.train_list,
        }
        chosen = [name for name, value in sources.items() if value]
        if len(chosen) != 1:
            raise ValueError(
                "Expected exactly one training source among builtin_samples, train_dir "
                f"and train_list. Received: {chosen or 'none'}"
            )
        if self.val_dir and self.val_list:
            raise ValueError(
                "Contradictory flags: expected at most one of val_dir and val_list. "
                f"Received: val_dir={self.val_dir!r}, val_list={self.val_list!r}"
            )
        if self.builtin_samples and (self.val_dir or self.val_list):
            raise ValueError(
                "Contradictory flags: builtin_samples brings its own validation images. "
                f"Received also: val_dir={self.val_dir!r}, val_list={self.val_list!r}"
            )
        self.pair_config()  # PairConfig validates the pair fields.
        _check_choice("feature_cache_dtype", self.feature_cache_dtype, FEATURE_CACHE_DTYPES)
        if self.feature_cache and self.train_backbone:
            raise ValueError(
                "Contradictory flags: feature_cache stores the features of a frozen backbone. "
                f"Expected train_backbone=False. Received: feature_cache={self.feature_cache!r}, "
                "train_backbone=True"
            )
        if self.feature_cache and self.strategy != "default":
            raise ValueError(
                "Contradictory flags: training from the feature_cache runs on one device. "
                f"Expected strategy='default'. Received: strategy={self.strategy!r}"
            )

    def _validate_optimisation(self):
        _check_int("batch_size", self.batch_size, 1)
        _check_int("epochs", self.epochs, 1)
        _check_int("steps_per_epoch", self.steps_per_epoch, 0)
        _check_int("validation_steps", self.validation_steps, 0)
        _check_int("loss_grid_size", self.loss_grid_size, 2)
        _check_int("seed", self.seed, 0)
        if not (isinstance(self.learning_rate, (int, float)) and math.isfinite(self.learning_rate)
                and self.learning_rate > 0):
            raise ValueError(
                f"Expected learning_rate > 0. Received: learning_rate={self.learning_rate!r}"
            )
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        schedule = self.lr_schedule
        if self.lr_decay_rate is not None:
            if schedule not in _DEFAULT_DECAY_RATE:
                raise ValueError(
                    "Contradictory flags: lr_decay_rate applies to lr_schedule 'step' or "
                    f"'exponential'. Received: lr_decay_rate={self.lr_decay_rate}, "
                    f"lr_schedule={schedule!r}"
                )
            if not 0.0 < self.lr_decay_rate < 1.0:
                raise ValueError(
                    f"Expected 0 < lr_decay_rate < 1. Received: lr_decay_rate={self.lr_decay_rate}"
                )
        if self.lr_min_ratio is not None:
            if schedule != "cosine":
                raise ValueError(
                    "Contradictory flags: lr_min_ratio applies to lr_schedule='cosine'. "
                    f"Received: lr_min_ratio={self.lr_min_ratio}, lr_schedule={schedule!r}"
                )
            if not 0.0 <= self.lr_min_ratio < 1.0:
                raise ValueError(
                    f"Expected 0 <= lr_min_ratio < 1. Received: lr_min_ratio={self.lr_min_ratio}"
                )
        if schedule == "step":
            epochs = self.lr_step_epochs
            ok = (
                len(epochs) > 0
                and all(isinstance(e, int) and 0 < e < self.epochs for e in epochs)
                and list(epochs) == sorted(set(epochs))
            )
            if not ok:
                raise ValueError(
                    "Expected lr_step_epochs for lr_schedule='step': increasing epochs in "
                    f"[1, epochs - 1] = [1, {self.epochs - 1}]. "
                    f"Received: lr_step_epochs={list(epochs)}"
                )
        elif self.lr_step_epochs:
            raise ValueError(
                "Contradictory flags: lr_step_epochs applies to lr_schedule='step'. "
                f"Received: lr_step_epochs={list(self.lr_step_epochs)}, lr_schedule={schedule!r}"
            )

    def _validate_system(self):
        _check_choice("jit_compile", self.jit_compile, JIT_COMPILE_MODES)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISION_POLICIES)
        _check_int("backup_every_steps", self.backup_every_steps, 0)
        _check_choice("verbose", self.verbose, VERBOSITY)
        if self.strategy == "multi_worker":
            if self.jit_compile == "true":
                raise ValueError(
                    "Contradictory flags: strategy='multi_worker' runs a custom loop without "
                    "XLA (XLA collectives are not implemented on CPU). Expected "
                    "jit_compile='auto' or 'false'. Received: jit_compile='true'"
                )
            if self.mixed_precision == "mixed_float16":
                raise ValueError(
                    "Contradictory flags: strategy='multi_worker' does no loss scaling. "
                    "Expected mixed_precision='float32' or 'mixed_bfloat16'. "
                    "Received: mixed_precision='mixed_float16'"
                )

    def _validate_output(self):
        if self.model_name and not _NAME_PATTERN.fullmatch(self.model_name):
            raise ValueError(
                "Expected model_name made of letters, digits, '.', '_' and '-' (a folder "
                f"name). Received: model_name={self.model_name!r}"
            )
        if self.workdir and self.export_dir:
            _check_folders(self.workdir, self.export_dir)
        if not self.export_at_end and self.export_dir:
            raise ValueError(
                "Contradictory flags: export_at_end=False and an export_dir. "
                f"Received: export_dir={self.export_dir!r}"
            )

    # ----------------------------------------------------------- derived
    @property
    def has_validation(self):
        """Whether the run has validation images."""
        return bool(self.builtin_samples or self.val_dir or self.val_list)

    @property
    def weights_argument(self):
        """`weights` as `build_geomatch_model` takes it ('none' → None)."""
        return None if self.weights == "none" else self.weights

    def pair_config(self):
        """The `data.PairConfig` of the training and validation pairs."""
        return PairConfig(
            geometric_model=self.geometric_model,
            image_size=self.image_size,
            **{name: getattr(self, name) for name in PAIR_FIELDS},
        )

    def resolved(self, num_train_files=None, num_val_files=None):
        """A validated copy with the automatic values filled in.

        Args:
            num_train_files: number of training images, to resolve
                `steps_per_epoch = 0`; left as is when None.
            num_val_files: number of validation images, to resolve
                `validation_steps = 0`; left as is when None.
        """
        self.validate()
        name = self.model_name or f"{self.geometric_model}_{self.backbone}"
        changes = {
            "model_name": name,
            "workdir": self.workdir or os.path.join("workdirs", name),
        }
        if self.export_at_end:
            changes["export_dir"] = self.export_dir or os.path.join("saved_models", name)
        _check_folders(changes["workdir"], changes.get("export_dir", ""))
        if self.lr_schedule in _DEFAULT_DECAY_RATE and self.lr_decay_rate is None:
            changes["lr_decay_rate"] = _DEFAULT_DECAY_RATE[self.lr_schedule]
        if self.lr_schedule == "cosine" and self.lr_min_ratio is None:
            changes["lr_min_ratio"] = 0.0
        if self.mixed_precision == mixed_precision.AUTO:
            changes["mixed_precision"], _ = mixed_precision.resolve_dtype_policy(mixed_precision.AUTO)
        if self.steps_per_epoch == 0 and num_train_files is not None:
            changes["steps_per_epoch"] = max(1, int(num_train_files) // self.batch_size)
        if self.validation_steps == 0 and num_val_files:
            changes["validation_steps"] = max(1, math.ceil(int(num_val_files) / self.batch_size))
        return dataclasses.replace(self, **changes)

    def differences(self, other):
        """`{field: (self's value, other's value)}` for every differing field."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }

    # ------------------------------------------------------------- JSON
    def to_dict(self):
        """A JSON-ready dict (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, values):
        """The inverse of `to_dict`; unknown keys raise `ValueError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown TrainConfig fields. Expected a subset of {sorted(known)}. "
                f"Received: {unknown}"
            )
        return cls(**values)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path):
        """Reads a config written by `to_json` (e.g. a workdir's config.json)."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())


def describe_differences(differences, where):
    """`{name: (old, new)}` as lines "name: old in the <where>, new now"."""
    return "\n  ".join(
        f"{name}: {old!r} in the {where}, {new!r} now" for name, (old, new) in differences.items()
    )


def _check_folders(workdir, export_dir):
    """The export replaces export_dir as a whole: it must not hold the workdir."""
    if not export_dir:
        return
    work, export = os.path.abspath(workdir), os.path.abspath(export_dir)
    if work == export or work.startswith(export + os.sep):
        raise ValueError(
            "Contradictory flags: the export replaces export_dir entirely, so it must not "
            f"be the workdir or contain it. Received: workdir={workdir!r}, "
            f"export_dir={export_dir!r}"
        )


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"Unknown {name}. Expected one of {list(allowed)}. Received: {name}={value!r}")


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"Expected {name} to be an integer >= {minimum}. Received: {name}={value!r}")
