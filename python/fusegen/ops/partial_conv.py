"""The partial (masked) convolution's fused rescale + bias + activation, and the block built on it.

A partial convolution (Liu et al., "Image Inpainting for Irregular Holes Using Partial
Convolutions", 2018) convolves only the valid pixels and rescales each output by how many of its
window's inputs were valid:

    y     = conv(x * m, W)                   x with its holes zeroed
    count = conv(m, ones)                    valid inputs under each window
    z     = y * window / count + b           where count > 0, else 0 (the hole stays a hole)
    m'    = count > 0                        the updated mask

* ``fusegen::partial_bias_act`` -- ``act(z)`` from ``y`` and ``count`` in one pass (the rescale,
  the bias, the hole and the activation).
* ``fusegen::partial_bias_act_backward`` -- the gradients of ``y`` and ``b`` in one pass.

The convolutions are ATen's; a normalization after the rescale is ``norm_act``'s
(:func:`partial_conv_norm_act`). The kernels live in ``csrc/ops/partial_conv/``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .activations import activation_code
from .checks import check_float_tensor, check_same_device

__all__ = ["keep_valid", "mask_counts", "partial_bias_act"]


def partial_bias_act(
    input: torch.Tensor,
    count: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    window: float,
    activation: str = "relu",
    negative_slope: float = 0.2,
) -> torch.Tensor:
    """``act(input * window / count + bias)`` where ``count > 0``, ``act(0)`` where ``count == 0``.

    Args:
        input: (N, C, H, W) float tensor, the convolution of the masked input (without bias).
        count: (N, 1, H, W) or (N, C, H, W), the number of valid inputs under each output's
            window (:func:`mask_counts`); any float dtype (it is read in float32, float64 for
            float64 inputs).
        bias: optional (C,) bias, added to valid outputs only.
        window: the number of inputs under one window (``C_in * kh * kw`` for a per-channel
            mask, ``kh * kw`` for one mask per sample).
        activation, negative_slope: as in :func:`fusegen.ops.bias_act`.

    Gradients flow to ``input`` and ``bias`` (not to ``count``, a function of the mask).
    """
    check_float_tensor(input, "input")
    check_float_tensor(count, "count")
    if bias is not None:
        check_float_tensor(bias, "bias")
    return torch.ops.fusegen.partial_bias_act(input, count, bias, float(window),
                                              activation_code(activation), float(negative_slope))


# The integer type of each float type's width: keep_valid selects bits, not values.
_BITS = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32,
         torch.float64: torch.int64}


class _KeepValid(torch.autograd.Function):
    """``input`` where ``bits`` is all ones, +0 where it is 0: a bitwise AND of the values'
    bits, so NaN or inf in a hole becomes 0 exactly (as ``torch.where`` would), at the memory
    speed of a copy (``torch.where`` with a bool mask is about 3x slower on the CPU)."""

    @staticmethod
    def forward(ctx, input: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(bits)
        return torch.bitwise_and(input.view(bits.dtype), bits).view(input.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (bits,) = ctx.saved_tensors
        return torch.bitwise_and(grad.view(bits.dtype), bits).view(grad.dtype), None


def keep_valid(input: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``input`` with its holes set to 0: ``torch.where(valid, input, 0)``, with the same
    result for every value (NaN and inf included) and the same gradient, but faster.

    ``input``: a float tensor; ``valid``: a bool tensor that broadcasts to it (e.g. (N, 1, H, W)
    against (N, C, H, W)), True where the input is kept.
    """
    check_float_tensor(input, "input")
    if not isinstance(valid, torch.Tensor) or valid.dtype != torch.bool:
        raise TypeError(f"valid must be a bool tensor, got "
                        f"{valid.dtype if isinstance(valid, torch.Tensor) else type(valid).__name__}")
    check_same_device(input, valid=valid)
    if input.dtype not in _BITS:
        raise TypeError(f"input must be float16, bfloat16, float32 or float64, got {input.dtype}")
    bits = -valid.to(_BITS[input.dtype])  # all ones where valid
    return _KeepValid.apply(input, bits)


def mask_counts(mask: torch.Tensor, kernel_size, stride=1, padding=0, dilation=1) -> tuple[torch.Tensor, float]:
    """The number of valid inputs under each window of a convolution, and the window's size.

    ``mask``: (N, 1, H, W) or (N, C, H, W), 1 (or True) where the input is valid. Returns
    ``(count, window)``: count (N, 1, H', W') in float32 (float64 for a float64 mask), exact
    for any window, and ``window = mask channels * kh * kw``.
    """
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4:
        raise ValueError(f"mask must be a tensor of shape (N, 1 or C, H, W), got "
                         f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__}")
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    dtype = torch.float64 if mask.dtype == torch.float64 else torch.float32
    valid = mask.to(dtype)
    ones = valid.new_ones((1, mask.shape[1], kh, kw))
    count = F.conv2d(valid, ones, None, stride, padding, dilation)
    return count, float(mask.shape[1] * kh * kw)


# --- what torch.compile and autograd need to know about the operators -----------------------


@torch.library.register_fake("fusegen::partial_bias_act")
def _partial_bias_act_fake(input, count, bias, window, activation, negative_slope):
    check_float_tensor(input, "input")
    check_same_device(input, count=count, bias=bias)
    return torch.empty_like(input, memory_format=torch.contiguous_format)


@torch.library.register_fake("fusegen::partial_bias_act_backward")
def _partial_bias_act_backward_fake(grad_out, input, count, bias, window, activation,
                                    negative_slope, bias_needs_grad):
    check_same_device(input, grad_out=grad_out, count=count, bias=bias)
    grad_bias = input.new_empty(input.shape[1], dtype=bias.dtype) if bias_needs_grad else input.new_empty(0)
    return torch.empty_like(input, memory_format=torch.contiguous_format), grad_bias


def _setup_context(ctx, inputs, output):
    input, count, bias, window, activation, negative_slope = inputs
    ctx.save_for_backward(input, count, bias)
    ctx.args = (window, activation, negative_slope)


def _backward(ctx, grad_out):
    input, count, bias = ctx.saved_tensors
    input_needs_grad, _, bias_needs_grad = ctx.needs_input_grad[:3]
    if not (input_needs_grad or bias_needs_grad):
        return None, None, None, None, None, None
    grad_input, grad_bias = torch.ops.fusegen.partial_bias_act_backward(
        grad_out, input, count, bias, *ctx.args, bool(bias_needs_grad))
    return (grad_input if input_needs_grad else None, None,
            grad_bias if bias_needs_grad else None, None, None, None)


torch.library.register_autograd("fusegen::partial_bias_act", _backward, setup_context=_setup_context)
