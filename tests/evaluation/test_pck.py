import json

import numpy as np
import pytest

from keras_geomatch.evaluation import PckAccumulator
from keras_geomatch.evaluation import pck_per_pair
from keras_geomatch.evaluation import pck_reference_length

# Hand-checked example. Source keypoints at the corners of a 32 x 24 box:
#   (0, 0), (32, 0), (0, 24), (32, 24)  ->  L = max(32, 24) = 32.
# Predictions offset by (0, 0), (4, 0), (1, 1), (3, 4): distances 0, 4, 1.414, 5.
#   α = 0.125  -> threshold 4.0 (exact in binary): 0, 4 (bound inclusive), 1.414 -> 3/4
#   α = 0.0625 -> threshold 2.0: 0, 1.414                                          -> 2/4
#   α = 0.25   -> threshold 8.0: all                                               -> 4/4
#   α = 0      -> only the exact point                                             -> 1/4
SOURCE = np.array([[0.0, 0.0], [32.0, 0.0], [0.0, 24.0], [32.0, 24.0]])
PREDICTED = SOURCE + np.array([[0.0, 0.0], [4.0, 0.0], [1.0, 1.0], [3.0, 4.0]])


def test_reference_length_is_longer_bounding_box_side():
    assert pck_reference_length(SOURCE) == 32.0
    assert pck_reference_length(SOURCE[:, ::-1]) == 32.0  # y is now the longer side
    assert pck_reference_length([[5.0, 7.0], [6.0, 17.0], [8.0, 9.0]]) == 10.0


@pytest.mark.parametrize(
    "alpha, expected", [(0.125, 0.75), (0.0625, 0.5), (0.25, 1.0), (0.0, 0.25)]
)
def test_hand_checked_pck(alpha, expected):
    result = pck_per_pair(PREDICTED, SOURCE, alpha)
    assert isinstance(result, float)
    assert result == expected


def test_several_alphas_at_once():
    result = pck_per_pair(PREDICTED, SOURCE, [0.0, 0.0625, 0.125, 0.25])
    assert result.shape == (4,)
    np.testing.assert_array_equal(result, [0.25, 0.5, 0.75, 1.0])


def test_reference_length_comes_from_source_not_prediction():
    far = PREDICTED.copy()
    far[3] = [1000.0, 1000.0]  # a wild prediction must not widen the threshold
    assert pck_per_pair(far, SOURCE, 0.125) == 0.75


def test_nan_prediction_counts_as_incorrect():
    predicted = PREDICTED.copy()
    predicted[0] = np.nan
    assert pck_per_pair(predicted, SOURCE, 0.25) == 0.75


@pytest.mark.parametrize(
    "predicted, source, alpha, match",
    [
        (np.zeros((3, 2)), np.zeros((4, 2)), 0.1, r"shape of source_points \(4, 2\).*\(3, 2\)"),
        (
            np.zeros((4, 3)),
            np.zeros((4, 3)),
            0.1,
            r"source_points must be an array of shape \(N, 2\).*\(4, 3\)",
        ),
        (np.zeros((0, 2)), np.zeros((0, 2)), 0.1, r"N >= 1.*\(0, 2\)"),
        (PREDICTED, SOURCE, -0.1, r"alpha must be a finite number >= 0.*-0.1"),
        (PREDICTED, SOURCE, [[0.1]], r"alpha must be.*1-D"),
        (PREDICTED, SOURCE, [], r"non-empty"),
        (PREDICTED, np.full((4, 2), np.inf), 0.1, r"source_points must be finite"),
    ],
)
def test_pck_validation(predicted, source, alpha, match):
    with pytest.raises(ValueError, match=match):
        pck_per_pair(predicted, source, alpha)


def make_accumulator():
    """Three pairs; PCK at (α=0.0625, α=0.125):
    car  : hand-checked pair -> (0.5, 0.75)
    car  : 2 points, one exact, one off by 10 with L = 10 -> (0.5, 0.5)
    duck : given directly (0.0, 1.0)
    """
    acc = PckAccumulator(alphas=(0.0625, 0.125))
    acc.add(PREDICTED, SOURCE, category="car")
    acc.add([[0.0, 0.0], [0.0, 10.0]], [[0.0, 0.0], [10.0, 10.0]], category="car")
    acc.add_pair_pck([0.0, 1.0], category="duck")
    return acc


def test_accumulator_averages_over_pairs_and_categories():
    acc = make_accumulator()
    assert acc.num_pairs == 3
    assert acc.alphas == (0.0625, 0.125)
    # Mean over pairs, not over pooled keypoints (which would give 4/6 at α=0.125 for car).
    np.testing.assert_allclose(acc.dataset_pck(), [(0.5 + 0.5 + 0.0) / 3, (0.75 + 0.5 + 1.0) / 3])
    per_category = acc.category_pck()
    assert list(per_category) == ["car", "duck"]
    np.testing.assert_allclose(per_category["car"], [0.5, 0.625])
    np.testing.assert_allclose(per_category["duck"], [0.0, 1.0])
    assert acc.category_counts() == {"car": 2, "duck": 1}
    assert acc.pair_pck.shape == (3, 2)
    assert acc.pair_categories == ["car", "car", "duck"]


def test_pairs_without_category_count_in_all_only():
    acc = PckAccumulator(alphas=0.1)
    acc.add_pair_pck([1.0], category=None)
    acc.add_pair_pck(0.0, category=3)  # a PF-PASCAL class index becomes "3"
    np.testing.assert_allclose(acc.dataset_pck(), [0.5])
    assert list(acc.category_pck()) == ["3"]


def test_accumulator_to_dict_is_json_serialisable():
    summary = json.loads(json.dumps(make_accumulator().to_dict()))
    assert summary["alphas"] == [0.0625, 0.125]
    assert summary["num_pairs"] == 3
    assert summary["num_pairs_per_category"] == {"car": 2, "duck": 1}
    assert summary["pck"]["car"] == [0.5, 0.625]
    np.testing.assert_allclose(summary["pck"]["all"], [1.0 / 3, 0.75])


def test_accumulator_format_table():
    table = make_accumulator().format_table(digits=3)
    assert table.splitlines() == [
        "category  pairs  PCK@0.0625  PCK@0.125",
        "car           2       0.500      0.625",
        "duck          1       0.000      1.000",
        "all           3       0.333      0.750",
    ]


def test_accumulator_errors():
    acc = PckAccumulator(alphas=(0.05, 0.1))
    with pytest.raises(ValueError, match="No pairs were added"):
        acc.dataset_pck()
    with pytest.raises(
        ValueError, match=r"one value per alpha, shape \(2,\).*Received: shape=\(3,\)"
    ):
        acc.add_pair_pck([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"fractions in \[0, 1\]"):
        acc.add_pair_pck([0.1, 1.5])
    with pytest.raises(ValueError, match="alpha must be"):
        PckAccumulator(alphas=())
    assert acc.num_pairs == 0  # failed adds record nothing
