"""Evaluation of keras-geomatch: keypoint pairs files and PCK (SPEC §4).

Points are `(x, y)` in 0-based pixel coordinates everywhere in this package;
the readers convert the 1-based values of the PF-WILLOW / PF-PASCAL files.
"""

from keras_geomatch.evaluation.fixture_dataset import FixtureDataset
from keras_geomatch.evaluation.fixture_dataset import make_fixture_dataset
from keras_geomatch.evaluation.keypoint_pairs import PAIR_FORMATS
from keras_geomatch.evaluation.keypoint_pairs import KeypointPair
from keras_geomatch.evaluation.keypoint_pairs import detect_pair_format
from keras_geomatch.evaluation.keypoint_pairs import read_keypoint_pairs
from keras_geomatch.evaluation.keypoint_pairs import read_pf_pascal_pairs
from keras_geomatch.evaluation.keypoint_pairs import read_pf_willow_pairs
from keras_geomatch.evaluation.pck import PckAccumulator
from keras_geomatch.evaluation.pck import pck_per_pair
from keras_geomatch.evaluation.pck import pck_reference_length
from keras_geomatch.evaluation.evaluate import EvaluationConfig
from keras_geomatch.evaluation.evaluate import EvaluationResult
from keras_geomatch.evaluation.evaluate import evaluate_keypoint_pairs
from keras_geomatch.evaluation.evaluate import run_evaluation
from keras_geomatch.evaluation.feature_cache import FeatureCache
