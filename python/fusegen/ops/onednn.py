"""Inference convolution with the bias and activation in oneDNN's epilogue (CPU only).

ATen ships oneDNN's convolution with a fused element-wise post-op as
``torch.ops.mkldnn._convolution_pointwise`` (and ``_convolution_transpose_pointwise``), the
operators torch.compile's CPU backend emits for Conv -> activation. With batch norm folded into
the weights, Conv -> BatchNorm -> activation in eval mode becomes one call that writes its
output once, where a convolution followed by a bias + activation pass writes and reads it again.

These operators have no autograd formula, so they are used only when nothing needs gradients;
anything they do not cover (float64, string padding, autocast, a torch built without oneDNN,
``torch.backends.mkldnn.enabled = False``, graphs traced by torch.compile) takes the
convolution + ``bias_act`` path instead.
"""

from __future__ import annotations

import torch

# fusegen's activation names -> oneDNN post-op names (torch.ops.mkldnn's "attr").
POST_OPS = {"none": "none", "relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh",
            "sigmoid": "sigmoid", "silu": "swish"}


def _operators_present() -> bool:
    ops = torch.ops.mkldnn
    return hasattr(ops, "_convolution_pointwise") and hasattr(ops, "_convolution_transpose_pointwise")


# Fixed for the process: whether this torch has oneDNN and the operators, and which dtypes
# oneDNN runs on this CPU (bfloat16 needs AVX-512 BF16 / AMX class CPUs).
AVAILABLE = torch.backends.mkldnn.is_available() and _operators_present()
DTYPES = frozenset(
    [torch.float32] + ([torch.bfloat16] if AVAILABLE and torch.ops.mkldnn._is_mkldnn_bf16_supported() else []))


def can_fuse(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding,
             activation: str) -> bool:
    """Whether :func:`conv_bias_act` can run this convolution (see the module docstring)."""
    if torch.compiler.is_compiling():  # the flags below are not traceable; compiled graphs
        return False                    # keep the convolution + bias_act operators
    tensors = (input, weight) if bias is None else (input, weight, bias)
    return (
        activation in POST_OPS
        and input.dim() == 4
        and all(t.device.type == "cpu" and t.dtype == input.dtype for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
        and not isinstance(padding, str)
        and not torch.is_autocast_enabled("cpu")
        and AVAILABLE
        and torch.backends.mkldnn.enabled
        and input.dtype in DTYPES
    )


def conv_bias_act(input, weight, bias, stride, padding, dilation, groups: int, transposed: bool,
                  output_padding, activation: str, negative_slope: float) -> torch.Tensor:
    """``act(conv(input, weight) + bias)`` in one oneDNN call; check :func:`can_fuse` first.

    Arguments are those of ``F.conv2d`` / ``F.conv_transpose2d`` (pairs of ints), the
    activation name and the LeakyReLU slope. The output keeps the input's memory format.
    """
    attr = POST_OPS[activation]
    scalars = [float(negative_slope)] if activation == "leaky_relu" else []
    stride, padding, dilation = list(stride), list(padding), list(dilation)
    if transposed:
        return torch.ops.mkldnn._convolution_transpose_pointwise(
            input, weight, bias, padding, list(output_padding), stride, dilation, groups, attr,
            scalars, None)
    return torch.ops.mkldnn._convolution_pointwise(
        input, weight, bias, padding, stride, dilation, groups, attr, scalars, None)
