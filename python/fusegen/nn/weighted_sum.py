"""A module that combines K same-shaped tensors with (optionally learnable) weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..ops.weighted_sum import weighted_sum

_NORMALIZATIONS = ("softmax", "sum", "none")


class WeightedSum(nn.Module):
    """``y = sum_k w_k x_k`` over K inputs, on fusegen's fused weighted-sum operator.

    Args:
        num_inputs: K, the number of tensors combined (at least 1).
        learnable: if True the weights are an ``nn.Parameter`` trained with the model; if False
            they are a buffer (saved in the ``state_dict`` but not trained).
        normalize: how the raw parameters become weights:
            ``"softmax"`` -- ``w = softmax(raw)``: positive, summing to one (raw starts at 0);
            ``"sum"`` -- ``w = raw / raw.sum()``: sums to one, any sign (raw starts at 1);
            ``"none"`` -- ``w = raw`` (raw starts at 1/K).
        Every choice starts at the plain average.

    Call it with K tensors (``m(a, b, c)``), a sequence of them, or one tensor stacked as (K, ...).
    ``m.weights()`` returns the current normalized weights.
    """

    def __init__(self, num_inputs: int, learnable: bool = True, normalize: str = "softmax") -> None:
        super().__init__()
        if not isinstance(num_inputs, int) or isinstance(num_inputs, bool) or num_inputs < 1:
            raise ValueError(f"num_inputs must be a positive integer, got {num_inputs!r}")
        if normalize not in _NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {_NORMALIZATIONS}, got {normalize!r}")
        self.num_inputs = num_inputs
        self.normalize = normalize
        start = {"softmax": 0.0, "sum": 1.0, "none": 1.0 / num_inputs}[normalize]
        raw = torch.full((num_inputs,), start)
        if learnable:
            self.raw_weights = nn.Parameter(raw)
        else:
            self.register_buffer("raw_weights", raw)

    def weights(self) -> torch.Tensor:
        """The normalized weights, shape (K,)."""
        if self.normalize == "softmax":
            return torch.softmax(self.raw_weights, dim=0)
        if self.normalize == "sum":
            return self.raw_weights / self.raw_weights.sum()
        return self.raw_weights

    def forward(self, *inputs: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        xs = inputs[0] if len(inputs) == 1 else list(inputs)
        count = xs.shape[0] if isinstance(xs, torch.Tensor) else len(xs)
        if count != self.num_inputs:
            raise ValueError(f"WeightedSum was built for {self.num_inputs} inputs, got {count}")
        first = xs if isinstance(xs, torch.Tensor) else xs[0]
        w = self.weights()
        if w.device != first.device:
            raise ValueError(
                f"inputs are on {first.device} but the module's weights are on {w.device}; "
                "move the module with .to(device)"
            )
        return weighted_sum(xs, w)

    def extra_repr(self) -> str:
        learnable = isinstance(self.raw_weights, nn.Parameter)
        return f"num_inputs={self.num_inputs}, learnable={learnable}, normalize={self.normalize!r}"
