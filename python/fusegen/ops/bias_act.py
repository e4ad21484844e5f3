"""Fused bias + activation: the functional API and its operators.

* ``fusegen::bias_act`` -- ``act(input + bias)`` in one pass, used after a convolution without
  normalization and for inference with batch norm folded into the convolution.
* ``fusegen::bias_act_backward`` -- ``grad_input = grad_out * act'(input + bias)`` and the bias
  gradient in one pass each.

The kernels live in ``csrc/ops/bias_act/`` (on the passes of ``csrc/ops/norm_act/``).
"""

from __future__ import annotations

import torch

from .activations import activation_code
from .checks import check_float_tensor, check_same_device
from .norm_act import walkable_like

__all__ = ["bias_act"]


def bias_act(
    input: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    activation: str = "relu",
    negative_slope: float = 0.2,
) -> torch.Tensor:
    """``act(input + bias[None, :, None, None])`` in one pass; ``bias`` is optional, shape (C,)."""
    check_float_tensor(input, "input")
    return torch.ops.fusegen.bias_act(input, bias, activation_code(activation), float(negative_slope))


# --- what torch.compile and autograd need to know about the operators -----------------------


@torch.library.register_fake("fusegen::bias_act")
def _bias_act_fake(input, bias, activation, negative_slope):
    check_float_tensor(input, "input")
    check_same_device(input, bias=bias)
    return walkable_like(input)


@torch.library.register_fake("fusegen::bias_act_backward")
def _bias_act_backward_fake(grad_out, input, bias, activation, negative_slope, bias_needs_grad):
    grad_bias = input.new_empty(input.shape[1], dtype=bias.dtype) if bias_needs_grad else input.new_empty(0)
    return walkable_like(input), grad_bias


# Autograd of fusegen::bias_act is registered in C++ (csrc/ops/bias_act/bias_act_autograd.cpp).
