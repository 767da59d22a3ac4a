"""Checkpoint-converter tests need PyTorch (the optional ``convert`` extra)."""

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="session")
def _torch_single_thread():
    """Runs the PyTorch reference on one thread.

    On a busy machine PyTorch's OpenMP threads wait for each other: the
    ResNet-101 reference forward measured 14 s with 2 threads under load
    versus 1.9 s with 1.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
