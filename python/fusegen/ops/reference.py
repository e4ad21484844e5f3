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


def conv_norm_act(
    input: torch.Tensor,
    conv: torch.nn.Module,
    norm: torch.nn.Module | None,
    act: torch.nn.Module | None,
) -> torch.Tensor:
    """``act(norm(conv(input)))`` with torch's own modules: what ``FusedConvNormAct`` must equal."""
    y = conv(input)
    if norm is not None:
        y = norm(y)
    return act(y) if act is not None else y


def norm_act(
    input: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    running_mean: torch.Tensor | None,
    running_var: torch.Tensor | None,
    *,
    training: bool,
    instance: bool,
    momentum: float,
    eps: float,
    activation: str,
    negative_slope: float,
) -> torch.Tensor:
    """``act(batch_norm(...))`` / ``act(instance_norm(...))`` with torch.nn.functional."""
    import torch.nn.functional as F

    if instance:
        y = F.instance_norm(input, None, None, weight, bias, True, momentum, eps)
    else:
        y = F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    activations = {
        "none": lambda t: t,
        "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, negative_slope),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "silu": F.silu,
    }
    return activations[activation](y)
