"""Plain-PyTorch formulations of fusegen's operators: slow, obvious, and the ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def weighted_sum(inputs: torch.Tensor | Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """``sum_k w_k x_k`` by stacking, in the inputs' dtype promoted with float32 for half types."""
    xs = torch.stack(list(inputs.unbind(0)) if isinstance(inputs, torch.Tensor) else list(inputs))
    acc = torch.float64 if xs.dtype == torch.float64 else torch.float32
    w = weights.to(acc)
    # (K,) -> (K, 1, 1, ...); (K, N) -> (K, N, 1, ...)
    w = w.reshape(w.shape + (1,) * (xs.dim() - w.dim()))
    return (xs.to(acc) * w).sum(0).to(xs.dtype)
