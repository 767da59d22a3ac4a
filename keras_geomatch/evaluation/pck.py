"""Percentage of correct keypoints (PCK), SPEC §4.

For a pair with annotated source keypoints `p_i` (image A) and the target
keypoints mapped into A by the predicted transformation, `q_i`:

    L = max(max_i x_i - min_i x_i, max_i y_i - min_i y_i)   (over the p_i)
    PCK@α = mean_i [ |q_i - p_i| <= α·L ]

i.e. L is the longer side of the bounding box of A's annotated keypoints and
a keypoint is correct when its euclidean distance is at most α·L (the bound
is inclusive, as in the reference). Dataset PCK is the mean over pairs of the
per-pair PCK (not over all keypoints pooled), α = 0.1 in the paper.

Points are `(x, y)` pixels of image A; any consistent unit works, since the
threshold scales with L. A predicted point that is NaN (a transformation
that sends it to infinity) counts as incorrect.
"""

import numpy as np


def pck_reference_length(source_points):
    """The PCK length L: the longer side of the bounding box of `source_points`.

    Args:
        source_points: `(N, 2)` annotated `(x, y)` keypoints of image A, N >= 1.

    Returns:
        A float, `max(max(x) - min(x), max(y) - min(y))`.

    Example:
        >>> pck_reference_length([[0, 0], [4, 2]])
        4.0
    """
    points = _check_points(source_points, "source_points")
    return float(np.max(points.max(axis=0) - points.min(axis=0)))


def pck_per_pair(predicted_source_points, source_points, alpha=0.1):
    """PCK of one image pair at one or several thresholds α.

    Args:
        predicted_source_points: `(N, 2)` target keypoints mapped into image A
            by the predicted transformation. NaN entries count as incorrect.
        source_points: `(N, 2)` annotated keypoints of image A, index-aligned
            with `predicted_source_points`.
        alpha: a threshold α >= 0, or a 1-D sequence of thresholds.

    Returns:
        The fraction of correct keypoints: a float for a scalar `alpha`, a
        float64 array of shape `(len(alpha),)` for a sequence.

    Example:
        >>> pck_per_pair([[0, 0], [10, 1]], [[0, 0], [10, 0]], alpha=[0.05, 0.1])
        array([0.5, 1. ])
    """
    source = _check_points(source_points, "source_points")
    predicted = np.asarray(predicted_source_points, dtype=np.float64)
    if predicted.shape != source.shape:
        raise ValueError(
            "predicted_source_points must have the shape of source_points "
            f"{source.shape}. Received: predicted_source_points.shape={predicted.shape}"
        )
    alphas = _check_alphas(alpha)
    reference_length = pck_reference_length(source)
    distances = np.sqrt(np.sum((predicted - source) ** 2, axis=1))
    # NaN <= t is False, so a lost point counts as incorrect.
    correct = distances[None, :] <= alphas[:, None] * reference_length
    fractions = correct.mean(axis=1)
    if np.ndim(alpha) == 0:
        return float(fractions[0])
    return fractions


class PckAccumulator:
    """Collects per-pair PCK and reports dataset and per-category PCK.

    Args:
        alphas: the thresholds α to report, a float or a 1-D sequence.

    Dataset PCK at each α is the mean over all pairs; a category's PCK is the
    mean over its pairs. Pairs added without a category count in `"all"` only.

    Example:
        >>> acc = PckAccumulator(alphas=(0.05, 0.1))
        >>> _ = acc.add([[0, 0], [10, 1]], [[0, 0], [10, 0]], category="car")
        >>> _ = acc.add_pair_pck([0.0, 0.5], category="duck")
        >>> acc.dataset_pck()
        array([0.25, 0.75])
    """

    ALL = "all"

    def __init__(self, alphas=(0.1,)):
        self._alphas = _check_alphas(alphas)
        self._pair_pck = []
        self._categories = []

    @property
    def alphas(self):
        """The thresholds, a tuple of floats."""
        return tuple(float(a) for a in self._alphas)

    @property
    def num_pairs(self):
        """Number of pairs added so far."""
        return len(self._pair_pck)

    @property
    def pair_pck(self):
        """Per-pair PCK, float64 `(num_pairs, len(alphas))`, in insertion order."""
        return np.array(self._pair_pck, dtype=np.float64).reshape(-1, len(self._alphas))

    @property
    def pair_categories(self):
        """The category of each pair (None where none was given), insertion order."""
        return list(self._categories)

    def add(self, predicted_source_points, source_points, category=None):
        """Scores one pair (see `pck_per_pair`) and records it.

        Returns:
            The pair's PCK, float64 `(len(alphas),)`.
        """
        values = pck_per_pair(predicted_source_points, source_points, self._alphas)
        self._record(values, category)
        return values

    def add_pair_pck(self, pck_values, category=None):
        """Records a pair whose PCK at each of `alphas` is already known.

        Args:
            pck_values: `(len(alphas),)` fractions in [0, 1].
            category: the pair's category (converted to str) or None.

        Returns:
            The recorded values, float64 `(len(alphas),)`.
        """
        values = np.atleast_1d(np.asarray(pck_values, dtype=np.float64))
        if values.shape != self._alphas.shape:
            raise ValueError(
                f"pck_values must hold one value per alpha, shape {self._alphas.shape} for "
                f"alphas={self.alphas}. Received: shape={np.shape(pck_values)}"
            )
        if not np.all((values >= 0) & (values <= 1)):
            raise ValueError(f"pck_values must be fractions in [0, 1]. Received: {values.tolist()}")
        self._record(values, category)
        return values

    def _record(self, values, category):
        self._pair_pck.append(np.array(values, dtype=np.float64))
        self._categories.append(None if category is None else str(category))

    def dataset_pck(self):
        """Mean PCK over all pairs, float64 `(len(alphas),)`."""
        if not self._pair_pck:
            raise ValueError("No pairs were added: dataset PCK is undefined.")
        return self.pair_pck.mean(axis=0)

    def category_pck(self):
        """Mean PCK over the pairs of each category.

        Returns:
            A dict `category -> float64 (len(alphas),)`, categories sorted.
        """
        table = self.pair_pck
        categories = np.array(self._categories, dtype=object)
        return {
            name: table[categories == name].mean(axis=0)
            for name in sorted({c for c in self._categories if c is not None})
        }

    def category_counts(self):
        """Number of pairs of each category, a dict with sorted keys."""
        names = sorted({c for c in self._categories if c is not None})
        return {name: self._categories.count(name) for name in names}

    def to_dict(self):
        """A JSON-serialisable summary.

        Returns:
            `{"alphas": [...], "num_pairs": n, "pck": {"all": [...],
            category: [...], ...}, "num_pairs_per_category": {category: n}}`;
            every PCK list is aligned with `"alphas"`.
        """
        pck = {self.ALL: self.dataset_pck().tolist()}
        pck.update({name: values.tolist() for name, values in self.category_pck().items()})
        return {
            "alphas": list(self.alphas),
            "num_pairs": self.num_pairs,
            "pck": pck,
            "num_pairs_per_category": self.category_counts(),
        }

    def format_table(self, digits=3):
        """A text table: one row per category then `"all"`, one column per α.

        Example output:

            category  pairs  PCK@0.05  PCK@0.1
            car            1     0.500    1.000
            duck           1     0.000    0.500
            all            2     0.250    0.750
        """
        counts = self.category_counts()
        rows = [(name, str(counts[name]), values) for name, values in self.category_pck().items()]
        rows.append((self.ALL, str(self.num_pairs), self.dataset_pck()))
        header = ["category", "pairs"] + [f"PCK@{a:g}" for a in self.alphas]
        body = [[name, count] + [f"{v:.{digits}f}" for v in values] for name, count, values in rows]
        widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]

        def render(line):
            cells = [line[0].ljust(widths[0])] + [
                cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)
            ]
            return "  ".join(cells)

        return "\n".join(render(line) for line in [header] + body)


def _check_points(points, name):
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise ValueError(
            f"{name} must be an array of shape (N, 2) of (x, y) points with N >= 1. "
            f"Received: shape={array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite. Received: {array.tolist()}")
    return array


def _check_alphas(alpha):
    alphas = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas >= 0)):
        raise ValueError(
            "alpha must be a finite number >= 0 or a non-empty 1-D sequence of them. "
            f"Received: alpha={alpha!r}"
        )
    return alphas
