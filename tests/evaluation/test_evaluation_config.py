"""EvaluationConfig: TensorFlow-free, its choices pinned to the modules that use them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_geomatch.evaluation
from keras_geomatch.evaluation import EvaluationConfig
from keras_geomatch.evaluation import evaluate
from keras_geomatch.evaluation import evaluation_config
from keras_geomatch.evaluation import keypoint_pairs
from keras_geomatch.evaluation import make_fixture_dataset
from keras_geomatch.evaluation import read_keypoint_pairs
from keras_geomatch.models import mixed_precision

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_static_choices_are_those_of_the_modules_that_use_them():
    assert evaluation_config.DATASETS == keypoint_pairs.PAIR_FORMATS
    assert evaluation_config.MIXED_PRECISION_CHOICES == mixed_precision.INFERENCE_CHOICES
    assert set(evaluation_config.DEFAULT_PAIRS_FILES) == set(evaluation_config.DATASETS) - {"auto"}


def test_the_old_import_paths_give_the_same_class():
    assert evaluate.EvaluationConfig is EvaluationConfig is evaluation_config.EvaluationConfig
    assert keras_geomatch.evaluation.EvaluationConfig is EvaluationConfig
    assert evaluate.DEFAULT_PAIRS_FILES is evaluation_config.DEFAULT_PAIRS_FILES


@pytest.mark.parametrize(
    "alphas, expected",
    [
        (0.1, (0.1,)),
        (np.float32(0.25), (0.25,)),
        (np.array(0.5), (0.5,)),
        (np.array([0.05, 0.1]), (0.05, 0.1)),
        ([0, 1], (0.0, 1.0)),
        ("0.1", (0.1,)),
    ],
)
def test_alphas_become_a_tuple_of_floats(alphas, expected):
    config = EvaluationConfig(model="m.keras", dataset_root=".", alphas=alphas)
    assert config.alphas == expected
    assert all(type(a) is float for a in config.alphas)


@pytest.mark.parametrize("alphas", [(), (float("nan"),), (0.1, float("inf")), (-0.1,), "big",
                                    (None,)])
def test_bad_alphas_are_refused(alphas):
    with pytest.raises(ValueError, match="Expected one or more finite alphas >= 0"):
        EvaluationConfig(model="m.keras", dataset_root=".", alphas=alphas)


def test_read_pairs_finds_the_file_and_its_format(tmp_path):
    data = make_fixture_dataset(tmp_path / "data", num_images=2)
    pairs_csv, dataset_format, pairs = EvaluationConfig(
        model="m.keras", dataset_root=data.root
    ).read_pairs()
    assert pairs_csv == os.path.join(data.root, "test_pairs_pf.csv")
    assert dataset_format == "pf-willow"
    assert pairs == read_keypoint_pairs(pairs_csv, data.root)
    pascal = EvaluationConfig(model="m.keras", dataset_root=data.root, dataset="pf-pascal")
    pairs_csv, dataset_format, pairs = pascal.read_pairs()
    assert (os.path.basename(pairs_csv), dataset_format) == ("test_pairs_pf_pascal.csv",
                                                            "pf-pascal")
    assert pairs == read_keypoint_pairs(pairs_csv, data.root, format="pf-pascal")


def test_the_config_and_the_pairs_need_no_tensorflow(tmp_path):
    data = make_fixture_dataset(tmp_path / "data", num_images=2)
    probe = (
        "import json, sys\n"
        "from keras_geomatch.evaluation import EvaluationConfig\n"
        "config = EvaluationConfig(model='m.keras', dataset_root=sys.argv[1], alphas=(0.1, 0.2))\n"
        "loaded = [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules]\n"
        "pairs = config.read_pairs()[2]\n"
        "print(json.dumps([loaded, len(pairs), 'tensorflow' in sys.modules]))\n"
    )
    env = {**os.environ, "PYTHONPATH": REPO, "KERAS_GEOMATCH_DEFER_IMPORT": "1"}
    completed = subprocess.run([sys.executable, "-c", probe, data.root], capture_output=True,
                               text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    loaded, num_pairs, tensorflow = json.loads(completed.stdout)
    assert loaded == []
    assert num_pairs == len(read_keypoint_pairs(os.path.join(data.root, "test_pairs_pf.csv"),
                                                data.root))
    assert tensorflow is False
