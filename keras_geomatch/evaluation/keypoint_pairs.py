"""Keypoint-annotated image pairs of PF-WILLOW and PF-PASCAL (SPEC §4).

Convention: a point is `(x, y)`, x along the width (column), y along the
height (row), in **0-based pixel coordinates** of its own image. The pairs
files store 1-based pixels (MATLAB heritage); the readers subtract 1 on
reading, so nothing downstream ever sees 1-based values.

Invalid points: a keypoint whose value in the file is negative in any of its
four coordinates (`XA, YA, XB, YB`; PF-PASCAL pads with -1) is dropped from
*both* images, so the two point arrays of a pair always stay index-aligned.
A pair left with no valid point is skipped with a warning (the reference
counts such pairs as invalid and leaves them out of the mean, which gives the
same dataset PCK).

File formats:

* PF-WILLOW (`test_pairs_pf.csv`): header
  `imageA,imageB,XA1..XAn,YA1..YAn,XB1..XBn,YB1..YBn` (n = 10 in the real
  file), one pair per row. The category of a pair is the name of the folder
  holding imageA (`PF-dataset/car(G)/x.png` → `"car(G)"`).
* PF-PASCAL: header `source_image,target_image,class,XA,YA,XB,YB` (extra
  columns such as `flip` are allowed and ignored); each coordinate column is a
  `;`-joined list whose length varies from pair to pair. `class` is kept as
  the string found in the file (an integer index in the real file).

Image paths in both files are relative to the dataset root; the readers
return absolute paths.
"""

import csv
import dataclasses
import os
import warnings

import numpy as np

PAIR_FORMATS = ("auto", "pf-willow", "pf-pascal")

_WILLOW_IMAGE_COLUMNS = ("imageA", "imageB")
_PASCAL_COLUMNS = ("source_image", "target_image", "class", "XA", "YA", "XB", "YB")


@dataclasses.dataclass(frozen=True, eq=False)
class KeypointPair:
    """One annotated image pair: keypoint `i` of the source matches `i` of the target.

    Attributes:
        source_path: absolute path of the source image A.
        target_path: absolute path of the target image B.
        source_points: float64 `(N, 2)` array, `(x, y)` 0-based pixels of A.
        target_points: float64 `(N, 2)` array, `(x, y)` 0-based pixels of B.
        category: the pair's category (PF-WILLOW folder name, PF-PASCAL
            class) or None.

    The point arrays are stored read-only. Two pairs are equal when all
    fields are equal (points compared exactly).

    Example:
        >>> pair = KeypointPair("/d/a.png", "/d/b.png", [[0, 1]], [[2, 3]], "car")
        >>> pair.num_points
        1
    """

    source_path: str
    target_path: str
    source_points: np.ndarray
    target_points: np.ndarray
    category: str | None = None

    def __post_init__(self):
        source = _as_points(self.source_points, "source_points")
        target = _as_points(self.target_points, "target_points")
        if source.shape != target.shape:
            raise ValueError(
                "source_points and target_points must have the same shape (N, 2). "
                f"Received: source_points.shape={source.shape}, "
                f"target_points.shape={target.shape}"
            )
        # frozen=True forbids plain assignment, even in __post_init__.
        object.__setattr__(self, "source_points", source)
        object.__setattr__(self, "target_points", target)

    @property
    def num_points(self):
        """Number of keypoint correspondences N."""
        return self.source_points.shape[0]

    def __eq__(self, other):
        if not isinstance(other, KeypointPair):
            return NotImplemented
        return (
            self.source_path == other.source_path
            and self.target_path == other.target_path
            and self.category == other.category
            and np.array_equal(self.source_points, other.source_points)
            and np.array_equal(self.target_points, other.target_points)
        )

    __hash__ = None  # mutable-looking numpy fields: not hashable


def _as_points(points, name):
    array = np.array(points, dtype=np.float64)  # a copy: the caller keeps theirs
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(
            f"{name} must be an array of shape (N, 2) of (x, y) points. "
            f"Received: shape={array.shape}"
        )
    array.setflags(write=False)
    return array


def read_keypoint_pairs(csv_path, dataset_root, format="auto", check_images=True):
    """Reads a PF-WILLOW or PF-PASCAL pairs file.

    Args:
        csv_path: path of the pairs CSV.
        dataset_root: folder the image paths of the file are relative to.
        format: one of `PAIR_FORMATS`; `"auto"` picks the format from the
            header (see `detect_pair_format`).
        check_images: when True, every image path must name an existing file.

    Returns:
        A list of `KeypointPair`, in file order, points 0-based.

    Raises:
        FileNotFoundError: the CSV or (with `check_images`) an image is missing.
        ValueError: unknown `format`, or a malformed header or row; the
            message names the file, the row and what was expected.
    """
    if format not in PAIR_FORMATS:
        raise ValueError(
            f"Unknown format: expected one of {PAIR_FORMATS}. Received: format={format!r}"
        )
    if format == "auto":
        format = detect_pair_format(csv_path)
    reader = read_pf_willow_pairs if format == "pf-willow" else read_pf_pascal_pairs
    return reader(csv_path, dataset_root, check_images=check_images)


def detect_pair_format(csv_path):
    """Returns `"pf-willow"` or `"pf-pascal"` from the header of `csv_path`.

    PF-WILLOW headers start with `imageA,imageB`; PF-PASCAL headers contain
    `source_image`. Anything else raises a ValueError.
    """
    header = _read_header(csv_path)
    if tuple(header[:2]) == _WILLOW_IMAGE_COLUMNS:
        return "pf-willow"
    if "source_image" in header:
        return "pf-pascal"
    raise ValueError(
        f"{csv_path}: cannot tell the pairs format from the header. Expected a "
        "PF-WILLOW header starting with 'imageA,imageB' or a PF-PASCAL header "
        f"'{','.join(_PASCAL_COLUMNS)}'. Received: {','.join(header)!r}"
    )


def read_pf_willow_pairs(csv_path, dataset_root, check_images=True):
    """Reads a PF-WILLOW pairs file (`imageA,imageB,XA1..,YA1..,XB1..,YB1..`).

    Args:
        csv_path: path of the pairs CSV (`test_pairs_pf.csv`).
        dataset_root: folder the image paths of the file are relative to.
        check_images: when True, every image path must name an existing file.

    Returns:
        A list of `KeypointPair`, in file order: points converted from the
        file's 1-based to 0-based pixels, invalid (negative) points dropped
        pairwise, category = the name of the folder holding imageA.

    Raises:
        FileNotFoundError: the CSV or (with `check_images`) an image is missing.
        ValueError: a malformed header or row.
    """
    rows = _rows(csv_path)
    header = next(rows)[2]
    num_points = _check_willow_header(csv_path, header)
    pairs = []
    for row_number, line_number, row in rows:
        where = _Where(csv_path, row_number, line_number)
        if len(row) != len(header):
            where.fail(
                f"expected {len(header)} columns (imageA, imageB and 4 x {num_points} "
                f"coordinates), received {len(row)}"
            )
        coordinates = []
        for k in range(4):
            columns = header[2 + k * num_points : 2 + (k + 1) * num_points]
            values = row[2 + k * num_points : 2 + (k + 1) * num_points]
            coordinates.append([where.number(v, c) for v, c in zip(values, columns, strict=True)])
        category = os.path.basename(os.path.dirname(os.path.normpath(row[0]))) or None
        pair = _make_pair(where, dataset_root, row[0], row[1], coordinates, category, check_images)
        if pair is not None:
            pairs.append(pair)
    return pairs


def read_pf_pascal_pairs(csv_path, dataset_root, check_images=True):
    """Reads a PF-PASCAL pairs file (`source_image,target_image,class,XA,YA,XB,YB`).

    Args:
        csv_path: path of the pairs CSV.
        dataset_root: folder the image paths of the file are relative to.
        check_images: when True, every image path must name an existing file.

    Returns:
        A list of `KeypointPair`, in file order: points converted from the
        file's 1-based to 0-based pixels, invalid (negative, e.g. -1 padding)
        points dropped pairwise, category = the `class` field as a string.

    Raises:
        FileNotFoundError: the CSV or (with `check_images`) an image is missing.
        ValueError: a malformed header or row, e.g. lists of unequal lengths.
    """
    rows = _rows(csv_path)
    header = next(rows)[2]
    missing = [c for c in _PASCAL_COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"{csv_path}: the PF-PASCAL header must contain the columns "
            f"{','.join(_PASCAL_COLUMNS)}; missing {missing}. Received: {','.join(header)!r}"
        )
    index = {name: header.index(name) for name in _PASCAL_COLUMNS}
    pairs = []
    for row_number, line_number, row in rows:
        where = _Where(csv_path, row_number, line_number)
        if len(row) != len(header):
            where.fail(f"expected {len(header)} columns ({','.join(header)}), received {len(row)}")
        coordinates = []
        for column in ("XA", "YA", "XB", "YB"):
            text = row[index[column]]
            items = text.split(";") if text else []
            coordinates.append([where.number(v, column) for v in items])
        lengths = [len(c) for c in coordinates]
        if len(set(lengths)) != 1:
            where.fail(
                "expected XA, YA, XB, YB lists of equal length, received lengths "
                + ", ".join(
                    f"{c}={n}" for c, n in zip(("XA", "YA", "XB", "YB"), lengths, strict=True)
                )
            )
        category = row[index["class"]] or None
        pair = _make_pair(
            where,
            dataset_root,
            row[index["source_image"]],
            row[index["target_image"]],
            coordinates,
            category,
            check_images,
        )
        if pair is not None:
            pairs.append(pair)
    return pairs


class _Where:
    """A row's position in its file, for error messages."""

    def __init__(self, csv_path, row_number, line_number):
        self.csv_path = csv_path
        self.row_number = row_number
        self.line_number = line_number

    def __str__(self):
        return f"{self.csv_path}, row {self.row_number} (line {self.line_number})"

    def fail(self, message, error=ValueError):
        raise error(f"{self}: {message}")

    def number(self, text, column):
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not np.isfinite(value):
            self.fail(f"expected a finite number in column {column}, received {text!r}")
        return value


def _make_pair(where, dataset_root, source_name, target_name, coordinates, category, check_images):
    xa, ya, xb, yb = (np.asarray(c, dtype=np.float64) for c in coordinates)
    valid = (xa >= 0) & (ya >= 0) & (xb >= 0) & (yb >= 0)
    if not valid.any():
        warnings.warn(
            f"{where}: no keypoint with non-negative coordinates; pair skipped", stacklevel=3
        )
        return None
    paths = []
    for name, column in ((source_name, "source"), (target_name, "target")):
        if not name:
            where.fail(f"expected a {column} image path, received an empty field")
        path = os.path.abspath(os.path.join(dataset_root, name))
        if check_images and not os.path.isfile(path):
            where.fail(
                f"the {column} image {name!r} does not exist under the dataset root "
                f"{dataset_root!r} (looked for {path})",
                error=FileNotFoundError,
            )
        paths.append(path)
    # The files are 1-based (MATLAB); everything in this package is 0-based.
    source_points = np.stack([xa[valid], ya[valid]], axis=1) - 1.0
    target_points = np.stack([xb[valid], yb[valid]], axis=1) - 1.0
    return KeypointPair(paths[0], paths[1], source_points, target_points, category)


def _check_willow_header(csv_path, header):
    num_coordinates = len(header) - 2
    if tuple(header[:2]) != _WILLOW_IMAGE_COLUMNS or num_coordinates <= 0 or num_coordinates % 4:
        raise ValueError(
            f"{csv_path}: expected a PF-WILLOW header 'imageA,imageB' followed by 4 x n "
            "coordinate columns XA1..XAn,YA1..YAn,XB1..XBn,YB1..YBn. "
            f"Received: {','.join(header)!r}"
        )
    num_points = num_coordinates // 4
    expected = [f"{c}{i}" for c in ("XA", "YA", "XB", "YB") for i in range(1, num_points + 1)]
    for position, (name, want) in enumerate(zip(header[2:], expected, strict=True), start=3):
        if name.upper() != want:
            raise ValueError(
                f"{csv_path}: header column {position} expected {want!r}, received {name!r} "
                "(PF-WILLOW order: imageA,imageB,XA1..XAn,YA1..YAn,XB1..XBn,YB1..YBn)"
            )
    return num_points


def _read_header(csv_path):
    return next(_rows(csv_path))[2]


def _rows(csv_path):
    """Yields `(row_number, line_number, fields)`: the header first, then data rows.

    `row_number` counts data rows from 1 (the header is row 0); `line_number`
    is the 1-based line of the file where the row ends. Blank lines are
    skipped; fields are stripped of surrounding whitespace.
    """
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"Pairs file not found: {csv_path}")
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        row_number = -1
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            row_number += 1
            yield row_number, reader.line_num, [field.strip() for field in fields]
        if row_number < 0:
            raise ValueError(f"{csv_path}: the file is empty; expected a header row")
