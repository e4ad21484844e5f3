"""Fused convolution + normalization + activation: the functional API and its operators.

The convolution comes from ATen (oneDNN on CPU, cuDNN on CUDA) and keeps ATen's autograd;
everything after it is fusegen's:

* ``fusegen::norm_act_forward`` -- batch or instance statistics in one reduction pass, then
  normalize + affine + activation in one apply pass. Saves only the per-channel mean and
  inverse standard deviation.
* ``fusegen::norm_act_backward`` -- activation backward fused with normalization backward:
  one reduction pass, one pass writing the input gradient, plus weight and bias gradients.
* ``fusegen::update_running_stats`` -- the running-statistics update (a separate, mutating
  operator: PyTorch only accepts autograd formulas for functional operators).
* ``fusegen::bias_act`` / ``fusegen::bias_act_backward`` -- ``act(y + bias)`` in one pass, used
  without normalization and for inference with batch norm folded into the convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import onednn
from ._checks import check_float_tensor

__all__ = ["ACTIVATIONS", "NORMS", "bias_act", "conv_bias_act", "conv_norm_act", "norm_act"]

# The codes of the operators' `int activation` (the Activation enum in csrc/ops/conv_norm_act).
ACTIVATIONS = {"none": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4, "silu": 5}
NORMS = ("batch", "instance", "none")


def activation_code(activation: str) -> int:
    """The operator code of an activation name; ``ValueError`` for an unknown name."""
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}") from None


def norm_act(
    input: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    *,
    training: bool = True,
    instance: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    activation: str = "relu",
    negative_slope: float = 0.2,
) -> torch.Tensor:
    """``act(batch_norm(input))`` or ``act(instance_norm(input))`` in two passes over memory.

    Args:
        input: (N, C, ...) float tensor (NCHW or channels-last).
        weight, bias: optional affine parameters, shape (C,).
        running_mean, running_var: optional running statistics, shape (C,), updated in place
            when ``training`` (``momentum`` as in ``torch.nn.BatchNorm2d``, unbiased variance);
            used instead of the batch statistics when not ``training``. Not with ``instance``.
        instance: per-sample statistics (``InstanceNorm``) instead of per-batch ones.
        activation: one of ``"none"``, ``"relu"``, ``"leaky_relu"`` (``negative_slope``),
            ``"tanh"``, ``"sigmoid"``, ``"silu"``.

    Gradients reach ``input``, ``weight`` and ``bias`` through one fused backward operator.
    """
    check_float_tensor(input, "input")
    code = activation_code(activation)
    out, mean, invstd = torch.ops.fusegen.norm_act_forward(
        input, weight, bias, running_mean, running_var, training, instance, eps, code,
        float(negative_slope),
    )
    if training and running_mean is not None and input.numel() > 0:
        count = input.numel() // input.shape[1]
        torch.ops.fusegen.update_running_stats(
            running_mean, running_var, mean.detach(), invstd.detach(), float(momentum), eps, count
        )
    return out


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
    _check_convolution(input, weight, bias, groups, transposed)
    y = _aten_convolution(input, weight, bias, stride, padding, dilation, groups, transposed,
                          output_padding)
    return norm_act(
        y, norm_weight, norm_bias, running_mean, running_var, training=training,
        instance=norm == "instance", momentum=momentum, eps=eps, activation=activation,
        negative_slope=negative_slope,
    )


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
    activation in the convolution's epilogue (:mod:`fusegen.ops.onednn`); otherwise the
    convolution is followed by one ``bias_act`` pass, which has autograd.
    """
    code = activation_code(activation)
    _check_convolution(input, weight, bias, groups, transposed)
    if onednn.can_fuse(input, weight, bias, padding, activation):
        return onednn.conv_bias_act(input, weight, bias, _pair(stride), _pair(padding), _pair(dilation),
                                    groups, transposed, _pair(output_padding), activation, negative_slope)
    fuse_bias = code != ACTIVATIONS["none"]
    y = _aten_convolution(input, weight, None if fuse_bias else bias, stride, padding, dilation,
                          groups, transposed, output_padding)
    return bias_act(y, bias, activation=activation, negative_slope=negative_slope) if fuse_bias else y


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _check_convolution(input, weight, bias, groups, transposed):
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


def _aten_convolution(input, weight, bias, stride, padding, dilation, groups, transposed,
                      output_padding):
    """ATen's convolution (oneDNN / cuDNN), with autograd; arguments already checked."""
    if transposed:
        return F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


# --- what torch.compile and autograd need to know about the operators -----------------------


def _walkable_like(y: torch.Tensor) -> torch.Tensor:
    """An empty tensor in the layout the kernels write (mirrors walkable() in norm_act.cpp)."""
    if y.is_contiguous() or (y.dim() == 4 and y.is_contiguous(memory_format=torch.channels_last)):
        return torch.empty_like(y)
    return y.new_empty(y.shape)


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _stat_shape(y: torch.Tensor, instance: bool) -> tuple[int, ...]:
    return (y.shape[0], y.shape[1]) if instance else (y.shape[1],)


@torch.library.register_fake("fusegen::norm_act_forward")
def _norm_act_forward_fake(input, weight, bias, running_mean, running_var, training, instance,
                           eps, activation, negative_slope):
    check_float_tensor(input, "input")
    if input.dim() < 2:
        raise ValueError(f"input must have shape (N, C, ...), got {tuple(input.shape)}")
    stats = input.new_empty(_stat_shape(input, instance), dtype=_acc_dtype(input.dtype))
    return _walkable_like(input), stats, torch.empty_like(stats)


@torch.library.register_fake("fusegen::norm_act_backward")
def _norm_act_backward_fake(grad_out, input, weight, bias, save_mean, save_invstd,
                            use_input_stats, instance, activation, negative_slope, output_mask):
    acc = _acc_dtype(input.dtype)
    C = input.shape[1]
    grad_y = _walkable_like(input) if output_mask[0] else input.new_empty(0)

    def param_grad(param, wanted):
        if not wanted:
            return input.new_empty(0, dtype=acc)
        return input.new_empty(C, dtype=param.dtype if param is not None else acc)

    return grad_y, param_grad(weight, output_mask[1]), param_grad(bias, output_mask[2])


@torch.library.register_fake("fusegen::update_running_stats")
def _update_running_stats_fake(running_mean, running_var, save_mean, save_invstd, momentum, eps, count):
    return None


@torch.library.register_fake("fusegen::bias_act")
def _bias_act_fake(input, bias, activation, negative_slope):
    check_float_tensor(input, "input")
    return _walkable_like(input)


@torch.library.register_fake("fusegen::bias_act_backward")
def _bias_act_backward_fake(grad_out, input, bias, activation, negative_slope, bias_needs_grad):
    grad_bias = input.new_empty(input.shape[1], dtype=bias.dtype) if bias_needs_grad else input.new_empty(0)
    return _walkable_like(input), grad_bias


def _norm_act_setup_context(ctx, inputs, output):
    input, weight, bias, running_mean, _, training, instance, _, activation, slope = inputs
    _, mean, invstd = output
    ctx.mark_non_differentiable(mean, invstd)
    ctx.use_input_stats = training or instance or running_mean is None
    ctx.instance = instance
    ctx.activation = activation
    ctx.negative_slope = slope
    ctx.save_for_backward(input, weight, bias, mean, invstd)


def _norm_act_backward(ctx, grad_out, _grad_mean, _grad_invstd):
    input, weight, bias, mean, invstd = ctx.saved_tensors
    needs = ctx.needs_input_grad
    mask = [needs[0], weight is not None and needs[1], bias is not None and needs[2]]
    grad_input, grad_weight, grad_bias = torch.ops.fusegen.norm_act_backward(
        grad_out, input, weight, bias, mean, invstd, ctx.use_input_stats, ctx.instance, ctx.activation, ctx.negative_slope, mask,
    )
    return (
        grad_input if mask[0] else None,
        grad_weight if mask[1] else None,
        grad_bias if mask[2] else None,
        None, None, None, None, None, None, None,
    )


def _bias_act_setup_context(ctx, inputs, output):
    input, bias, activation, slope = inputs
    ctx.activation = activation
    ctx.negative_slope = slope
    ctx.save_for_backward(input, bias)


def _bias_act_backward(ctx, grad_out):
    input, bias = ctx.saved_tensors
    bias_needs_grad = bias is not None and ctx.needs_input_grad[1]
    grad_input, grad_bias = torch.ops.fusegen.bias_act_backward(
        grad_out, input, bias, ctx.activation, ctx.negative_slope, bias_needs_grad
    )
    return grad_input, (grad_bias if bias_needs_grad else None), None, None


torch.library.register_autograd(
    "fusegen::norm_act_forward", _norm_act_backward, setup_context=_norm_act_setup_context
)
torch.library.register_autograd(
    "fusegen::bias_act", _bias_act_backward, setup_context=_bias_act_setup_context
)
