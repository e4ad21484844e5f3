"""Fixtures of the metrics tests: Gaussian feature sets, and one thread for their small tensors."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """Every metrics test runs on one thread: its tensors are tiny."""


def gaussian(n: int, d: int, seed: int, mean: float | torch.Tensor = 0.0, std: float | torch.Tensor = 1.0,
             device: str = "cpu", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n samples of N(mean, diag(std²)) in d dimensions, reproducible from the seed."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    return (x * std + mean).to(device)
