import dataclasses
import os

import numpy as np
import pytest

from keras_geomatch.evaluation import KeypointPair
from keras_geomatch.evaluation import detect_pair_format
from keras_geomatch.evaluation import read_keypoint_pairs
from keras_geomatch.evaluation import read_pf_pascal_pairs
from keras_geomatch.evaluation import read_pf_willow_pairs

WILLOW_HEADER_2 = "imageA,imageB,XA1,XA2,YA1,YA2,XB1,XB2,YB1,YB2"
PASCAL_HEADER = "source_image,target_image,class,XA,YA,XB,YB"


def write(tmp_path, name, text, images=()):
    """Writes a CSV file and empty image files, all under tmp_path."""
    for image in images:
        path = tmp_path / image
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    csv_path = tmp_path / name
    csv_path.write_text(text)
    return str(csv_path)


# --- KeypointPair ---------------------------------------------------------------


def test_keypoint_pair_converts_to_read_only_float64():
    pair = KeypointPair("/a.png", "/b.png", [[1, 2]], [[3, 4]], "car")
    assert pair.source_points.dtype == np.float64
    assert pair.num_points == 1
    with pytest.raises(ValueError):
        pair.source_points[0, 0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.category = "duck"


def test_keypoint_pair_equality_compares_points():
    a = KeypointPair("/a.png", "/b.png", [[1, 2]], [[3, 4]], "car")
    assert a == KeypointPair("/a.png", "/b.png", [[1.0, 2.0]], [[3.0, 4.0]], "car")
    assert a != KeypointPair("/a.png", "/b.png", [[1, 2]], [[3, 5]], "car")


@pytest.mark.parametrize(
    "source, target, match",
    [
        ([[1, 2, 3]], [[1, 2, 3]], r"source_points must be an array of shape \(N, 2\).*\(1, 3\)"),
        ([[1, 2]], [[1, 2], [3, 4]], r"same shape.*\(1, 2\).*\(2, 2\)"),
    ],
)
def test_keypoint_pair_rejects_bad_shapes(source, target, match):
    with pytest.raises(ValueError, match=match):
        KeypointPair("/a.png", "/b.png", source, target)


# --- PF-WILLOW -----------------------------------------------------------------


def test_willow_reads_zero_based_points_category_and_absolute_paths(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        f"{WILLOW_HEADER_2}\n"
        "PF-dataset/car(G)/a.png,PF-dataset/car(G)/b.png,1,11,2,22,101,111,102,122\n",
        images=["PF-dataset/car(G)/a.png", "PF-dataset/car(G)/b.png"],
    )
    (pair,) = read_pf_willow_pairs(csv_path, str(tmp_path))
    # File values are 1-based: x=1 in the file is column 0.
    np.testing.assert_array_equal(pair.source_points, [[0, 1], [10, 21]])
    np.testing.assert_array_equal(pair.target_points, [[100, 101], [110, 121]])
    assert pair.category == "car(G)"
    assert pair.source_path == os.path.join(str(tmp_path), "PF-dataset", "car(G)", "a.png")
    assert os.path.isabs(pair.target_path)


def test_willow_reads_ten_points_in_column_order(tmp_path):
    header = ["imageA", "imageB"] + [
        f"{c}{i}" for c in ("XA", "YA", "XB", "YB") for i in range(1, 11)
    ]
    values = np.arange(1, 41, dtype=float)  # XA1..XA10 = 1..10, YA = 11..20, ...
    csv_path = write(
        tmp_path,
        "pairs.csv",
        ",".join(header) + "\nduck(S)/a.png,duck(S)/b.png," + ",".join(map(str, values)) + "\n",
    )
    (pair,) = read_pf_willow_pairs(csv_path, str(tmp_path), check_images=False)
    np.testing.assert_array_equal(pair.source_points[:, 0], np.arange(0, 10))
    np.testing.assert_array_equal(pair.source_points[:, 1], np.arange(10, 20))
    np.testing.assert_array_equal(pair.target_points[:, 0], np.arange(20, 30))
    np.testing.assert_array_equal(pair.target_points[:, 1], np.arange(30, 40))
    assert pair.category == "duck(S)"


def test_willow_drops_negative_points_pairwise_and_skips_blank_lines(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        f"{WILLOW_HEADER_2}\n\nc/a.png,c/b.png,5,6,7,8,9,10,-1,12\n",
    )
    (pair,) = read_pf_willow_pairs(csv_path, str(tmp_path), check_images=False)
    # Point 1 has YB1 = -1: dropped from both images, point 2 stays aligned.
    np.testing.assert_array_equal(pair.source_points, [[5, 7]])
    np.testing.assert_array_equal(pair.target_points, [[9, 11]])


def test_willow_wrong_column_count_names_file_row_and_counts(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        f"{WILLOW_HEADER_2}\nc/a.png,c/b.png,1,2,3,4,5,6,7,8\nc/a.png,c/b.png,1,2,3,4,5,6,7\n",
    )
    with pytest.raises(ValueError) as error:
        read_pf_willow_pairs(csv_path, str(tmp_path), check_images=False)
    message = str(error.value)
    assert csv_path in message
    assert "row 2 (line 3)" in message
    assert "expected 10 columns" in message and "received 9" in message


def test_willow_non_numeric_value_names_column_and_value(tmp_path):
    csv_path = write(
        tmp_path, "pairs.csv", f"{WILLOW_HEADER_2}\nc/a.png,c/b.png,1,abc,3,4,5,6,7,8\n"
    )
    with pytest.raises(
        ValueError,
        match=r"pairs\.csv, row 1 \(line 2\): "
        r"expected a finite number in column XA2, received 'abc'",
    ):
        read_pf_willow_pairs(csv_path, str(tmp_path), check_images=False)


def test_willow_rejects_non_finite_value(tmp_path):
    csv_path = write(
        tmp_path, "pairs.csv", f"{WILLOW_HEADER_2}\nc/a.png,c/b.png,1,2,3,4,5,6,nan,8\n"
    )
    with pytest.raises(ValueError, match=r"row 1.*column YB1, received 'nan'"):
        read_pf_willow_pairs(csv_path, str(tmp_path), check_images=False)


@pytest.mark.parametrize(
    "header, match",
    [
        (
            "imageA,imageB,XA1,YA1,XB1",
            r"4 x n coordinate columns.*Received: 'imageA,imageB,XA1,YA1,XB1'",
        ),
        (
            "imageA,imageB,XA1,XA2,XB1,XB2,YA1,YA2,YB1,YB2",
            r"header column 5 expected 'YA1', received 'XB1'",
        ),
        ("source,target,XA1,YA1,XB1,YB1", r"expected a PF-WILLOW header"),
    ],
)
def test_willow_bad_header(tmp_path, header, match):
    csv_path = write(tmp_path, "pairs.csv", header + "\n")
    with pytest.raises(ValueError, match=match):
        read_pf_willow_pairs(csv_path, str(tmp_path))


def test_missing_image_names_image_row_and_root(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        f"{WILLOW_HEADER_2}\nc/a.png,c/b.png,1,2,3,4,5,6,7,8\n",
        images=["c/a.png"],
    )
    with pytest.raises(FileNotFoundError) as error:
        read_pf_willow_pairs(csv_path, str(tmp_path))
    message = str(error.value)
    assert "row 1 (line 2)" in message
    assert "target image 'c/b.png' does not exist" in message
    assert str(tmp_path) in message
    # The same file reads fine when existence is not checked.
    assert len(read_pf_willow_pairs(csv_path, str(tmp_path), check_images=False)) == 1


def test_missing_csv_raises_file_not_found(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_keypoint_pairs(missing, str(tmp_path))


def test_empty_csv_is_rejected(tmp_path):
    csv_path = write(tmp_path, "pairs.csv", "\n")
    with pytest.raises(ValueError, match=r"pairs\.csv: the file is empty; expected a header row"):
        read_pf_pascal_pairs(csv_path, str(tmp_path))


# --- PF-PASCAL -----------------------------------------------------------------


def test_pascal_reads_variable_length_lists_and_class_strings(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        f"{PASCAL_HEADER}\n"
        "JPEGImages/a.jpg,JPEGImages/b.jpg,12,1;2;3,4;5;6,7;8;9,10;11;12\n"
        "JPEGImages/c.jpg,JPEGImages/d.jpg,aeroplane,100.5,200.5,300,400\n",
        images=["JPEGImages/a.jpg", "JPEGImages/b.jpg", "JPEGImages/c.jpg", "JPEGImages/d.jpg"],
    )
    first, second = read_pf_pascal_pairs(csv_path, str(tmp_path))
    np.testing.assert_array_equal(first.source_points, [[0, 3], [1, 4], [2, 5]])
    np.testing.assert_array_equal(first.target_points, [[6, 9], [7, 10], [8, 11]])
    assert first.category == "12"
    np.testing.assert_array_equal(second.source_points, [[99.5, 199.5]])
    np.testing.assert_array_equal(second.target_points, [[299, 399]])
    assert second.category == "aeroplane"
    assert second.source_path == os.path.join(str(tmp_path), "JPEGImages", "c.jpg")


def test_pascal_drops_minus_one_padding_pairwise(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        f"{PASCAL_HEADER}\na.jpg,b.jpg,3,1;-1;5;-1,2;-1;6;7,3;-1;7;8,4;-1;8;9\n",
    )
    (pair,) = read_pf_pascal_pairs(csv_path, str(tmp_path), check_images=False)
    # Points 2 (all -1) and 4 (XA = -1) go; points 1 and 3 stay, in order.
    np.testing.assert_array_equal(pair.source_points, [[0, 1], [4, 5]])
    np.testing.assert_array_equal(pair.target_points, [[2, 3], [6, 7]])


def test_pascal_pair_without_valid_points_is_skipped_with_warning(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        f"{PASCAL_HEADER}\na.jpg,b.jpg,3,-1;-1,-1;-1,-1;-1,-1;-1\na.jpg,b.jpg,3,1,1,1,1\n",
    )
    with pytest.warns(UserWarning, match=r"row 1 \(line 2\): no keypoint"):
        pairs = read_pf_pascal_pairs(csv_path, str(tmp_path), check_images=False)
    assert len(pairs) == 1


def test_pascal_extra_columns_are_ignored(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        "source_image,target_image,class,flip,XA,YA,XB,YB\na.jpg,b.jpg,7,1,2,3,4,5\n",
    )
    (pair,) = read_pf_pascal_pairs(csv_path, str(tmp_path), check_images=False)
    np.testing.assert_array_equal(pair.source_points, [[1, 2]])
    np.testing.assert_array_equal(pair.target_points, [[3, 4]])


def test_pascal_unequal_list_lengths_names_each_length(tmp_path):
    csv_path = write(
        tmp_path,
        "pairs.csv",
        f"{PASCAL_HEADER}\na.jpg,b.jpg,1,1,1,1,1\na.jpg,b.jpg,1,1;2;3,1;2;3,1;2;3,1;2\n",
    )
    with pytest.raises(ValueError) as error:
        read_pf_pascal_pairs(csv_path, str(tmp_path), check_images=False)
    message = str(error.value)
    assert csv_path in message and "row 2 (line 3)" in message
    assert "expected XA, YA, XB, YB lists of equal length" in message
    assert "XA=3, YA=3, XB=3, YB=2" in message


def test_pascal_wrong_column_count_and_bad_number(tmp_path):
    short = write(tmp_path, "short.csv", f"{PASCAL_HEADER}\na.jpg,b.jpg,1,1,1,1\n")
    with pytest.raises(
        ValueError, match=r"short\.csv, row 1 \(line 2\): expected 7 columns.*received 6"
    ):
        read_pf_pascal_pairs(short, str(tmp_path), check_images=False)
    bad = write(tmp_path, "bad.csv", f"{PASCAL_HEADER}\na.jpg,b.jpg,1,1;x,1;2,1;2,1;2\n")
    with pytest.raises(
        ValueError,
        match=r"bad\.csv, row 1 \(line 2\): expected a finite number in column XA, received 'x'",
    ):
        read_pf_pascal_pairs(bad, str(tmp_path), check_images=False)


def test_pascal_missing_header_column(tmp_path):
    csv_path = write(tmp_path, "pairs.csv", "source_image,target_image,XA,YA,XB,YB\n")
    with pytest.raises(ValueError, match=r"missing \['class'\]"):
        read_pf_pascal_pairs(csv_path, str(tmp_path))


# --- format detection ----------------------------------------------------------


def test_auto_format_detection(tmp_path):
    willow = write(tmp_path, "w.csv", f"{WILLOW_HEADER_2}\nc/a.png,c/b.png,1,2,3,4,5,6,7,8\n")
    pascal = write(tmp_path, "p.csv", f"{PASCAL_HEADER}\na.jpg,b.jpg,1,1,2,3,4\n")
    assert detect_pair_format(willow) == "pf-willow"
    assert detect_pair_format(pascal) == "pf-pascal"
    assert read_keypoint_pairs(willow, str(tmp_path), check_images=False)[0].category == "c"
    assert read_keypoint_pairs(pascal, str(tmp_path), check_images=False)[0].category == "1"
    forced = read_keypoint_pairs(willow, str(tmp_path), format="pf-willow", check_images=False)
    assert forced[0].num_points == 2


def test_auto_format_detection_rejects_unknown_header(tmp_path):
    csv_path = write(tmp_path, "x.csv", "a,b,c\n")
    with pytest.raises(ValueError, match=r"cannot tell the pairs format.*Received: 'a,b,c'"):
        read_keypoint_pairs(csv_path, str(tmp_path))


def test_unknown_format_lists_allowed_values(tmp_path):
    with pytest.raises(ValueError, match=r"\('auto', 'pf-willow', 'pf-pascal'\).*format='willow'"):
        read_keypoint_pairs("x.csv", str(tmp_path), format="willow")
