"""Fused normalization + activation: the functional API and its operators.

* ``fusegen::norm_act_forward`` -- batch or instance statistics in one reduction pass, then
  normalize + affine + activation in one apply pass. Saves only the per-channel mean and
  inverse standard deviation.
* ``fusegen::norm_act_backward`` -- activation backward fused with normalization backward:
  one reduction pass, one pass writing the input gradient, plus weight and bias gradients.
* ``fusegen::norm_act_update_running_stats`` -- the running-statistics update (a separate,
  mutating operator: PyTorch only accepts autograd formulas for functional operators).

The kernels live in ``csrc/ops/norm_act/``; ``fusegen::bias_act`` (:mod:`fusegen.ops.bias_act`)
runs on the same passes.
"""

from __future__ import annotations

import torch

from .activations import activation_code
from .checks import check_float_tensor, check_same_device

__all__ = ["accumulate_dtype", "norm_act", "walkable_like"]


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
            when ``training`` (``momentum`` as in ``torch.nn.BatchNorm2d``, unbiased variance;
            with ``instance``, the per-sample updates averaged over the batch, as
            ``torch.nn.InstanceNorm2d(track_running_stats=True)`` does); used instead of the
            input's statistics when not ``training``.
        instance: per-sample statistics (``InstanceNorm``) instead of per-batch ones.
        activation: a name of :data:`fusegen.ops.activations.ACTIVATIONS`: ``"none"``,
            ``"relu"``, ``"leaky_relu"`` (``negative_slope``), ``"tanh"``, ``"sigmoid"``, ``"silu"``,
            ``"relu6"``, ``"hardswish"``, ``"gelu"`` (exact, erf), ``"elu"`` (alpha =
            ``negative_slope``).

    Gradients reach ``input``, ``weight`` and ``bias`` through one fused backward operator.
    """
    check_float_tensor(input, "input")
    code = activation_code(activation)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must be given together")
    if running_mean is not None and not training:
        # Normalizing with running statistics is the same arithmetic for batch and instance norm.
        out, _, _ = torch.ops.fusegen.norm_act_forward(
            input, weight, bias, running_mean, running_var, False, False, eps, code,
            float(negative_slope))
        return out
    if instance and running_mean is not None:  # the operator takes batch running statistics only
        _check_running_stats(input, running_mean, running_var)
        running_mean_op = running_var_op = None
    else:
        running_mean_op, running_var_op = running_mean, running_var
    out, mean, invstd = torch.ops.fusegen.norm_act_forward(
        input, weight, bias, running_mean_op, running_var_op, training, instance, eps, code,
        float(negative_slope))
    if training and running_mean is not None and input.numel() > 0:
        values_per_statistic = input.numel() // mean.numel()
        torch.ops.fusegen.norm_act_update_running_stats(
            running_mean, running_var, mean, invstd, float(momentum), eps, values_per_statistic)
    return out


def _check_running_stats(input: torch.Tensor, running_mean: torch.Tensor,
                         running_var: torch.Tensor) -> None:
    channels = input.shape[1] if input.dim() >= 2 else None
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        check_float_tensor(t, name)
        if t.dim() != 1 or t.shape[0] != channels:
            raise ValueError(f"{name} must have shape ({channels},) for an input with {channels} "
                             f"channels, got {tuple(t.shape)}")
    check_same_device(input, running_mean=running_mean, running_var=running_var)


# --- what torch.compile and autograd need to know about the operators -----------------------


def walkable_like(y: torch.Tensor) -> torch.Tensor:
    """An empty tensor in the layout the kernels write (mirrors walkable() in norm_act.cpp)."""
    if y.is_contiguous() or (y.dim() == 4 and y.is_contiguous(memory_format=torch.channels_last)):
        return torch.empty_like(y)
    return y.new_empty(y.shape)


def accumulate_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the kernels accumulate (and save statistics) in: float64 stays, others float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _stat_shape(y: torch.Tensor, instance: bool) -> tuple[int, ...]:
    return (y.shape[0], y.shape[1]) if instance else (y.shape[1],)


@torch.library.register_fake("fusegen::norm_act_forward")
def _norm_act_forward_fake(input, weight, bias, running_mean, running_var, training, instance,
                           eps, activation, negative_slope):
    check_float_tensor(input, "input")
    check_same_device(input, weight=weight, bias=bias, running_mean=running_mean, running_var=running_var)
    if input.dim() < 2:
        raise ValueError(f"input must have shape (N, C, ...), got {tuple(input.shape)}")
    stats = input.new_empty(_stat_shape(input, instance), dtype=accumulate_dtype(input.dtype))
    return walkable_like(input), stats, torch.empty_like(stats)


@torch.library.register_fake("fusegen::norm_act_backward")
def _norm_act_backward_fake(grad_out, input, weight, bias, save_mean, save_invstd,
                            use_input_stats, instance, activation, negative_slope, output_mask):
    acc = accumulate_dtype(input.dtype)
    C = input.shape[1]
    grad_y = walkable_like(input) if output_mask[0] else input.new_empty(0)

    def param_grad(param, wanted):
        if not wanted:
            return input.new_empty(0, dtype=acc)
        return input.new_empty(C, dtype=param.dtype if param is not None else acc)

    return grad_y, param_grad(weight, output_mask[1]), param_grad(bias, output_mask[2])


@torch.library.register_fake("fusegen::norm_act_update_running_stats")
def _norm_act_update_running_stats_fake(running_mean, running_var, save_mean, save_invstd,
                                        momentum, eps, count):
    check_same_device(running_mean, running_var=running_var, save_mean=save_mean,
                      save_invstd=save_invstd)
    return None


# Autograd of fusegen::norm_act_forward is registered in C++ (csrc/ops/norm_act/
# norm_act_autograd.cpp): a Python formula costs more than the fused passes on small maps.
