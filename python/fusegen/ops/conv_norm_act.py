"""Fused convolution + normalization + activation: the composite functional API.

The convolution comes from ATen (oneDNN on CPU, cuDNN on CUDA) and keeps ATen's autograd;
everything after it is fusegen's: :func:`fusegen.ops.norm_act` (batch or instance norm +
activation, operators ``fusegen::norm_act_*``) or, without normalization,
:func:`fusegen.ops.conv_bias_act` (operators ``fusegen::bias_act*``, or oneDNN's epilogue).
"""

from __future__ import annotations

import torch

from .activations import activation_code
from .conv_bias_act import aten_convolution, check_convolution, conv_bias_act
from .norm_act import norm_act

__all__ = ["NORMS", "conv_norm_act"]

NORMS = ("batch", "instance", "none")


def conv_norm_act(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    norm_weight: torch.Tensor | None = None,
    norm_bias: torch.Tensor | None = None,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    transposed: bool = False,
    output_padding=0,
    norm: str = "batch",
    activation: str = "relu",
    negative_slope: float = 0.2,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """``act(norm(conv2d(input)))`` (or ``conv_transpose2d``) with the norm and activation fused.

    The convolution arguments are those of ``torch.nn.functional.conv2d`` /
    ``conv_transpose2d``; ``norm`` is ``"batch"``, ``"instance"`` or ``"none"``; the rest are those
    of :func:`norm_act`. With ``norm="none"`` this is :func:`conv_bias_act` (the convolution
    bias is added in the activation pass or, for inference on CPU, in oneDNN's epilogue).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if norm == "none":
        return conv_bias_act(input, weight, bias, stride=stride, padding=padding,
                             dilation=dilation, groups=groups, transposed=transposed,
                             output_padding=output_padding, activation=activation,
                             negative_slope=negative_slope)
    activation_code(activation)
    check_convolution(input, weight, bias, groups, transposed)
    y = aten_convolution(input, weight, bias, stride, padding, dilation, groups, transposed,
                         output_padding)
    return norm_act(
        y, norm_weight, norm_bias, running_mean, running_var, training=training,
        instance=norm == "instance", momentum=momentum, eps=eps, activation=activation,
        negative_slope=negative_slope,
    )
