"""`TrainConfig`: everything a training run depends on, in one frozen object.

Its settings are its fields, with `pairs` (a `data.PairConfig`: the geometric
model, the image size and how pairs are cut and drawn) flattened: the flat
names are `trainers/train.py`'s flags (defined from the fields by
`keras_geomatch.config_flags`, help texts included) and the keys of the
config.json a run writes (`to_dict`, `from_dict`). `validate()` rejects bad
values and contradictions with a message naming the settings (PairConfig
checks its own when built); `resolved()` fills the values left to their
"automatic" setting (empty strings, zeros, None) so the config written next
to a trained model says exactly what ran.

Module-level imports are TensorFlow-free, so that a program defines its
flags before TensorFlow starts; the checks that need the backbones or the
dtype policies import them when they run.

Example:
    >>> config = TrainConfig.from_dict(dict(
    ...     backbone="small", weights="none", train_backbone=True,
    ...     image_size=(96, 96), builtin_samples=True, epochs=2))
    >>> config.validate()
    >>> config.pairs.image_size, config.image_size
    ((96, 96), (96, 96))
    >>> config.to_json()  # '{"geometric_model": "affine", ...}'
"""

import dataclasses
import json
import math
import os
import re
from typing import Optional, Tuple

from keras_geomatch import config_flags
from keras_geomatch.config_flags import setting
from keras_geomatch.data.pair_config import PairConfig

# Choices of the enum settings. BACKBONE_NAMES and MIXED_PRECISION_POLICIES are
# the keys of `models.BACKBONES` and `models.mixed_precision.CHOICES`
# (tests pin them), here without importing Keras.
BACKBONE_NAMES = ("resnet101", "resnet101_torch", "small", "vgg16")
WEIGHTS_KEYWORDS = ("imagenet", "torchvision", "none")
FEATURE_CACHE_DTYPES = ("float16", "float32")
PREPROCESSING_MODES = ("auto", "caffe", "torch", "unit")
LR_SCHEDULES = ("constant", "cosine", "step", "exponential")
JIT_COMPILE_MODES = ("auto", "true", "false")
STRATEGIES = ("default", "mirrored", "multi_worker")
MIXED_PRECISION_POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
VERBOSITY = (0, 1, 2)

# Default decay rate per schedule, used when `lr_decay_rate` is None.
_DEFAULT_DECAY_RATE = {"step": 0.1, "exponential": 0.9}

# Settings that may change between a run and its resumption: they change how a
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

    Each field's help text (its metadata, shown by `train.py --helpfull`)
    says what it does. The groups:

    * pairs: `geometric_model` and `image_size` (the network's too) and how
      each synthetic pair is cut and its θgt drawn (`data.PairConfig`);
    * model: the backbone, its weights, whether it trains, the input
      normalisation;
    * data: exactly one training source (`builtin_samples`, `train_dir` or
      `train_list`), at most one validation source (without one: no
      validation, best checkpoint or PCK), augmentation, the feature cache;
    * optimisation: batch, epochs, steps, the learning rate and its
      schedule, the loss grid, the seed;
    * system: XLA, the tf.distribute strategy, mixed precision, backups,
      verbosity;
    * output: the model's name, the workdir (config.json, backups, the best
      checkpoint, TensorBoard logs, metrics.json) and the export.
    """

    # === Pairs (flattened: their fields are settings of their own) ===
    pairs: PairConfig = dataclasses.field(
        default_factory=PairConfig,
        metadata={"help": "The geometric model, the image size and how pairs are made."},
    )
    # === Model ===
    backbone: str = setting(
        "vgg16", "Feature extraction CNN ('small': this project's CPU backbone).",
        choices=BACKBONE_NAMES)
    weights: str = setting(
        "imagenet",
        "Backbone weights: 'imagenet' (downloaded by Keras), 'torchvision' (vgg16: "
        "torchvision's ImageNet weights, shipped with the package), 'none' (random) or "
        "the path of a local HDF5 weights file.")
    train_backbone: bool = setting(
        False, "Train the backbone too (the paper keeps it frozen: only the head learns).")
    preprocessing: str = setting(
        "auto", "Input normalisation; 'auto': the backbone's default.",
        choices=PREPROCESSING_MODES)
    # === Data ===
    builtin_samples: bool = setting(
        False, "Train and validate on the photographs shipped with scikit-image (no download).")
    train_dir: str = setting("", "Folder of training images (searched recursively).")
    train_list: str = setting("", "List file of training images (.txt or .csv).")
    val_dir: str = setting("", "Folder of validation images.")
    val_list: str = setting("", "List file of validation images.")
    augment: bool = setting(
        False,
        "Randomly zoom, flip/transpose and recolour each training image as its pair is cut "
        "(not in the paper; for small image sets such as the built-in one).")
    feature_cache: str = setting(
        "",
        "Folder of stored correlation maps: with a frozen backbone only the head learns, so "
        "the first epoch's pairs (steps_per_epoch·batch_size) and the validation pairs go "
        "through the backbone once and every epoch trains the head on that fixed set in a "
        "new order, as the paper's fixed training pairs ('': pairs made on the fly). Built "
        "resumably; a folder built for other settings is refused.")
    feature_cache_dtype: str = setting(
        "float16", "Storage of the cached correlation maps (float16: half the disk and memory).",
        choices=FEATURE_CACHE_DTYPES)
    # === Optimisation ===
    batch_size: int = setting(16, "Global batch size (split across replicas).")
    epochs: int = setting(20, "Number of epochs.")
    steps_per_epoch: int = setting(
        0, "Steps per epoch; 0: number of training images // batch_size (at least 1).")
    validation_steps: int = setting(
        0, "Validation batches per epoch; 0: ceil(number of validation images / batch_size).")
    learning_rate: float = setting(1e-3, "Adam's (initial) learning rate.")
    lr_schedule: str = setting(
        "constant",
        "Learning-rate schedule: 'constant', 'cosine' (to lr_min_ratio·learning_rate at the "
        "end), 'step' (× lr_decay_rate at each epoch of lr_step_epochs) or 'exponential' "
        "(× lr_decay_rate per epoch, smoothly).",
        choices=LR_SCHEDULES)
    lr_decay_rate: Optional[float] = setting(
        None, "Decay factor for lr_schedule=step (default 0.1) or exponential (per epoch, 0.9).")
    lr_step_epochs: Tuple[int, ...] = setting(
        (), "For lr_schedule=step: the epochs at which the rate drops.")
    lr_min_ratio: Optional[float] = setting(
        None, "For lr_schedule=cosine: final rate / initial rate (default 0).")
    loss_grid_size: int = setting(20, "Points per side of the loss grid (20, the paper).")
    seed: int = setting(0, "Seed of the initial weights and of the training pairs.")
    # === System ===
    jit_compile: str = setting(
        "auto", "XLA: 'auto' lets Keras decide (on with an accelerator and no tf.distribute).",
        choices=JIT_COMPILE_MODES)
    strategy: str = setting(
        "default",
        "tf.distribute strategy: 'mirrored' (all GPUs, else all logical CPUs of this "
        "machine) or 'multi_worker' (the cluster in TF_CONFIG; a custom loop).",
        choices=STRATEGIES)
    mixed_precision: str = setting(
        "auto",
        "Keras dtype policy; 'auto': mixed_bfloat16 where bf16 is native (TPU, GPU with "
        "compute capability >= 8.0, CPU with AMX-BF16 or AVX512-BF16), else float32 "
        "(models.mixed_precision). The exported model is float32 either way.",
        choices=MIXED_PRECISION_POLICIES)
    backup_every_steps: int = setting(
        100, "Back up the training state every N steps (and at each epoch end); 0: epoch ends.")
    verbose: int = setting(1, "0: silent, 1: progress bar, 2: one line per epoch.")
    # === Output ===
    model_name: str = setting("", "Name of the model; '': GEOMETRIC_MODEL_BACKBONE.")
    workdir: str = setting(
        "", "Work directory (config.json, backups, best checkpoint, TensorBoard logs, "
        "metrics.json); '': workdirs/MODEL_NAME.")
    export_dir: str = setting("", "Export directory; '': saved_models/MODEL_NAME.")
    export_at_end: bool = setting(True, "Export the trained model at the end (to export_dir).")

    def __post_init__(self):
        if not isinstance(self.pairs, PairConfig):
            raise ValueError(f"Expected pairs as a PairConfig. Received: pairs={self.pairs!r}")
        # Lists (from JSON, say) become tuples so that configs compare and hash.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, list):
                object.__setattr__(self, field.name, tuple(value))

    # --------------------------------------------------------------- checks
    def validate(self, model_checks=True):
        """Raises `ValueError` (or `FileNotFoundError`) on a bad or
        contradictory setting; returns the config for chaining.

        `pairs` was checked when built (`PairConfig`). With
        `model_checks=False`, the checks that need the backbone registry
        (Keras, so TensorFlow) are left out: the programs run those once
        TensorFlow has started."""
        self._validate_data()
        self._validate_optimisation()
        self._validate_system()
        self._validate_output()
        if model_checks:
            self._validate_model()
        return self

    def _validate_model(self):
        from keras_geomatch import models  # Keras: imported when checking
        from keras_geomatch.models import backbones

        backbone = backbones.get_backbone(self.backbone)
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
        models.check_image_size(self.image_size, self.backbone)  # the model's own check
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
        # Missing inputs are reported here, before TensorFlow starts.
        for name in ("train_dir", "val_dir"):
            if getattr(self, name) and not os.path.isdir(getattr(self, name)):
                raise FileNotFoundError(
                    f"Expected {name} to be a folder of images. "
                    f"Received: {name}={getattr(self, name)!r} (no such folder)"
                )
        for name in ("train_list", "val_list"):
            if getattr(self, name) and not os.path.isfile(getattr(self, name)):
                raise FileNotFoundError(
                    f"Expected {name} to be a text file of image paths. "
                    f"Received: {name}={getattr(self, name)!r} (no such file)"
                )
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

    @property
    def geometric_model(self):
        """`pairs.geometric_model`: the model's θ, and the pairs'."""
        return self.pairs.geometric_model

    @property
    def image_size(self):
        """`pairs.image_size`: the network's input size, and the pairs'."""
        return self.pairs.image_size

    def pair_config(self):
        """The `data.PairConfig` of the training and validation pairs (`pairs`)."""
        return self.pairs

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
        if self.mixed_precision == "auto":
            from keras_geomatch.models import mixed_precision  # Keras: only to resolve 'auto'

            changes["mixed_precision"], _ = mixed_precision.resolve_dtype_policy("auto")
        if self.steps_per_epoch == 0 and num_train_files is not None:
            changes["steps_per_epoch"] = max(1, int(num_train_files) // self.batch_size)
        if self.validation_steps == 0 and num_val_files:
            changes["validation_steps"] = max(1, math.ceil(int(num_val_files) / self.batch_size))
        return dataclasses.replace(self, **changes)

    def differences(self, other):
        """`{setting: (self's value, other's value)}` for every differing
        setting, by flat name."""
        mine, theirs = config_flags.to_flat(self), config_flags.to_flat(other)
        return {name: (mine[name], theirs[name]) for name in mine if mine[name] != theirs[name]}

    # ------------------------------------------------------------- JSON
    def to_dict(self):
        """A JSON-ready dict of every setting by flat name (tuples become lists)."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in config_flags.to_flat(self).items()
        }

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, values):
        """The config of `{flat name: value}` (the inverse of `to_dict`; the
        settings not given keep their defaults); unknown names raise
        `ValueError`."""
        return config_flags.from_flat(cls, values)

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
