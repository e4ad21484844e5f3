"""Fixtures of the metrics tests: Gaussian feature sets, and one thread for their small tensors."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    # The test tensors are tiny: on a busy machine a second thread only waits for a core.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gaussian(n: int, d: int, seed: int, mean: float | torch.Tensor = 0.0, std: float | torch.Tensor = 1.0,
             device: str = "cpu", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n samples of N(mean, diag(std²)) in d dimensions, reproducible from the seed."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    return (x * std + mean).to(device)
