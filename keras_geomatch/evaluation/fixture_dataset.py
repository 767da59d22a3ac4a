"""A tiny synthetic keypoint dataset with a known answer, for tests and benchmarks.

`make_fixture_dataset` writes textured PNG images into category folders and
two pairs files describing the same pairs, one in the PF-WILLOW format and
one in the PF-PASCAL format (see `keypoint_pairs`). Every pair is a source
image and its target, which is the source warped by a known affine map of its
category; the target keypoints are the source keypoints moved by that map.
So the exact PCK of any predicted mapping can be computed in advance, e.g.
the oracle mapping (`FixtureDataset.map_target_to_source`) scores 1.0.

Convention: the affine maps of this module take 0-based `(x, y)` pixels of
the **source** image to pixels of the **target** image (the forward
direction, as in `cv2.warpAffine`), as a `(2, 3)` matrix `[[a11, a12, tx],
[a21, a22, ty]]`. θ in the network's convention (target → source,
normalised, corner-aligned) is its inverse in normalised coordinates; see
`FixtureDataset.affine_theta`. Written files hold 1-based pixels, like the
real datasets.

Layout under `root`:

    images/<category>/<k>_source.png, images/<category>/<k>_target.png
    test_pairs_pf.csv          PF-WILLOW format
    test_pairs_pf_pascal.csv   PF-PASCAL format (class = 1-based category index)
"""

import csv
import dataclasses
import os

import numpy as np

WILLOW_CSV_NAME = "test_pairs_pf.csv"
PASCAL_CSV_NAME = "test_pairs_pf_pascal.csv"
DEFAULT_CATEGORIES = ("shapes(A)", "shapes(B)")

# Keypoints keep this many pixels away from the border in both images.
_MARGIN = 2


@dataclasses.dataclass(frozen=True)
class FixtureDataset:
    """What `make_fixture_dataset` wrote.

    Attributes:
        root: the dataset root (image paths in the CSVs are relative to it).
        willow_csv: path of the PF-WILLOW-format pairs file.
        pascal_csv: path of the PF-PASCAL-format pairs file.
        image_size: `(height, width)` of every image.
        categories: category names, also the image folder names.
        transforms: `category -> (2, 3)` float64 affine map, source pixels →
            target pixels (0-based).
        num_pairs: number of pairs in each CSV (`num_images` per category).
    """

    root: str
    willow_csv: str
    pascal_csv: str
    image_size: tuple
    categories: tuple
    transforms: dict
    num_pairs: int

    def pascal_class(self, category):
        """The `class` string of `category` in the PF-PASCAL file (1-based index)."""
        return str(self.categories.index(category) + 1)

    def map_source_to_target(self, points, category):
        """Applies the category's map to `(N, 2)` source pixels → target pixels."""
        matrix = _homogeneous(self.transforms[category])
        return _apply(matrix, points)

    def map_target_to_source(self, points, category):
        """The exact (oracle) prediction: `(N, 2)` target pixels → source pixels."""
        matrix = np.linalg.inv(_homogeneous(self.transforms[category]))
        return _apply(matrix, points)

    def affine_theta(self, category):
        """The ground-truth affine θ of the category in the network's convention.

        Returns:
            float64 `(6,)` `[a11, a12, tx, a21, a22, ty]` mapping normalised,
            corner-aligned target coordinates to source coordinates (SPEC §2;
            both images have `image_size`).
        """
        height, width = self.image_size
        # pixel → normalised: x_n = 2x/(W-1) - 1, y_n = 2y/(H-1) - 1
        to_normalised = np.array(
            [[2.0 / (width - 1), 0.0, -1.0], [0.0, 2.0 / (height - 1), -1.0], [0.0, 0.0, 1.0]]
        )
        target_to_source = np.linalg.inv(_homogeneous(self.transforms[category]))
        theta = to_normalised @ target_to_source @ np.linalg.inv(to_normalised)
        return theta[:2].reshape(6)


def make_fixture_dataset(
    root,
    num_images=3,
    image_size=(64, 80),
    num_points=10,
    categories=DEFAULT_CATEGORIES,
    transform=None,
    seed=0,
):
    """Writes a small synthetic dataset of keypoint pairs with known transformations.

    Args:
        root: folder to write into (created if needed).
        num_images: pairs per category.
        image_size: `(height, width)` of the images.
        num_points: keypoints per pair (the PF-WILLOW header has this many
            `XA` columns).
        categories: category names (at least one), used as folder names.
        transform: the source → target pixel map: None for built-in distinct
            per-category affines (a rotation and scaling about the centre plus
            a shift), one `(2, 3)` matrix for every category, or a dict
            `category -> (2, 3)`.
        seed: seed of the images and keypoints; the same arguments write the
            same files.

    Returns:
        A `FixtureDataset`.

    Requires OpenCV (`opencv-python-headless`, in the `test` extra), imported
    here so that `keras_geomatch.evaluation` itself does not need it.

    Example:

        data = make_fixture_dataset("/tmp/fixture", transform=[[1, 0, 3], [0, 1, 4]])
        pairs = read_keypoint_pairs(data.willow_csv, data.root)
        # Predicting the identity leaves every keypoint exactly 5 px off, so
        # pck_per_pair(pair.target_points, pair.source_points, alpha) is 1.0
        # when 5 <= alpha * L and 0.0 otherwise.
    """
    cv2 = _import_cv2()
    height, width = _check_size(image_size)
    categories = tuple(str(c) for c in categories)
    if not categories or len(set(categories)) != len(categories):
        raise ValueError(
            f"categories must be non-empty and distinct. Received: categories={categories}"
        )
    if num_images < 1 or num_points < 1:
        raise ValueError(
            "num_images and num_points must be >= 1. "
            f"Received: num_images={num_images}, num_points={num_points}"
        )
    transforms = _resolve_transforms(transform, categories, height, width)
    rng = np.random.default_rng(seed)

    willow_rows, pascal_rows = [], []
    for class_index, category in enumerate(categories, start=1):
        folder = os.path.join(root, "images", category)
        os.makedirs(folder, exist_ok=True)
        matrix = transforms[category]
        for k in range(num_images):
            source_image = _textured_image(rng, height, width, cv2)
            target_image = cv2.warpAffine(
                source_image,
                matrix,
                (width, height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT_101,
            )
            names = []
            for role, image in (("source", source_image), ("target", target_image)):
                name = f"images/{category}/{k:03d}_{role}.png"
                if not cv2.imwrite(os.path.join(root, name), image):
                    raise OSError(f"Could not write {os.path.join(root, name)}")
                names.append(name)
            source_points = _sample_keypoints(rng, num_points, matrix, height, width, category)
            target_points = _apply(_homogeneous(matrix), source_points)
            # The files are 1-based; repr keeps every digit of the float.
            xa, ya, xb, yb = (
                [repr(float(v) + 1.0) for v in column]
                for column in (*source_points.T, *target_points.T)
            )
            willow_rows.append(names + xa + ya + xb + yb)
            pascal_rows.append(names + [str(class_index)] + [";".join(c) for c in (xa, ya, xb, yb)])

    willow_header = ["imageA", "imageB"] + [
        f"{c}{i}" for c in ("XA", "YA", "XB", "YB") for i in range(1, num_points + 1)
    ]
    pascal_header = ["source_image", "target_image", "class", "XA", "YA", "XB", "YB"]
    willow_csv = os.path.join(root, WILLOW_CSV_NAME)
    pascal_csv = os.path.join(root, PASCAL_CSV_NAME)
    _write_csv(willow_csv, willow_header, willow_rows)
    _write_csv(pascal_csv, pascal_header, pascal_rows)
    return FixtureDataset(
        root=os.path.abspath(root),
        willow_csv=os.path.abspath(willow_csv),
        pascal_csv=os.path.abspath(pascal_csv),
        image_size=(height, width),
        categories=categories,
        transforms=transforms,
        num_pairs=num_images * len(categories),
    )


def _check_size(image_size):
    if len(image_size) != 2 or min(image_size) < 2 * _MARGIN + 2:
        raise ValueError(
            f"image_size must be (height, width), each >= {2 * _MARGIN + 2}. "
            f"Received: image_size={image_size}"
        )
    return int(image_size[0]), int(image_size[1])


def _import_cv2():
    try:
        import cv2
    except ImportError as error:
        raise ImportError(
            "make_fixture_dataset needs OpenCV: pip install opencv-python-headless "
            "(or the project's `test` extra)."
        ) from error
    return cv2


def _resolve_transforms(transform, categories, height, width):
    if transform is None:
        return {c: _default_transform(k, height, width) for k, c in enumerate(categories)}
    if isinstance(transform, dict):
        missing = [c for c in categories if c not in transform]
        if missing:
            raise ValueError(
                f"transform has no matrix for categories {missing}. "
                f"Received keys: {list(transform)}"
            )
        return {c: _check_matrix(transform[c], c) for c in categories}
    matrix = _check_matrix(transform, "all categories")
    return {c: matrix for c in categories}


def _check_matrix(matrix, what):
    array = np.array(matrix, dtype=np.float64)
    if (
        array.shape != (2, 3)
        or not np.all(np.isfinite(array))
        or abs(np.linalg.det(array[:, :2])) < 1e-6
    ):
        raise ValueError(
            f"transform for {what} must be an invertible, finite (2, 3) affine matrix. "
            f"Received: {array.tolist()}"
        )
    return array


def _default_transform(index, height, width):
    """A mild, distinct affine map per category: rotation + scale about the centre, then a shift."""
    angle = np.deg2rad(8.0 * (index + 1) * (-1) ** index)  # +8°, -16°, +24°, ...
    scale = 0.9 if index % 2 == 0 else 1.05
    # Image y points down, so this turns the picture counter-clockwise on screen.
    linear = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    center = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    shift = center - linear @ center + (2.0 + index, -1.0 - index)
    return np.concatenate([linear, shift[:, None]], axis=1)


def _sample_keypoints(rng, num_points, matrix, height, width, category):
    """Integer source pixels whose image under `matrix` stays inside the target."""
    homogeneous = _homogeneous(matrix)
    low, high_x, high_y = _MARGIN, width - 1 - _MARGIN, height - 1 - _MARGIN
    points = np.zeros((0, 2))
    for _ in range(100):
        candidates = np.stack(
            [
                rng.integers(low, high_x + 1, 4 * num_points),
                rng.integers(low, high_y + 1, 4 * num_points),
            ],
            axis=1,
        ).astype(np.float64)
        mapped = _apply(homogeneous, candidates)
        inside = np.all((mapped >= low) & (mapped <= (high_x, high_y)), axis=1)
        points = np.concatenate([points, candidates[inside]])
        if len(points) >= num_points:
            return points[:num_points]
    raise ValueError(
        f"transform of category {category!r} sends too little of the {height}x{width} image inside "
        f"the target to place {num_points} keypoints. Received: {matrix.tolist()}"
    )


def _textured_image(rng, height, width, cv2):
    """Smooth colour noise with a few filled shapes: texture a matcher can lock onto."""
    coarse = rng.uniform(0, 255, size=(height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(3, 6)):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(3, max(4, min(height, width) // 4)))
        if rng.random() < 0.5:
            cv2.circle(image, (x, y), size, color, thickness=-1)
        else:
            cv2.rectangle(image, (x, y), (x + size, y + size // 2 + 1), color, thickness=-1)
    return image


def _homogeneous(matrix):
    return np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])


def _apply(matrix, points):
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
