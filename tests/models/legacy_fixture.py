"""The `.keras` files of keras-geomatch v0.1 in `legacy_v0_1/`, and how they were made.

Before `GeomatchModel`, `build_geomatch_model` returned a plain functional
`keras.Model`, and `.keras` files saved then load as `Functional`. The files
in `legacy_v0_1/` were written by that code (see its README.md), so the
tests can check that such files still load, as `GeomatchModel`s giving the
same θ.

Run only from a checkout of the v0.1 layout (the script refuses otherwise):

    PYTHONPATH=/path/to/old/checkout python tests/models/legacy_fixture.py
"""

import json
import os
import zipfile

import numpy as np

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "legacy_v0_1")
EXPECTED_FILE = "expected.json"

# file name → build_geomatch_model arguments (backbone 'small', weights=None).
FIXTURES = {
    "affine_small.keras": dict(
        geometric_model="affine", image_size=(88, 88), train_backbone=True
    ),
    "tps_small_caffe_plain.keras": dict(
        geometric_model="tps",
        image_size=(88, 96),
        preprocessing="caffe",
        normalize_matches=False,
        name="legacy_tps",
    ),
    # Saved wrapped by add_warped_image_output: the geomatch model is nested.
    "hom_small_warp.keras": dict(geometric_model="hom", image_size=(96, 88), wrap=True),
}


def fixture_images(image_size, batch=2):
    """Deterministic smooth RGB images in [0, 255], `(batch, H, W, 3)` float32 (no RNG)."""
    y, x = np.mgrid[0 : image_size[0], 0 : image_size[1]].astype(np.float64)
    images = []
    for b in range(batch):
        channels = [
            127.5 * (1.0 + np.sin(0.11 * (b + 1) * x + 0.07 * (c + 1) * y + 0.5 * c + b))
            for c in range(3)
        ]
        images.append(np.stack(channels, axis=-1))
    return np.asarray(images, dtype=np.float32)


def fixture_inputs(image_size):
    """The `{source_image, target_image}` the expected θ were computed on."""
    images = fixture_images(image_size, batch=4)
    return {"source_image": images[:2], "target_image": images[2:][::-1].copy()}


def _low_entropy_weights(model, seed):
    """Sparse ternary weights: random enough to pin every weight's place, and
    they compress (the Dense-heavy regression head is ~1 M values)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        name = variable.path.split("/")[-1]
        signs = rng.choice([-1.0, 0.0, 1.0], size=shape, p=[0.1, 0.8, 0.1])
        if name == "moving_variance":
            value = 1.0 + 0.5 * np.abs(signs)
        elif name == "gamma":
            value = 1.0 + 0.25 * signs
        elif name in ("beta", "moving_mean", "bias"):
            value = 0.125 * signs
        else:  # kernels: ~He scale for a density of 0.2
            fan_in = int(np.prod(shape[:-1]))
            value = signs * float(2.0 ** np.round(np.log2(np.sqrt(10.0 / fan_in))))
        variable.assign(value.astype(np.float32))


def _deflate(path):
    # Keras stores the zip members uncompressed; the same zip, deflated.
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info, data in members:
            target.writestr(info.filename, data)


def main():
    import keras

    from keras_geomatch.models import add_warped_image_output
    from keras_geomatch.models import build_geomatch_model

    expected = {}
    for seed, (file_name, arguments) in enumerate(sorted(FIXTURES.items())):
        arguments = dict(arguments)
        wrap = arguments.pop("wrap", False)
        model = build_geomatch_model(backbone="small", weights=None, **arguments)
        if type(model) is not keras.Model and type(model).__name__ != "Functional":
            raise SystemExit(
                "This script writes files of the v0.1 layout: run it with PYTHONPATH set "
                f"to a checkout of that version. Received: {type(model).__name__}"
            )
        _low_entropy_weights(model, seed)
        theta = np.asarray(model(fixture_inputs(arguments["image_size"]), training=False))
        path = os.path.join(FOLDER, file_name)
        (add_warped_image_output(model) if wrap else model).save(path)
        _deflate(path)
        loaded = keras.models.load_model(path)
        output = loaded(fixture_inputs(arguments["image_size"]))
        np.testing.assert_allclose(output["theta"] if wrap else output, theta, atol=1e-6)
        expected[file_name] = {
            "geometric_model": arguments["geometric_model"],
            "backbone": "small",
            "image_size": list(arguments["image_size"]),
            "preprocessing": arguments.get("preprocessing", "unit"),
            "normalize_matches": arguments.get("normalize_matches", True),
            "train_backbone": arguments.get("train_backbone", False),
            "name": model.name,
            "wrapped": wrap,
            "theta": theta.tolist(),
        }
    with open(os.path.join(FOLDER, EXPECTED_FILE), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
