import os

import cv2
import numpy as np
import pytest

from keras_geomatch.evaluation import PckAccumulator
from keras_geomatch.evaluation import make_fixture_dataset
from keras_geomatch.evaluation import pck_per_pair
from keras_geomatch.evaluation import pck_reference_length
from keras_geomatch.evaluation import read_keypoint_pairs
from keras_geomatch.evaluation import read_pf_pascal_pairs
from keras_geomatch.evaluation import read_pf_willow_pairs


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_fixture_dataset(tmp_path_factory.mktemp("fixture"), num_images=3, seed=7)


def test_files_exist_with_the_requested_size(dataset):
    assert os.path.isfile(dataset.willow_csv) and os.path.isfile(dataset.pascal_csv)
    assert len(dataset.categories) >= 2
    for category in dataset.categories:
        names = sorted(os.listdir(os.path.join(dataset.root, "images", category)))
        assert len(names) == 6  # 3 pairs: a source and a target each
        image = cv2.imread(os.path.join(dataset.root, "images", category, names[0]))
        assert image.shape == (64, 80, 3)
        assert image.std() > 10  # textured, not flat


def test_both_csvs_parse_and_describe_the_same_pairs(dataset):
    willow = read_pf_willow_pairs(dataset.willow_csv, dataset.root)
    pascal = read_pf_pascal_pairs(dataset.pascal_csv, dataset.root)
    assert len(willow) == len(pascal) == dataset.num_pairs == 6
    assert [p.category for p in read_keypoint_pairs(dataset.pascal_csv, dataset.root)] == [
        p.category for p in pascal
    ]
    for w, p in zip(willow, pascal, strict=True):
        assert w.source_path == p.source_path and w.target_path == p.target_path
        np.testing.assert_array_equal(w.source_points, p.source_points)
        np.testing.assert_array_equal(w.target_points, p.target_points)
        assert w.num_points == 10
        assert p.category == dataset.pascal_class(w.category)
    assert sorted({w.category for w in willow}) == sorted(dataset.categories)


def test_keypoints_stay_inside_both_images(dataset):
    height, width = dataset.image_size
    for pair in read_pf_willow_pairs(dataset.willow_csv, dataset.root):
        for points in (pair.source_points, pair.target_points):
            assert np.all(points >= 0)
            assert np.all(points <= (width - 1, height - 1))


def test_known_transform_maps_source_keypoints_to_target_keypoints(dataset):
    for pair in read_pf_willow_pairs(dataset.willow_csv, dataset.root):
        matrix = dataset.transforms[pair.category]
        mapped = pair.source_points @ matrix[:, :2].T + matrix[:, 2]
        np.testing.assert_allclose(mapped, pair.target_points, atol=1e-9)
        np.testing.assert_allclose(
            dataset.map_target_to_source(pair.target_points, pair.category),
            pair.source_points,
            atol=1e-9,
        )


def test_target_image_is_the_warped_source(dataset):
    pair = read_pf_willow_pairs(dataset.willow_csv, dataset.root)[0]
    source = cv2.imread(pair.source_path)
    target = cv2.imread(pair.target_path)
    matrix = dataset.transforms[pair.category]
    warped = cv2.warpAffine(
        source, matrix, (80, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    np.testing.assert_array_equal(warped, target)


def test_default_transforms_differ_per_category(dataset):
    first, second = (dataset.transforms[c] for c in dataset.categories[:2])
    assert not np.allclose(first, second)
    assert not np.allclose(first, [[1, 0, 0], [0, 1, 0]])


def test_oracle_prediction_scores_one(dataset):
    acc = PckAccumulator(alphas=(0.01, 0.1))
    for pair in read_pf_pascal_pairs(dataset.pascal_csv, dataset.root):
        predicted = dataset.map_target_to_source(
            pair.target_points, dataset.categories[int(pair.category) - 1]
        )
        acc.add(predicted, pair.source_points, pair.category)
    np.testing.assert_array_equal(acc.dataset_pck(), [1.0, 1.0])


def test_affine_theta_maps_normalised_target_points_to_source(dataset):
    height, width = dataset.image_size
    scale = np.array([width - 1.0, height - 1.0])
    for pair in read_pf_willow_pairs(dataset.willow_csv, dataset.root):
        theta = dataset.affine_theta(pair.category).reshape(2, 3)
        target_n = 2.0 * pair.target_points / scale - 1.0  # SPEC §2, corner-aligned
        source_n = target_n @ theta[:, :2].T + theta[:, 2]
        np.testing.assert_allclose((source_n + 1.0) * scale / 2.0, pair.source_points, atol=1e-9)


def test_identity_prediction_pck_computed_by_hand(tmp_path):
    # Category "moved" shifts every keypoint by (3, 4): the identity prediction is
    # exactly 5 px off for every point. Category "still" does not move.
    # Keypoints lie in x ∈ [2, 77 - 3] (margin 2, the shift keeps them inside), so
    # L <= 72 and at α = 0.05 the threshold is <= 3.6 < 5: "moved" scores 0.
    # At α = 1 the threshold is L >= 5 (checked below): "moved" scores 1.
    # "still" scores 1 at every α. Dataset PCK@0.05 = (0 + 0 + 1 + 1) / 4 = 0.5.
    transforms = {"moved": [[1, 0, 3], [0, 1, 4]], "still": [[1, 0, 0], [0, 1, 0]]}
    data = make_fixture_dataset(
        tmp_path, num_images=2, categories=("moved", "still"), transform=transforms, seed=1
    )
    acc = PckAccumulator(alphas=(0.05, 1.0))
    for pair in read_keypoint_pairs(data.willow_csv, data.root):
        assert pck_reference_length(pair.source_points) >= 5.0
        distances = np.linalg.norm(pair.target_points - pair.source_points, axis=1)
        np.testing.assert_array_equal(distances, 5.0 if pair.category == "moved" else 0.0)
        acc.add(pair.target_points, pair.source_points, pair.category)
    np.testing.assert_array_equal(acc.dataset_pck(), [0.5, 1.0])
    np.testing.assert_array_equal(acc.category_pck()["moved"], [0.0, 1.0])
    np.testing.assert_array_equal(acc.category_pck()["still"], [1.0, 1.0])
    np.testing.assert_array_equal(data.affine_theta("still"), [1, 0, 0, 0, 1, 0])


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    def contents(seed, folder):
        data = make_fixture_dataset(tmp_path / folder, num_images=1, seed=seed)
        with open(data.willow_csv) as f:
            text = f.read()
        return text.replace(str(tmp_path / folder), ""), cv2.imread(
            read_pf_willow_pairs(data.willow_csv, data.root)[0].source_path
        )

    text_a, image_a = contents(3, "a")
    text_b, image_b = contents(3, "b")
    text_c, image_c = contents(4, "c")
    assert text_a == text_b and np.array_equal(image_a, image_b)
    assert text_a != text_c and not np.array_equal(image_a, image_c)


def test_single_matrix_applies_to_every_category(tmp_path):
    data = make_fixture_dataset(tmp_path, num_images=1, transform=[[1, 0, 2], [0, 1, -1]])
    for matrix in data.transforms.values():
        np.testing.assert_array_equal(matrix, [[1, 0, 2], [0, 1, -1]])
    pair = read_pf_willow_pairs(data.willow_csv, data.root)[0]
    # Every point moves by sqrt(5) px, so the identity prediction misses at α = 0.
    assert pck_per_pair(pair.target_points, pair.source_points, 0.0) == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"transform": [[1, 0], [0, 1]]}, r"invertible, finite \(2, 3\) affine matrix"),
        ({"transform": [[0, 0, 0], [0, 0, 0]]}, r"invertible"),
        (
            {"transform": {"shapes(A)": [[1, 0, 0], [0, 1, 0]]}},
            r"no matrix for categories \['shapes\(B\)'\]",
        ),
        ({"transform": [[1, 0, 500], [0, 1, 0]]}, r"sends too little of the 64x80 image"),
        ({"categories": ("a", "a")}, r"non-empty and distinct"),
        ({"num_images": 0}, r"num_images=0"),
        ({"image_size": (4, 80)}, r"image_size must be"),
    ],
)
def test_make_fixture_dataset_validation(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_fixture_dataset(tmp_path, **kwargs)
