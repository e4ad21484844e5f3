"""Convolution + bias + activation (no normalization, or eval-mode batch norm folded in).

Training, and anything oneDNN does not cover, runs ATen's convolution followed by one
``bias_act`` pass (:mod:`fusegen.ops.bias_act`), which has autograd. Inference on CPU runs one
oneDNN call with the bias and activation in the convolution's epilogue (from ``ONEDNN_FROM``
output values; smaller maps take ATen's convolution and the activation in place):

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
import torch.nn.functional as F

from .activations import ACTIVATIONS
from .activations import activation as activation_row
from .bias_act import bias_act
from .checks import check_float_tensor

__all__ = ["ONEDNN_AVAILABLE", "ONEDNN_DTYPES", "ONEDNN_FROM", "aten_convolution", "can_use_onednn",
           "check_convolution", "conv_bias_act", "conv_output_numel", "onednn_conv_bias_act"]


def conv_bias_act(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    transposed: bool = False,
    output_padding=0,
    activation: str = "relu",
    negative_slope: float = 0.2,
) -> torch.Tensor:
    """``act(conv2d(input, weight) + bias)`` (or ``conv_transpose2d``): a convolution block
    without normalization, or one with eval-mode batch norm folded into ``weight`` and ``bias``.

    When nothing needs gradients on CPU, oneDNN computes it in one call with the bias and
    activation in the convolution's epilogue (:func:`onednn_conv_bias_act`); otherwise the
    convolution is followed by one ``bias_act`` pass, which has autograd.
    """
    act = activation_row(activation)
    check_convolution(input, weight, bias, groups, transposed)
    if can_use_onednn(input, weight, bias, padding, activation):
        if conv_output_numel(input, weight, stride, padding, dilation, groups, transposed,
                             output_padding) >= ONEDNN_FROM:
            return onednn_conv_bias_act(input, weight, bias, _pair(stride), _pair(padding),
                                        _pair(dilation), groups, transposed,
                                        _pair(output_padding), activation, negative_slope)
        # Small maps: oneDNN's pointwise call costs more to set up than the pass it saves.
        y = aten_convolution(input, weight, bias, stride, padding, dilation, groups, transposed,
                             output_padding)
        return act.apply_in_place(y, negative_slope)
    fuse_bias = act.name != "none"
    y = aten_convolution(input, weight, None if fuse_bias else bias, stride, padding, dilation,
                         groups, transposed, output_padding)
    return bias_act(y, bias, activation=activation, negative_slope=negative_slope) if fuse_bias else y


def check_convolution(input, weight, bias, groups: int, transposed: bool) -> None:
    """The checks ATen's convolution would make, with messages that name the argument."""
    check_float_tensor(input, "input")
    check_float_tensor(weight, "weight")
    if input.dim() != 4:
        raise ValueError(f"input must have shape (N, C, H, W), got {tuple(input.shape)}")
    expected = weight.shape[0] if transposed else weight.shape[1] * groups
    if input.shape[1] != expected:
        raise ValueError(
            f"input must have {expected} channels for this convolution weight of shape "
            f"{tuple(weight.shape)} (groups={groups}), got {input.shape[1]} channels"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.device != input.device:
            raise ValueError(f"{name} must be on the input's device ({input.device}), got {t.device}")


def aten_convolution(input, weight, bias, stride, padding, dilation, groups, transposed,
                     output_padding):
    """ATen's convolution (oneDNN / cuDNN), with autograd; arguments already checked."""
    if transposed:
        return F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def conv_output_numel(input, weight, stride, padding, dilation, groups: int, transposed: bool,
                      output_padding) -> int:
    """The number of values the convolution writes (integer padding; ATen checks the rest)."""
    kernel = weight.shape[2:]
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    numel = input.shape[0] * out_channels
    for size, k, s, p, d, op in zip(input.shape[2:], kernel, _pair(stride), _pair(padding),
                                    _pair(dilation), _pair(output_padding)):
        if transposed:
            numel *= max(0, (size - 1) * s - 2 * p + d * (k - 1) + op + 1)
        else:
            numel *= max(0, (size + 2 * p - d * (k - 1) - 1) // s + 1)
    return numel


# --- the oneDNN path --------------------------------------------------------------------------


def _operators_present() -> bool:
    ops = torch.ops.mkldnn
    return hasattr(ops, "_convolution_pointwise") and hasattr(ops, "_convolution_transpose_pointwise")


# Output values from which one oneDNN call with the bias and activation in its epilogue beats
# ATen's convolution followed by the activation in place: below it, the pointwise operator's
# setup costs more than the pass it saves (measured: benchmarks/README.md, "Eval blocks").
ONEDNN_FROM = 1 << 16

# Fixed for the process: whether this torch has oneDNN and the operators, and which dtypes
# oneDNN runs on this CPU (bfloat16 needs AVX-512 BF16 / AMX class CPUs).
ONEDNN_AVAILABLE = torch.backends.mkldnn.is_available() and _operators_present()
ONEDNN_DTYPES = frozenset(
    [torch.float32] + ([torch.bfloat16] if ONEDNN_AVAILABLE and torch.ops.mkldnn._is_mkldnn_bf16_supported() else []))


def can_use_onednn(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding,
                   activation: str) -> bool:
    """Whether :func:`onednn_conv_bias_act` can run this convolution (see the module docstring)."""
    if torch.compiler.is_compiling():  # the flags below are not traceable; compiled graphs
        return False                    # keep the convolution + bias_act operators
    tensors = (input, weight) if bias is None else (input, weight, bias)
    return (
        activation in ACTIVATIONS
        and input.dim() == 4
        and all(t.device.type == "cpu" and t.dtype == input.dtype for t in tensors)
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
        and not isinstance(padding, str)
        and not torch.is_autocast_enabled("cpu")
        and ONEDNN_AVAILABLE
        and torch.backends.mkldnn.enabled
        and input.dtype in ONEDNN_DTYPES
    )


def onednn_conv_bias_act(input, weight, bias, stride, padding, dilation, groups: int,
                         transposed: bool, output_padding, activation: str,
                         negative_slope: float) -> torch.Tensor:
    """``act(conv(input, weight) + bias)`` in one oneDNN call; check :func:`can_use_onednn` first.

    Arguments are those of ``F.conv2d`` / ``F.conv_transpose2d`` (pairs of ints), the
    activation name and the LeakyReLU slope. The output keeps the input's memory format.
    """
    act = ACTIVATIONS[activation]
    attr = act.onednn_post_op or "none"
    scalars = act.onednn_scalars(negative_slope) if act.onednn_post_op else []
    stride, padding, dilation = list(stride), list(padding), list(dilation)
    if bias is not None:
        # oneDNN reads the bias as a dense vector of out-channels values: ATen's convolution
        # checks this itself, the pointwise operators do not (a strided bias gives wrong numbers).
        out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
        if bias.shape != (out_channels,):
            raise ValueError(f"bias must have shape ({out_channels},) for this convolution weight of "
                             f"shape {tuple(weight.shape)}, got {tuple(bias.shape)}")
        bias = bias.contiguous()
    if transposed:
        for op, s, d in zip(output_padding, stride, dilation):
            if not 0 <= op < max(s, d):
                raise ValueError(f"output_padding must be >= 0 and smaller than stride or dilation, "
                                 f"got output_padding={tuple(output_padding)} with stride="
                                 f"{tuple(stride)}, dilation={tuple(dilation)}")
        y = torch.ops.mkldnn._convolution_transpose_pointwise(
            input, weight, bias, padding, list(output_padding), stride, dilation, groups, attr,
            scalars, None)
    else:
        y = torch.ops.mkldnn._convolution_pointwise(
            input, weight, bias, padding, stride, dilation, groups, attr, scalars, None)
    # An activation oneDNN does not compute as torch does runs after the convolution, in place
    # where torch has an in-place form.
    if act.onednn_post_op:
        return y
    return act.apply_in_place(y, negative_slope)
