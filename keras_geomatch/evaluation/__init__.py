"""Evaluation of keras-geomatch: keypoint pairs files and PCK (SPEC §4).

Points are `(x, y)` in 0-based pixel coordinates everywhere in this package;
the readers convert the 1-based values of the PF-WILLOW / PF-PASCAL files.

`EvaluationConfig` is imported here (it starts neither NumPy nor
TensorFlow); the rest on first use, so that `trainers/evaluate.py` reads and
checks its settings before TensorFlow starts.
"""

from keras_geomatch.evaluation.evaluation_config import EvaluationConfig
from keras_geomatch.lazy_names import lazy_names

# Public name -> the submodule defining it (NumPy; evaluate: TensorFlow too).
_LAZY = {
    "FixtureDataset": "fixture_dataset",
    "make_fixture_dataset": "fixture_dataset",
    "PAIR_FORMATS": "keypoint_pairs",
    "KeypointPair": "keypoint_pairs",
    "detect_pair_format": "keypoint_pairs",
    "read_keypoint_pairs": "keypoint_pairs",
    "read_pf_pascal_pairs": "keypoint_pairs",
    "read_pf_willow_pairs": "keypoint_pairs",
    "PckAccumulator": "pck",
    "pck_per_pair": "pck",
    "pck_reference_length": "pck",
    "EvaluationResult": "evaluate",
    "evaluate_keypoint_pairs": "evaluate",
    "run_evaluation": "evaluate",
    "FeatureCache": "feature_cache",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
