"""`EvaluationConfig`: what a PCK evaluation reads, runs and writes.

Its fields are `trainers/evaluate.py`'s flags (defined from them by
`keras_geomatch.config_flags`, help texts included; `alphas` is `--alpha`,
`use_feature_cache` is `--cache_features`, `verbose` is no flag).

Module-level imports are the standard library and `config_flags` only, so
that the program reads and checks its settings before TensorFlow starts;
`read_pairs` imports the (NumPy) pairs reader when it runs.

Example:
    >>> config = EvaluationConfig(model="saved_models/affine/model.keras",
    ...                           dataset_root="datasets/proposal-flow-willow")
    >>> config.resolve_pairs_csv()  # 'datasets/proposal-flow-willow/test_pairs_pf.csv'
"""

import dataclasses
import math
import os
from typing import Optional, Tuple

from keras_geomatch.config_flags import setting

# Pairs file looked for under the dataset root when none is given (the names
# the reference's datasets use).
DEFAULT_PAIRS_FILES = {
    "pf-willow": "test_pairs_pf.csv",
    "pf-pascal": "test_pairs_pf_pascal.csv",
}
# `keypoint_pairs.PAIR_FORMATS` and `models.mixed_precision.INFERENCE_CHOICES`
# (tests pin them), here without importing NumPy or Keras.
DATASETS = ("auto", "pf-willow", "pf-pascal")
MIXED_PRECISION_CHOICES = ("auto", "float32", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """What to evaluate and where to write the result.

    Each field's help text (its metadata, shown by `evaluate.py --help`)
    says what it does. In Python, `alphas` may also be one number; the
    flags' checks (choices, `alphas` finite and >= 0, `batch_size` >= 1)
    are made when the config is built.
    """

    model: str = dataclasses.field(metadata={"help": (
        "The .keras geomatch model (the first stage for two stages), or the name of a "
        "shipped model: affine_vgg16, tps_vgg16, affine_tps_vgg16 (two stages).")})
    dataset_root: str = dataclasses.field(metadata={"help": (
        "Folder the image paths of the pairs file are relative to.")})
    model2: Optional[str] = setting(
        None,
        "Optional second-stage .keras model or shipped one-stage name (e.g. TPS after affine).")
    dataset: str = setting(
        "auto", "Format of the pairs file; 'auto' reads it from the CSV header.",
        choices=DATASETS)
    pairs_csv: Optional[str] = setting(
        None,
        "The pairs CSV. Relative paths are tried in the working directory, then under "
        "--dataset_root. Default: test_pairs_pf.csv (PF-WILLOW) or test_pairs_pf_pascal.csv "
        "(PF-PASCAL) under --dataset_root.")
    alphas: Tuple[float, ...] = setting(
        (0.1,), "PCK threshold(s) α, comma-separated, e.g. 0.05,0.1.", flag_name="alpha")
    batch_size: int = setting(16, "Pairs per batch (and images per backbone call); >= 1.")
    output_json: Optional[str] = setting(
        None,
        "Where to write the results. Default: evaluations/pck_<dataset>_<model>.json in the "
        "working directory (never inside an export folder); an empty string writes nothing.")
    use_feature_cache: bool = setting(
        True,
        "Compute each image's features once for all its pairs; --nocache_features "
        "recomputes them for every pair (same numbers, slower; for checking).",
        flag_name="cache_features")
    verbose: int = setting(1, "1 shows a progress bar, 0 is silent.", flag_name=None)
    mixed_precision: str = setting(
        "auto",
        "Compute policy: 'auto' is mixed_bfloat16 where bf16 is native (TPU, GPU with compute "
        "capability >= 8.0, CPU with AMX-BF16 or AVX512-BF16), else float32. PCK under bf16 "
        "was measured within one keypoint of float32 (benchmarks/RESULTS.md).",
        choices=MIXED_PRECISION_CHOICES)

    def __post_init__(self):
        if self.mixed_precision not in MIXED_PRECISION_CHOICES:
            raise ValueError(
                f"Unknown mixed_precision. Expected one of {MIXED_PRECISION_CHOICES}. "
                f"Received: mixed_precision={self.mixed_precision!r}"
            )
        if self.dataset not in DATASETS:
            raise ValueError(
                f"Unknown dataset. Expected one of {DATASETS}. "
                f"Received: dataset={self.dataset!r}"
            )
        alphas = _as_alphas(self.alphas)
        object.__setattr__(self, "alphas", alphas)
        if int(self.batch_size) < 1:
            raise ValueError(f"Expected batch_size >= 1. Received: batch_size={self.batch_size}")
        object.__setattr__(self, "batch_size", int(self.batch_size))

    def resolve_pairs_csv(self):
        """The pairs file to read.

        Raises:
            FileNotFoundError: no such file (the message lists where it looked).
        """
        if self.pairs_csv:
            candidates = [self.pairs_csv]
            if not os.path.isabs(self.pairs_csv):
                candidates.append(os.path.join(self.dataset_root, self.pairs_csv))
        elif self.dataset in DEFAULT_PAIRS_FILES:
            candidates = [os.path.join(self.dataset_root, DEFAULT_PAIRS_FILES[self.dataset])]
        else:
            candidates = [os.path.join(self.dataset_root, n) for n in DEFAULT_PAIRS_FILES.values()]
        for candidate in candidates:
            if os.path.isfile(candidate):
                return candidate
        raise FileNotFoundError(
            f"Pairs file not found; looked for {candidates}. Give it with pairs_csv (--pairs_csv)."
        )

    def read_pairs(self):
        """Finds and reads the pairs file (every row and image path checked).

        Returns:
            `(pairs_csv, dataset_format, pairs)`: the file read, 'pf-willow'
            or 'pf-pascal', and its `KeypointPair`s.

        Raises:
            FileNotFoundError: no pairs file, or an image it names is missing.
            ValueError: a header or row the format does not allow.
        """
        from keras_geomatch.evaluation import keypoint_pairs

        pairs_csv = self.resolve_pairs_csv()
        if self.dataset == "auto":
            dataset_format = keypoint_pairs.detect_pair_format(pairs_csv)
        else:
            dataset_format = self.dataset
        pairs = keypoint_pairs.read_keypoint_pairs(
            pairs_csv, self.dataset_root, format=dataset_format
        )
        return pairs_csv, dataset_format, pairs

    def resolve_output_json(self, dataset_format):
        """The JSON path to write, or None for none.

        Default: `evaluations/pck_<dataset>_<model>.json` under the working
        directory, never inside a model's folder (an export replaces that
        folder as a whole). `<model>` is a shipped model's name, or the
        folder name of a `.keras` file (`saved_models/NAME/model.keras` →
        NAME); two stages are joined by '+'.
        """
        if self.output_json is not None:
            return self.output_json or None
        label = "+".join(_model_label(m) for m in (self.model, self.model2) if m)
        return os.path.join("evaluations", f"pck_{dataset_format}_{label}.json")


def _as_alphas(value):
    """`value` (one number or several) as a non-empty tuple of finite floats >= 0."""
    if isinstance(value, (str, bytes)):
        items = (value,)
    else:
        try:
            items = tuple(value)
        except TypeError:  # one number (a NumPy scalar or 0-d array included)
            items = (value,)
    try:
        alphas = tuple(float(a) for a in items)
    except (TypeError, ValueError):
        alphas = ()
    if not alphas or not all(math.isfinite(a) and a >= 0 for a in alphas):
        raise ValueError(f"Expected one or more finite alphas >= 0. Received: alphas={value!r}")
    return alphas


def _model_label(model):
    if not isinstance(model, (str, os.PathLike)):
        return getattr(model, "name", "model")
    path = os.path.abspath(os.fspath(model))
    stem = os.path.splitext(os.path.basename(path))[0]
    folder = os.path.basename(os.path.dirname(path))
    label = folder if stem == "model" and folder else stem
    return label if os.path.exists(path) else os.fspath(model)
