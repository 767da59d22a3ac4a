"""PCK evaluation of a model, or of two models in sequence, on keypoint pairs (SPEC §4).

For every pair (A = source, B = target, with index-aligned keypoints):

1. A and B are resized to the model's input size (aspect ratio not kept;
   a corner-aligned bilinear resize, as the reference does).
2. One model: θ = m(A, B). Two stages (e.g. affine then TPS):
   θ1 = m1(A, B); A1 = A (resized to m2's input size) warped by θ1;
   θ2 = m2(A1, B) — the alignment chain of `inference.chain`, which
   `inference.align` and the exported serving graph run; here each model
   runs as its two halves, so that features can be cached (below), with
   the chain's warp (`chain.warp_resized`) and point map.
3. B's keypoints are normalised with B's original size, mapped by θ (two
   stages: T_θ1(T_θ2(p))), un-normalised with A's original size, and
   compared with A's keypoints: PCK@α with L = the longer side of the
   bounding box of A's keypoints (see `pck`); dataset PCK = mean over pairs.
4. The identity θ is scored the same way, as the floor.

Efficiency: each model is split into its feature extractor and its head
(`inference.split_model`). The features of each distinct image go through
the backbone once and are reused by every pair it belongs to, then dropped
after its last use (`feature_cache`). In a two-stage evaluation the second
stage's input A1 depends on the pair (it is A warped by that pair's θ1), so
only B's second-stage features can be cached; A1 goes through the second
backbone once per pair.
"""

import collections
import dataclasses
import json
import os

import keras
import numpy as np

from keras_geomatch.evaluation.evaluation_config import DEFAULT_PAIRS_FILES  # noqa: F401
from keras_geomatch.evaluation.evaluation_config import EvaluationConfig  # noqa: F401
from keras_geomatch.evaluation.feature_cache import FeatureCache
from keras_geomatch.evaluation.pck import PckAccumulator
from keras_geomatch.inference import chain
from keras_geomatch.inference import images as image_io
from keras_geomatch.inference import model_loading
from keras_geomatch.inference import point_transfer
from keras_geomatch.inference import split_model
from keras_geomatch.inference import warp
from keras_geomatch.models import mixed_precision as mixed_precision_lib

IDENTITY = "identity"
TWO_STAGE_CACHE_NOTE = (
    "two-stage: the second stage's source A1 = warp(A, θ1) depends on the pair, so only "
    "B's second-stage features are cached; A1 goes through the second backbone once per pair"
)


@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationResult:
    """PCK of a model (or two-stage pair) and of the identity baseline.

    Attributes:
        method: the geometric model(s), e.g. 'affine' or 'affine+tps'.
        pck: `PckAccumulator` of the model's predictions.
        identity_pck: `PckAccumulator` of the identity θ (the floor).
        pairs: the evaluated `KeypointPair`s, in order.
        thetas: float32 `(num_pairs, P)`, the (first-stage) θ of each pair.
        thetas2: float32 `(num_pairs, P2)` second-stage θ, or None.
        num_distinct_images: distinct image files among the pairs.
        num_backbone_images: images that went through a backbone (all
            stages together).
        use_feature_cache: whether features were reused across pairs.
    """

    method: str
    pck: PckAccumulator
    identity_pck: PckAccumulator
    pairs: list
    thetas: np.ndarray
    thetas2: np.ndarray | None
    num_distinct_images: int
    num_backbone_images: int
    use_feature_cache: bool

    @property
    def alphas(self):
        return self.pck.alphas

    def to_dict(self, per_pair=True):
        """A JSON-serialisable summary (with per-pair PCK and θ if `per_pair`)."""
        summary = self.pck.to_dict()
        result = {
            "method": self.method,
            "alphas": list(self.alphas),
            "num_pairs": summary["num_pairs"],
            "pck": {self.method: summary["pck"], IDENTITY: self.identity_pck.to_dict()["pck"]},
            "num_pairs_per_category": summary["num_pairs_per_category"],
            "num_distinct_images": self.num_distinct_images,
            "num_backbone_images": self.num_backbone_images,
            "feature_cache": self.use_feature_cache,
        }
        if self.thetas2 is not None:
            result["feature_cache_note"] = TWO_STAGE_CACHE_NOTE
        if per_pair:
            model_pck, identity_pck = self.pck.pair_pck, self.identity_pck.pair_pck
            result["pairs"] = [
                {
                    "source_image": pair.source_path,
                    "target_image": pair.target_path,
                    "category": pair.category,
                    "pck": model_pck[i].tolist(),
                    "identity_pck": identity_pck[i].tolist(),
                    "theta": self.thetas[i].tolist(),
                    **({} if self.thetas2 is None else {"theta2": self.thetas2[i].tolist()}),
                }
                for i, pair in enumerate(self.pairs)
            ]
        return result

    def format_table(self, digits=3):
        """Per-category and overall PCK of the identity and the model, one column per α.

        Example:

            category  pairs  identity@0.1  affine@0.1
            car(G)       90         0.310       0.520
            all         900         0.280       0.478
        """
        methods = [(IDENTITY, self.identity_pck), (self.method, self.pck)]
        header = ["category", "pairs"] + [
            f"{name}@{alpha:g}" for name, _ in methods for alpha in self.alphas
        ]
        counts = self.pck.category_counts()
        per_category = [acc.category_pck() for _, acc in methods]
        rows = []
        for category in counts:
            values = np.concatenate([table[category] for table in per_category])
            rows.append([category, str(counts[category])] + [f"{v:.{digits}f}" for v in values])
        overall = np.concatenate([acc.dataset_pck() for _, acc in methods])
        rows.append(
            [PckAccumulator.ALL, str(self.pck.num_pairs)] + [f"{v:.{digits}f}" for v in overall]
        )
        widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
        lines = [
            "  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])])
            for row in [header] + rows
        ]
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class _ImageRecord:
    size: tuple  # (height, width) of the original image
    features: np.ndarray  # first-stage features
    network_image2: np.ndarray | None  # resized for the second stage (two-stage only)
    features2: np.ndarray | None  # second-stage features (two-stage targets only)


def evaluate_keypoint_pairs(
    pairs,
    model,
    model2=None,
    alphas=(0.1,),
    batch_size=16,
    use_feature_cache=True,
    verbose=0,
):
    """PCK of a geomatch model (or two in sequence) and of the identity on keypoint pairs.

    Args:
        pairs: sequence of `KeypointPair` (points 0-based, see `keypoint_pairs`).
        model: a geomatch `keras.Model` (first stage) or its `.keras` path.
        model2: optional second-stage model (or path): θ2 = model2(A1, B)
            with A1 = A warped by θ1 (SPEC §4).
        alphas: PCK threshold(s) α.
        batch_size: pairs per batch, and images per backbone call.
        use_feature_cache: compute each image's features once (True) or for
            every pair (False; same θ, for checking).
        verbose: 1 shows a `keras.utils.Progbar`.

    Returns:
        An `EvaluationResult`.

    Example:
        >>> pairs = read_keypoint_pairs("PF-WILLOW/test_pairs_pf.csv", "PF-WILLOW")
        >>> result = evaluate_keypoint_pairs(pairs, "saved_models/affine/model.keras")
        >>> print(result.format_table())
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("Expected at least one keypoint pair. Received: 0 pairs")
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"Expected batch_size >= 1. Received: batch_size={batch_size}")
    split1 = split_model.split_geomatch_model(_as_model(model))
    split2 = None if model2 is None else split_model.split_geomatch_model(_as_model(model2))
    method = split1.geometric_model + ("" if split2 is None else f"+{split2.geometric_model}")

    sources = [pair.source_path for pair in pairs]
    targets = [pair.target_path for pair in pairs]
    backbone_images = collections.Counter()
    compute = _record_maker(split1, split2, set(targets), batch_size, backbone_images)
    cache = FeatureCache(compute, collections.Counter(sources + targets), enabled=use_feature_cache)

    model_pck = PckAccumulator(alphas)
    identity_pck = PckAccumulator(alphas)
    batch_stages = []  # the stages of each batch
    progress = keras.utils.Progbar(len(pairs), unit_name="pair") if verbose else None
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        records = cache.take(
            sources[start : start + len(batch)] + targets[start : start + len(batch)]
        )
        records_a, records_b = records[: len(batch)], records[len(batch) :]
        theta = split1.regress(
            np.stack([r.features for r in records_a]), np.stack([r.features for r in records_b])
        )
        # The chain's stages for the batch: [(geometric_model, θ (batch, P)), ...].
        stages = [(split1.geometric_model, theta)]
        if split2 is not None:
            # A1 = A (resized to the second model's size) sampled on θ1's grid there.
            warped = chain.warp_resized(np.stack([r.network_image2 for r in records_a]), stages)
            features_a1 = _extract(split2, warped.numpy(), batch_size, backbone_images)
            theta2 = split2.regress(features_a1, np.stack([r.features2 for r in records_b]))
            stages.append((split2.geometric_model, theta2))
        for index, (pair, record_a, record_b) in enumerate(zip(batch, records_a, records_b)):
            pair_stages = [(name, thetas[index]) for name, thetas in stages]
            for accumulator, used_stages in ((model_pck, pair_stages), (identity_pck, [])):
                predicted = point_transfer.transfer_points(
                    pair.target_points, used_stages, record_b.size, record_a.size
                )
                accumulator.add(predicted, pair.source_points, pair.category)
        batch_stages.append(stages)
        if progress is not None:
            progress.add(len(batch))

    return EvaluationResult(
        method=method,
        pck=model_pck,
        identity_pck=identity_pck,
        pairs=pairs,
        thetas=np.concatenate([stages[0][1] for stages in batch_stages]),
        thetas2=None if split2 is None else np.concatenate([s[1][1] for s in batch_stages]),
        num_distinct_images=len(set(sources + targets)),
        num_backbone_images=sum(backbone_images.values()),
        use_feature_cache=bool(use_feature_cache),
    )


def run_evaluation(config, print_fn=print, read_pairs=None):
    """Reads the pairs, loads the model(s), evaluates, prints a table, writes JSON.

    Args:
        config: an `EvaluationConfig`.
        print_fn: where the text report goes (e.g. `logging.info`).
        read_pairs: what `config.read_pairs()` returned, if the caller read
            them already (the program does, before TensorFlow starts).

    Returns:
        The `EvaluationResult`.
    """
    pairs_csv, dataset_format, pairs = read_pairs or config.read_pairs()
    policy, why = mixed_precision_lib.resolve_dtype_policy(config.mixed_precision)
    model, model2 = model_loading.load_stages(config.model, config.model2, mixed_precision=policy)
    print_fn(f"Pairs: {len(pairs)} from {pairs_csv} ({dataset_format})")
    print_fn(f"Computing in {policy} ({why})")
    print_fn(f"Model: {config.model} ({model_loading.describe_geomatch_model(model)})")
    if model2 is not None:
        print_fn(f"Model 2: {config.model2} ({model_loading.describe_geomatch_model(model2)})")
        print_fn(f"Note: {TWO_STAGE_CACHE_NOTE}")

    result = evaluate_keypoint_pairs(
        pairs,
        model,
        model2,
        alphas=config.alphas,
        batch_size=config.batch_size,
        use_feature_cache=config.use_feature_cache,
        verbose=config.verbose,
    )
    print_fn(
        f"{result.num_distinct_images} distinct images, {result.num_backbone_images} backbone "
        f"passes (feature cache {'on' if result.use_feature_cache else 'off'})"
    )
    print_fn(result.format_table())

    output_json = config.resolve_output_json(dataset_format)
    if output_json:
        document = {
            "config": dataclasses.asdict(config),
            "pairs_csv": os.path.abspath(pairs_csv),
            "dataset": dataset_format,
            "models": [model_loading.describe_geomatch_model(m) for m in (model, model2) if m],
            "mixed_precision": policy,
            **result.to_dict(),
        }
        directory = os.path.dirname(os.path.abspath(output_json))
        os.makedirs(directory, exist_ok=True)
        with open(output_json, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1)
        print_fn(f"Wrote {output_json}")
    return result


def _as_model(model):
    if isinstance(model, (str, os.PathLike)):
        return model_loading.load_geomatch_model(model)
    return model


def _extract(split, images, batch_size, counter):
    counter[split.model.name] += len(images)
    chunks = [
        split.extract_features(images[i : i + batch_size])
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks)


def _record_maker(split1, split2, target_paths, batch_size, counter):
    """The cache's compute function: image paths → `_ImageRecord`s, batched."""

    def compute(paths):
        originals = [image_io.load_image(path, f"image {path}") for path in paths]
        network = np.stack([warp.resize_image(image, split1.image_size) for image in originals])
        features = _extract(split1, network, batch_size, counter)
        network2 = features2 = [None] * len(paths)
        if split2 is not None:
            if split2.image_size == split1.image_size:
                network2 = network
            else:
                network2 = np.stack(
                    [warp.resize_image(image, split2.image_size) for image in originals]
                )
            features2 = [None] * len(paths)
            wanted = [i for i, path in enumerate(paths) if path in target_paths]
            if wanted:
                for i, f in zip(wanted, _extract(split2, network2[wanted], batch_size, counter)):
                    features2[i] = f
        return [
            _ImageRecord(
                size=tuple(original.shape[:2]),
                features=features[i],
                network_image2=network2[i],
                features2=features2[i],
            )
            for i, original in enumerate(originals)
        ]

    return compute
