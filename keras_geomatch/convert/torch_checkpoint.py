"""Reading the reference's ``.pth.tar`` checkpoints into numpy arrays.

Needs PyTorch (the optional ``convert`` extra), imported only when a file is
read. Files are opened with ``torch.load(weights_only=True)``, which refuses
to run arbitrary pickled code; the plain data types the reference's trainer
stores beside the weights (its ``argparse.Namespace`` of options, numpy
scalars) are allowed explicitly. Anything else needs
``allow_unsafe_pickle=True``, i.e. ``weights_only=False``: only for files
from a source you trust.
"""

import argparse
import os

import numpy as np


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "Reading PyTorch checkpoints needs PyTorch: pip install "
            "'keras-geomatch[convert]' (or any CPU build of torch)."
        ) from error
    return torch


def _plain_data_globals():
    """Harmless classes found in reference checkpoints besides tensors."""
    allowed = [argparse.Namespace, np.dtype]
    try:
        allowed.append(np._core.multiarray.scalar)
    except AttributeError:  # numpy < 2
        allowed.append(np.core.multiarray.scalar)
    allowed += [type(np.dtype(name)) for name in ("float32", "float64", "int64", "int32")]
    return allowed


def load_checkpoint(path, allow_unsafe_pickle=False):
    """Loads a checkpoint file onto the CPU.

    Args:
        path: a ``.pth.tar`` / ``.pth`` file written by ``torch.save``.
        allow_unsafe_pickle: fall back to ``weights_only=False`` when the safe
            loader refuses the file. That runs the file's pickled code.

    Returns:
        Whatever object the file holds (a dict for the reference).
    """
    torch = _import_torch()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected a checkpoint file. Received: path={path!r}")
    try:
        with torch.serialization.safe_globals(_plain_data_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError or RuntimeError
        if not allow_unsafe_pickle:
            raise ValueError(
                f"torch.load(weights_only=True) refused {path!r}: {error}\n"
                "If you trust this file, convert it with allow_unsafe_pickle=True "
                "(CLI: --allow_unsafe_pickle), which runs its pickled code."
            ) from error
    return torch.load(path, map_location="cpu", weights_only=False)


def state_dict_to_numpy(checkpoint):
    """The ``state_dict`` of a loaded checkpoint as ``{key: float32/int numpy array}``.

    Accepts the reference's ``{"state_dict": ..., ...}`` dict or a bare
    state dict.
    """
    torch = _import_torch()
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        state_dict = checkpoint["state_dict"]
    else:
        state_dict = checkpoint
    if not isinstance(state_dict, dict) or not all(
        torch.is_tensor(value) for value in state_dict.values()
    ):
        top = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint)
        raise ValueError(
            "Expected a dict with a 'state_dict' of tensors (or a bare state dict). "
            f"Received: {top}"
        )
    return {key: value.detach().cpu().numpy() for key, value in state_dict.items()}


def read_state_dict(path, allow_unsafe_pickle=False):
    """``load_checkpoint`` then ``state_dict_to_numpy``."""
    return state_dict_to_numpy(load_checkpoint(path, allow_unsafe_pickle))
