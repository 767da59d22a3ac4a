"""Package attributes loaded from their submodules on first use (PEP 562).

The subpackages whose configs the command-line programs read before
TensorFlow starts (`data`, `geometry`, `training`, `evaluation`) import their
TensorFlow modules this way, so that reading a config does not start it.
"""

import importlib
import sys


def lazy_names(package, names):
    """`(__getattr__, __dir__)` for `package` that import `names` on first use.

    Args:
        package: the package's `__name__`.
        names: `{public name: submodule defining it}`.

    Example (in a package's `__init__.py`):
        >>> __getattr__, __dir__ = lazy_names(__name__, {"train": "trainer"})
    """

    def __getattr__(name):
        if name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
