"""PCK evaluation end to end on small datasets whose exact PCK is known in advance.

The models are real geomatch models (small backbone, 88×88); for exact
answers, `constant_theta_model` sets the final Dense kernel to zero and its
bias to θ, so the real pipeline outputs θ for every pair and the expected
PCK follows in numpy, independently of the code under test.
"""

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_geomatch.evaluation import EvaluationConfig
from keras_geomatch.evaluation import evaluate_keypoint_pairs
from keras_geomatch.evaluation import make_fixture_dataset
from keras_geomatch.evaluation import read_keypoint_pairs
from keras_geomatch.evaluation import run_evaluation
from keras_geomatch.inference import align
from keras_geomatch.inference import model_loading
from keras_geomatch.models import mixed_precision
from tests.inference.tiny_models import constant_theta_model
from tests.inference.tiny_models import normalised_to_pixels
from tests.inference.tiny_models import numpy_affine_map
from tests.inference.tiny_models import numpy_tps_map
from tests.inference.tiny_models import pixels_to_normalised
from tests.inference.tiny_models import tiny_model

IDENTITY_AFFINE = np.array([1.0, 0, 0, 0, 1.0, 0])
SHIFT_AFFINE = np.array([1.0, 0, 0.125, 0, 1.0, 0])  # x_n + 0.125
TPS_IDENTITY = np.concatenate([np.repeat([-1.0, 0, 1], 3), np.tile([-1.0, 0, 1], 3)])
TPS_BENT = TPS_IDENTITY + 0.06 * np.sin(np.arange(18))


def write_willow_csv(path, root, rows):
    """rows: (image A path, image B path, A points, B points), points 0-based; written 1-based."""
    num_points = len(rows[0][2])
    header = ["imageA", "imageB"] + [
        f"{c}{i}" for c in ("XA", "YA", "XB", "YB") for i in range(1, num_points + 1)
    ]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for image_a, image_b, points_a, points_b in rows:
            points_a, points_b = np.asarray(points_a), np.asarray(points_b)
            values = [*points_a[:, 0], *points_a[:, 1], *points_b[:, 0], *points_b[:, 1]]
            writer.writerow(
                [os.path.relpath(image_a, root), os.path.relpath(image_b, root)]
                + [repr(float(v) + 1) for v in values]
            )
    return str(path)


def numpy_pck(predicted, source_points, alphas):
    """SPEC §4, written out: L = longer bbox side of A's points; inclusive threshold."""
    length = np.max(source_points.max(0) - source_points.min(0))
    distances = np.linalg.norm(predicted - source_points, axis=1)
    for alpha in alphas:  # the test's own sanity: no point sits on a threshold
        assert np.min(np.abs(distances - alpha * length)) > 1e-3
    return np.array([np.mean(distances <= alpha * length) for alpha in alphas])


def expected_points(pair, stages, target_size, source_size):
    points = pixels_to_normalised(pair.target_points, target_size)
    for name, theta in reversed(stages):
        points = (
            numpy_affine_map(theta, points) if name == "affine" else numpy_tps_map(theta, points)
        )
    return normalised_to_pixels(points, source_size)


# === A hand-made dataset: two pairs, four points each, hand-computed PCK ===


@pytest.fixture(scope="module")
def hand_dataset(tmp_path_factory):
    """Pair 1 (cat1): A 41×81, B 21×41 (H×W); pair 2 (cat2): A 21×41, B 41×81.

    Identity θ rescales by (W_A - 1)/(W_B - 1), (H_A - 1)/(H_B - 1): ×2 for
    pair 1, ×1/2 for pair 2.
    Pair 1: A points (0,0) (40,0) (40,20) (0,20), L = 40; B points
    (0,0) (20,0.5) (20,8.5) (1.5,8) → (0,0) (40,1) (40,17) (3,16): errors
    0, 1, 3, 5.
    Pair 2: A points (0,0) (10,0) (0,5) (10,5), L = 10; B points
    (0,0.6) (21.6,0) (0,12.4) (20,17) → (0,0.3) (10.8,0) (0,6.2) (10,8.5):
    errors 0.3, 0.8, 1.2, 3.5.
    """
    root = tmp_path_factory.mktemp("hand")
    rng = np.random.default_rng(0)
    sizes = {
        "cat1/a.png": (41, 81),
        "cat1/b.png": (21, 41),
        "cat2/a.png": (21, 41),
        "cat2/b.png": (41, 81),
    }
    for name, size in sizes.items():
        os.makedirs(root / os.path.dirname(name), exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / name)
    rows = [
        (
            root / "cat1/a.png",
            root / "cat1/b.png",
            [[0, 0], [40, 0], [40, 20], [0, 20]],
            [[0, 0], [20, 0.5], [20, 8.5], [1.5, 8]],
        ),
        (
            root / "cat2/a.png",
            root / "cat2/b.png",
            [[0, 0], [10, 0], [0, 5], [10, 5]],
            [[0, 0.6], [21.6, 0], [0, 12.4], [20, 17]],
        ),
    ]
    csv_path = write_willow_csv(root / "test_pairs_pf.csv", root, rows)
    return str(root), csv_path


HAND_ALPHAS = (0.05, 0.1, 0.15, 0.3)
# Thresholds α·L: pair 1 [2, 4, 6, 12], pair 2 [0.5, 1, 1.5, 3].
HAND_IDENTITY = {
    "cat1": [0.5, 0.75, 1.0, 1.0],
    "cat2": [0.25, 0.5, 0.75, 0.75],
    "all": [0.375, 0.625, 0.875, 0.875],
}
# θ shifts x_n by 0.125: +5 px in A for pair 1 (W_A = 81), +2.5 px for pair 2 (W_A = 41).
# Pair 1 errors: 5, √26 = 5.10, √34 = 5.83, √80 = 8.94; pair 2: 2.52, 3.3, 2.77, 4.30.
HAND_SHIFT = {
    "cat1": [0.0, 0.0, 0.75, 1.0],
    "cat2": [0.0, 0.0, 0.0, 0.5],
    "all": [0.0, 0.0, 0.375, 0.75],
}


def test_hand_checked_pck_of_identity_baseline_and_a_shifted_theta(hand_dataset):
    root, csv_path = hand_dataset
    pairs = read_keypoint_pairs(csv_path, root)
    for theta, expected in ((IDENTITY_AFFINE, HAND_IDENTITY), (SHIFT_AFFINE, HAND_SHIFT)):
        result = evaluate_keypoint_pairs(
            pairs, constant_theta_model("affine", theta), alphas=HAND_ALPHAS
        )
        table = result.to_dict(per_pair=False)["pck"]
        for name, values in expected.items():
            np.testing.assert_allclose(table["affine"][name], values, atol=1e-12)
            np.testing.assert_allclose(table["identity"][name], HAND_IDENTITY[name], atol=1e-12)


# === The synthetic fixture dataset (helper-1's generator) ===


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return make_fixture_dataset(tmp_path_factory.mktemp("fixture"), num_images=3, seed=3)


@pytest.fixture(scope="module")
def fixture_pairs(fixture):
    return read_keypoint_pairs(fixture.willow_csv, fixture.root)


def test_oracle_theta_scores_one_and_other_numbers_match_numpy(fixture, fixture_pairs):
    first, second = fixture.categories
    theta = fixture.affine_theta(first)
    alphas = (0.02, 0.05, 0.1)
    result = evaluate_keypoint_pairs(
        fixture_pairs, constant_theta_model("affine", theta), alphas=alphas, batch_size=4
    )
    category_pck = result.pck.category_pck()
    np.testing.assert_allclose(category_pck[first], [1.0, 1.0, 1.0])  # the exact map of `first`

    size = fixture.image_size
    model_rows, identity_rows = [], []
    for pair in fixture_pairs:
        model_rows.append(
            numpy_pck(
                expected_points(pair, [("affine", theta)], size, size), pair.source_points, alphas
            )
        )
        identity_rows.append(
            numpy_pck(pair.target_points, pair.source_points, alphas)
        )  # same sizes: identity
    model_rows, identity_rows = np.array(model_rows), np.array(identity_rows)
    np.testing.assert_allclose(result.pck.pair_pck, model_rows, atol=1e-12)
    np.testing.assert_allclose(result.identity_pck.pair_pck, identity_rows, atol=1e-12)
    np.testing.assert_allclose(result.pck.dataset_pck(), model_rows.mean(0), atol=1e-12)
    # The test means something: the other category is not perfect, the identity is worse.
    assert category_pck[second][0] < 1.0
    assert result.identity_pck.dataset_pck()[1] < result.pck.dataset_pck()[1]


def test_two_stage_pck_maps_points_through_theta1_of_theta2(fixture, fixture_pairs):
    theta1 = fixture.affine_theta(fixture.categories[1])
    alphas = (0.03, 0.1)
    result = evaluate_keypoint_pairs(
        fixture_pairs,
        constant_theta_model("affine", theta1),
        constant_theta_model("tps", TPS_BENT, image_size=(96, 96)),
        alphas=alphas,
        batch_size=4,
    )
    assert result.method == "affine+tps"
    np.testing.assert_allclose(
        result.thetas2, np.tile(TPS_BENT, (len(fixture_pairs), 1)), atol=1e-6
    )
    size = fixture.image_size
    stages = [("affine", theta1), ("tps", TPS_BENT)]
    expected = np.array(
        [
            numpy_pck(expected_points(p, stages, size, size), p.source_points, alphas)
            for p in fixture_pairs
        ]
    )
    np.testing.assert_allclose(result.pck.pair_pck, expected, atol=1e-12)
    one_stage = evaluate_keypoint_pairs(
        fixture_pairs, constant_theta_model("affine", theta1), alphas=alphas
    )
    assert not np.allclose(one_stage.pck.pair_pck, expected)  # the TPS stage mattered


def test_pf_pascal_file_gives_the_same_pck_as_pf_willow(fixture, fixture_pairs):
    model = constant_theta_model("affine", fixture.affine_theta(fixture.categories[0]))
    willow = evaluate_keypoint_pairs(fixture_pairs, model, alphas=(0.05, 0.1))
    pascal = evaluate_keypoint_pairs(
        read_keypoint_pairs(fixture.pascal_csv, fixture.root), model, alphas=(0.05, 0.1)
    )
    np.testing.assert_allclose(pascal.pck.pair_pck, willow.pck.pair_pck)
    np.testing.assert_allclose(pascal.identity_pck.pair_pck, willow.identity_pck.pair_pck)
    assert sorted(pascal.pck.category_pck()) == ["1", "2"]


# === Feature cache: each image through the backbone once, same θ as the full model ===


@pytest.fixture(scope="module")
def reuse_csv(fixture, fixture_pairs, tmp_path_factory):
    """All (source_i, target_j) combinations within a category: images reused."""
    rows = []
    for category in fixture.categories:
        members = [p for p in fixture_pairs if p.category == category]
        for a in members:
            for b in members:
                rows.append((a.source_path, b.target_path, a.source_points, a.target_points))
    path = tmp_path_factory.mktemp("reuse") / "pairs.csv"
    return write_willow_csv(path, fixture.root, rows)


def test_cache_runs_each_image_through_the_backbone_once(fixture, reuse_csv):
    pairs = read_keypoint_pairs(reuse_csv, fixture.root)
    assert len(pairs) == 18
    model = tiny_model("affine", seed=4)
    cached = evaluate_keypoint_pairs(pairs, model, alphas=(0.1, 0.2), batch_size=4)
    uncached = evaluate_keypoint_pairs(
        pairs, model, alphas=(0.1, 0.2), batch_size=5, use_feature_cache=False
    )
    assert cached.num_distinct_images == 12
    assert cached.num_backbone_images == 12
    assert uncached.num_backbone_images == 36
    np.testing.assert_allclose(cached.thetas, uncached.thetas, atol=1e-5)
    np.testing.assert_allclose(cached.pck.pair_pck, uncached.pck.pair_pck)
    assert np.ptp(cached.thetas, axis=0).max() > 1e-4  # θ differs between pairs


def test_two_stage_cache_caches_only_the_targets_second_stage_features(fixture, reuse_csv):
    pairs = read_keypoint_pairs(reuse_csv, fixture.root)
    model1, model2 = tiny_model("affine", seed=5), tiny_model("tps", image_size=(96, 104), seed=6)
    cached = evaluate_keypoint_pairs(pairs, model1, model2, batch_size=4)
    uncached = evaluate_keypoint_pairs(pairs, model1, model2, batch_size=4, use_feature_cache=False)
    # Stage 1: 12 images. Stage 2: the 6 targets once, A1 once per pair (18).
    assert cached.num_backbone_images == 12 + 6 + 18
    # Without cache: stage 1 for 2 images per pair, stage 2 for B and A1 per pair.
    assert uncached.num_backbone_images == 36 + 18 + 18
    np.testing.assert_allclose(cached.thetas2, uncached.thetas2, atol=1e-5)
    assert "only B's second-stage features are cached" in cached.to_dict()["feature_cache_note"]


def test_evaluation_theta_equals_align_with_the_full_models(fixture, reuse_csv):
    pairs = read_keypoint_pairs(reuse_csv, fixture.root)[::5]
    model1, model2 = tiny_model("affine", seed=7), tiny_model("tps", image_size=(96, 104), seed=8)
    result = evaluate_keypoint_pairs(pairs, model1, model2, batch_size=3)
    for index, pair in enumerate(pairs):
        aligned = align(model1, pair.source_path, pair.target_path, model2=model2)
        (_, theta1), (_, theta2) = aligned.stages
        np.testing.assert_allclose(result.thetas[index], theta1, atol=1e-5)
        np.testing.assert_allclose(result.thetas2[index], theta2, atol=1e-5)


def test_batch_size_does_not_change_the_result(fixture, fixture_pairs):
    model = tiny_model("affine", seed=9)
    one = evaluate_keypoint_pairs(fixture_pairs, model, alphas=(0.1,), batch_size=1)
    many = evaluate_keypoint_pairs(fixture_pairs, model, alphas=(0.1,), batch_size=16)
    np.testing.assert_allclose(one.thetas, many.thetas, atol=1e-5)


def test_progress_bar_and_table(fixture, fixture_pairs, capsys):
    result = evaluate_keypoint_pairs(
        fixture_pairs,
        constant_theta_model("affine", IDENTITY_AFFINE),
        alphas=(0.05, 0.1),
        verbose=1,
    )
    assert "6/6" in capsys.readouterr().out  # keras.utils.Progbar, counted in pairs
    lines = result.format_table().splitlines()
    assert lines[0].split() == [
        "category",
        "pairs",
        "identity@0.05",
        "identity@0.1",
        "affine@0.05",
        "affine@0.1",
    ]
    assert [line.split()[0] for line in lines[1:]] == [*fixture.categories, "all"]
    # An identity θ model scores exactly the identity baseline.
    for line in lines[1:]:
        cells = line.split()
        assert cells[2:4] == cells[4:6]


def test_no_pairs_is_a_value_error():
    with pytest.raises(ValueError, match="at least one keypoint pair"):
        evaluate_keypoint_pairs([], constant_theta_model("affine", IDENTITY_AFFINE))


# === run_evaluation: files in, table and JSON out ===


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, fixture):
    folder = tmp_path_factory.mktemp("saved")
    constant_theta_model("affine", fixture.affine_theta(fixture.categories[0])).save(
        folder / "affine.keras"
    )
    constant_theta_model("tps", TPS_BENT, image_size=(96, 96)).save(folder / "tps.keras")
    return folder


def test_run_evaluation_prints_a_table_and_writes_json(fixture, saved_models, tmp_path):
    lines = []
    config = EvaluationConfig(
        model=str(saved_models / "affine.keras"),
        model2=str(saved_models / "tps.keras"),
        dataset="pf-pascal",
        dataset_root=fixture.root,
        alphas=(0.05, 0.1),
        batch_size=4,
        output_json=str(tmp_path / "out" / "result.json"),
        verbose=0,
    )
    result = run_evaluation(config, print_fn=lines.append)
    text = "\n".join(lines)
    assert "Pairs: 6 from" in text and "(pf-pascal)" in text and "feature cache on" in text
    assert "only B's second-stage features are cached" in text
    assert result.format_table() in text
    document = json.loads((tmp_path / "out" / "result.json").read_text())
    assert document["config"]["alphas"] == [0.05, 0.1]
    assert document["dataset"] == "pf-pascal" and document["method"] == "affine+tps"
    assert document["pck"]["affine+tps"]["all"] == result.pck.dataset_pck().tolist()
    assert document["pck"]["identity"]["all"] == result.identity_pck.dataset_pck().tolist()
    assert set(document["pck"]["identity"]) == {"all", "1", "2"}
    assert len(document["pairs"]) == 6 and len(document["pairs"][0]["theta2"]) == 18
    assert document["models"][0].startswith("affine, 88×88 input")
    # The default policy is 'auto': what it resolved to is printed and recorded.
    policy, why = mixed_precision.resolve_dtype_policy("auto")
    assert f"Computing in {policy} ({why})" in text
    assert document["config"]["mixed_precision"] == "auto"
    assert document["mixed_precision"] == policy


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_run_evaluation_computes_under_the_policy_asked_for(fixture, saved_models, tmp_path,
                                                            policy, monkeypatch):
    loaded = []
    load = model_loading.load_geomatch_model

    def recording_load(path, mixed_precision=None):
        model = load(path, mixed_precision=mixed_precision)
        loaded.append(model)
        return model

    monkeypatch.setattr(model_loading, "load_geomatch_model", recording_load)
    config = EvaluationConfig(model=str(saved_models / "affine.keras"), dataset_root=fixture.root,
                              output_json=str(tmp_path / "r.json"), verbose=0,
                              mixed_precision=policy)
    run_evaluation(config, print_fn=lambda *_: None)
    backbone = loaded[0].get_layer("feature_extraction")
    assert backbone.layers[1].dtype_policy.name == policy
    assert loaded[0].get_layer("feature_correlation").dtype_policy.name == "float32"
    assert json.loads((tmp_path / "r.json").read_text())["mixed_precision"] == policy


def test_run_evaluation_finds_the_default_pairs_file_and_output(
    fixture, saved_models, tmp_path, monkeypatch
):
    model_path = tmp_path / "m" / "model.keras"
    os.makedirs(model_path.parent)
    os.link(saved_models / "affine.keras", model_path)
    config = EvaluationConfig(model=str(model_path), dataset_root=fixture.root, verbose=0)
    assert config.resolve_pairs_csv() == os.path.join(fixture.root, "test_pairs_pf.csv")
    monkeypatch.chdir(tmp_path)
    run_evaluation(config, print_fn=lambda *_: None)
    # Not inside the model's folder, which an export replaces as a whole.
    assert os.path.isfile(tmp_path / "evaluations" / "pck_pf-willow_m.json")
    assert not os.path.exists(tmp_path / "m" / "pck_pf-willow.json")

    quiet = EvaluationConfig(
        model=str(model_path),
        dataset_root=fixture.root,
        output_json="",
        verbose=0,
        pairs_csv="test_pairs_pf_pascal.csv",
    )
    assert quiet.resolve_pairs_csv() == os.path.join(fixture.root, "test_pairs_pf_pascal.csv")
    assert quiet.resolve_output_json("pf-pascal") is None


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset"):
        EvaluationConfig(model="m.keras", dataset_root=".", dataset="willow")
    with pytest.raises(ValueError, match="alphas >= 0"):
        EvaluationConfig(model="m.keras", dataset_root=".", alphas=(-0.1,))
    with pytest.raises(ValueError, match="batch_size >= 1"):
        EvaluationConfig(model="m.keras", dataset_root=".", batch_size=0)
    with pytest.raises(FileNotFoundError, match="Pairs file not found"):
        EvaluationConfig(model="m.keras", dataset_root=str(tmp_path)).resolve_pairs_csv()
    assert EvaluationConfig(model="m.keras", dataset_root=".", alphas=0.1).alphas == (0.1,)
    with pytest.raises(ValueError, match="Unknown mixed_precision"):
        EvaluationConfig(model="m.keras", dataset_root=".", mixed_precision="mixed_float16")


def test_a_trained_like_model_evaluates_under_bf16_close_to_float32(fixture, tmp_path):
    # θ depends on the images here (not a constant-θ model): under bf16 the
    # model's one backbone call on [A; B] and the cached per-image features
    # round differently; the evaluation must still run and agree closely.
    path = tmp_path / "tiny.keras"
    tiny_model("affine").save(path)
    results = {}
    for policy in ("float32", "mixed_bfloat16"):
        config = EvaluationConfig(model=str(path), dataset_root=fixture.root, output_json="",
                                  verbose=0, mixed_precision=policy)
        results[policy] = run_evaluation(config, print_fn=lambda *_: None)
    float32, bf16 = results["float32"], results["mixed_bfloat16"]
    assert not np.array_equal(float32.thetas, bf16.thetas)
    np.testing.assert_allclose(bf16.thetas, float32.thetas, atol=2e-2)
    np.testing.assert_allclose(bf16.pck.dataset_pck(), float32.pck.dataset_pck(), atol=0.05)


def test_a_shipped_model_is_evaluated_by_name(fixture, tmp_path, monkeypatch):
    config = EvaluationConfig(model="affine_tps_vgg16", dataset_root=fixture.root, verbose=0,
                              mixed_precision="float32")
    assert config.resolve_output_json("pf-willow") == os.path.join(
        "evaluations", "pck_pf-willow_affine_tps_vgg16.json")
    monkeypatch.chdir(tmp_path)
    result = run_evaluation(config, print_fn=lambda *_: None)
    assert result.method == "affine+tps" and result.thetas2.shape[1] == 18
    assert os.path.isfile(tmp_path / "evaluations" / "pck_pf-willow_affine_tps_vgg16.json")
