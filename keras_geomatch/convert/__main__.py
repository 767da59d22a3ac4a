"""Converts a checkpoint of the reference PyTorch code to a ``.keras`` model.

    python -m keras_geomatch.convert CHECKPOINT.pth.tar OUT.keras \
        [--backbone auto|vgg16|resnet101_torch|resnet101] \
        [--image_size 240 | --image_size 240 320] [--allow_unsafe_pickle]

The geometric model (affine, hom, hom_matrix, tps) is read from the size of
θ in the file; the backbone from its key names unless given (ResNet-101
files get ``resnet101_torch``, torchvision's exact layout; ``resnet101``,
keras.applications' network, is only an approximation). The saved model
takes RGB images in [0, 255] and outputs θ; load it with
``import keras_geomatch; keras.models.load_model(OUT.keras)``.
"""

import argparse
import sys


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m keras_geomatch.convert",
        description="Convert a reference CNNGeometric .pth.tar checkpoint to a .keras model.",
    )
    parser.add_argument("checkpoint", help="the reference's .pth.tar file")
    parser.add_argument("output", help="where to write the .keras model")
    parser.add_argument(
        "--backbone", default="auto", choices=("auto", "vgg16", "resnet101_torch", "resnet101"),
        help="Keras backbone to build (default: inferred from the keys; ResNet-101 "
             "files get resnet101_torch, exact; resnet101 is keras.applications' "
             "network and only approximates them)",
    )
    parser.add_argument(
        "--image_size", type=int, nargs="+", default=[240], metavar="SIZE",
        help="input size: one value (square) or HEIGHT WIDTH (default 240)",
    )
    parser.add_argument(
        "--allow_unsafe_pickle", action="store_true",
        help="if the safe loader refuses the file, load it with weights_only=False "
             "(runs pickled code: only for files you trust)",
    )
    return parser


def main(argv=None):
    """Entry point; returns the process exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if len(args.image_size) not in (1, 2):
        parser.error(f"--image_size takes 1 or 2 values. Received: {args.image_size}")
    image_size = tuple(args.image_size) * (2 // len(args.image_size))

    # Imported here so that --help works without TensorFlow start-up.
    from keras_geomatch.convert.converter import convert_checkpoint

    try:
        model = convert_checkpoint(
            args.checkpoint,
            args.output,
            backbone=args.backbone,
            image_size=image_size,
            allow_unsafe_pickle=args.allow_unsafe_pickle,
        )
    except (ValueError, FileNotFoundError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"Wrote {args.output} ({model.name}, image size {image_size}); it takes RGB "
        "images in [0, 255] and normalises them the torch way itself."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
