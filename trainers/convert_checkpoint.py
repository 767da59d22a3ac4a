r"""Converts a checkpoint of the reference PyTorch code to a `.keras` model.

    python trainers/convert_checkpoint.py CHECKPOINT.pth.tar OUT.keras \
        [--backbone=auto|vgg16|resnet101_torch|resnet101] \
        [--image_size=240 | --image_size=240,320] [--allow_unsafe_pickle]

The geometric model (affine, hom, hom_matrix, tps) is read from the size of
θ in the file; the backbone from its key names unless given (ResNet-101
files get `resnet101_torch`, torchvision's exact layout; `resnet101`,
keras.applications' network, is only an approximation). The saved model
takes RGB images in [0, 255] and outputs θ; load it with
`import keras_geomatch; keras.models.load_model("OUT.keras")`.
Reading the file needs PyTorch (`pip install "keras-geomatch[convert]"`).

The last line printed is `Wrote OUT ...`. Exit status: 0 on success, 2 on
a usage or input error (a one-line message on stderr).
"""

import os
import sys

from absl import flags

if __name__ == "__main__":  # run as a script: trainers/ is sys.path[0]
    import cli_support

    cli_support.defer_package_import()  # TensorFlow starts once the arguments are checked
else:
    from trainers import cli_support

USAGE_ERROR = cli_support.USAGE_ERROR
BACKBONES = ("auto", "vgg16", "resnet101_torch", "resnet101")


def define_flags(flag_values=flags.FLAGS):
    """Defines this program's flags on `flag_values` (tests pass a fresh `FlagValues`)."""
    flags.DEFINE_enum(
        "backbone", "auto", BACKBONES,
        "Keras backbone to build: 'auto' infers it from the keys (ResNet-101 files get "
        "resnet101_torch, exact); resnet101 is keras.applications' network and only "
        "approximates them.",
        flag_values=flag_values,
    )
    flags.DEFINE_list(
        "image_size", ["240"],
        "Input size: one value (square) or height,width.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "allow_unsafe_pickle", False,
        "If the safe loader refuses the file, load it with weights_only=False (runs pickled "
        "code: only for files you trust).",
        flag_values=flag_values,
    )


def _image_size(values):
    try:
        sizes = tuple(int(v) for v in values)
    except ValueError:
        sizes = ()
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise ValueError(
            f"Expected --image_size as 1 or 2 values (positive integers: size, or "
            f"height,width). Received: {','.join(values)}"
        )
    return sizes * (2 // len(sizes))


def _error(message):
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def main(argv, flag_values=flags.FLAGS):
    """Runs the conversion on parsed flags; `argv` is the program name, CHECKPOINT and OUT."""
    if len(argv) != 3:
        return _error(
            f"expected two arguments, the checkpoint and the output .keras file. "
            f"Received: {argv[1:]}"
        )
    checkpoint, output = argv[1], argv[2]
    try:
        image_size = _image_size(flag_values.image_size)
    except ValueError as error:
        return _error(error)
    # The same message as the reader's, before TensorFlow starts.
    if not os.path.isfile(checkpoint):
        return _error(f"Expected a checkpoint file. Received: path={checkpoint!r}")
    if not output.endswith(".keras"):
        return _error(f"Expected an output path ending in '.keras'. Received: {output!r}")

    cli_support.start_tensorflow()
    from keras_geomatch.convert.converter import convert_checkpoint

    try:
        model = convert_checkpoint(
            checkpoint,
            output,
            backbone=flag_values.backbone,
            image_size=image_size,
            allow_unsafe_pickle=flag_values.allow_unsafe_pickle,
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        return _error(error)
    print(
        f"Wrote {output} ({model.name}, image size {image_size}); it takes RGB "
        "images in [0, 255] and normalises them the torch way itself."
    )
    return 0


if __name__ == "__main__":
    define_flags()
    cli_support.run(main)
