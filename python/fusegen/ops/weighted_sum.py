"""Fused weighted sum of K tensors, with a fused backward: ``out = sum_k w_k * x_k``."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .checks import check_float_tensor, tensor_sequence

__all__ = ["weighted_sum"]


def weighted_sum(
    inputs: torch.Tensor | Sequence[torch.Tensor],
    weights: torch.Tensor | Sequence[float],
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Weighted sum of K same-shaped tensors in one pass over memory.

    Args:
        inputs: K tensors of one shape, dtype and device, or one tensor stacked as (K, ...).
            float32, float64, float16 or bfloat16 (half types accumulate in float32). Any
            strides; a dense layout such as channels-last is kept in the result.
        weights: shape (K,), one weight per input, or (K, N) where N is the size of the inputs'
            first dimension, one weight per input per sample (a one-hot column picks one input
            for that sample). A tensor on the inputs' device, or a sequence of K numbers.

        out: a tensor of the inputs' shape, dtype and device to write the result into instead
            of a new one; it may be one of the inputs (an in-place update, e.g. an EMA:
            ``weighted_sum([ema, p], [d, 1 - d], out=ema)``), not a partial overlap of one. As
            with torch's ``out=`` functions, no autograd: nothing may require gradients.

    Returns:
        ``sum_k weights[k] * inputs[k]`` (or ``weights[k, n] * inputs[k][n]`` per sample), with
        the inputs' shape and dtype (``out`` itself when given).

    Gradients flow to every input and to the weights, computed by one fused backward
    operator that reads the incoming gradient and each input once. Raises ``ValueError`` or
    ``TypeError`` naming the argument for an empty ``inputs``, mismatched shapes, dtypes or
    devices, weights of the wrong shape or device, and integer dtypes.

    Example:
        >>> xs = [torch.randn(4, 3, 8, 8) for _ in range(3)]
        >>> out = weighted_sum(xs, torch.tensor([0.5, 0.25, 0.25]))
    """
    xs = tensor_sequence(inputs, "inputs")
    if not isinstance(weights, torch.Tensor):
        weights = _weights_from_numbers(weights, xs)
    check_arguments(xs, weights)
    if out is None:
        return torch.ops.fusegen.weighted_sum(xs, weights)
    check_out(out, xs[0])
    if torch.is_grad_enabled() and any(t.requires_grad for t in (*xs, weights, out)):
        raise RuntimeError("weighted_sum(out=...) does not support autograd, as torch's out= "
                           "functions: call it under torch.no_grad(), or without out=")
    torch.ops.fusegen.weighted_sum_into(xs, weights, out)
    return out


def check_out(out: object, first: torch.Tensor) -> None:
    """``out`` has the inputs' shape, dtype and device (the compiled operator's checks)."""
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor, got {type(out).__name__}")
    if out.shape != first.shape:
        raise ValueError(f"out must have the inputs' shape {tuple(first.shape)}, got {tuple(out.shape)}")
    if out.dtype != first.dtype:
        raise TypeError(f"out must have the inputs' dtype ({first.dtype}), got {out.dtype}")
    if out.device != first.device:
        raise ValueError(f"out must be on the inputs' device ({first.device}), got {out.device}")


def _weights_from_numbers(weights: object, xs: list[torch.Tensor]) -> torch.Tensor:
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError(
            f"weights must be a tensor or a sequence of numbers, got {type(weights).__name__}"
        )
    dtype = torch.float64 if xs and xs[0].dtype == torch.float64 else torch.float32
    device = xs[0].device if xs else None
    try:
        return torch.tensor(list(weights), dtype=dtype, device=device)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"weights must be numbers, got {weights!r}") from exc


def check_arguments(xs: list[torch.Tensor], weights: torch.Tensor) -> None:
    """The compiled operator's checks, in Python: for fake tensors under torch.compile (which
    never reach the compiled code), and so that mixed-device calls fail before dispatch."""
    if not xs:
        raise ValueError("inputs must hold at least one tensor, got none")
    first = check_float_tensor(xs[0], "inputs[0]")
    for k, x in enumerate(xs[1:], start=1):
        if x.shape != first.shape:
            raise ValueError(
                f"inputs[{k}] must have the shape of inputs[0] {tuple(first.shape)}, got {tuple(x.shape)}"
            )
        if x.dtype != first.dtype:
            raise TypeError(f"inputs[{k}] must have the dtype of inputs[0] ({first.dtype}), got {x.dtype}")
        if x.device != first.device:
            raise ValueError(
                f"inputs[{k}] must be on the device of inputs[0] ({first.device}), got {x.device}"
            )
    check_float_tensor(weights, "weights")
    if weights.device != first.device:
        raise ValueError(f"weights must be on the same device as inputs ({first.device}), got {weights.device}")
    K = len(xs)
    if weights.dim() == 1 and weights.shape[0] == K:
        return
    if weights.dim() == 2 and first.dim() >= 1 and tuple(weights.shape) == (K, first.shape[0]):
        return
    expected = f"({K},) or ({K}, {first.shape[0]})" if first.dim() >= 1 else f"({K},)"
    raise ValueError(f"weights must have shape {expected}, got {tuple(weights.shape)}")


# --- what torch.compile and autograd need to know about the operator -----------------------


def _is_non_overlapping_and_dense(t: torch.Tensor) -> bool:
    """Tensor.is_non_overlapping_and_dense of C++: the strides tile one block of memory."""
    expected = 1
    for size, stride in sorted(
        ((size, stride) for size, stride in zip(t.shape, t.stride()) if size != 1),
        key=lambda pair: pair[1],
    ):
        if stride != expected:
            return False
        expected *= size
    return True


def _output_like(first: torch.Tensor, per_sample: bool) -> torch.Tensor:
    """An empty result in the layout the kernel writes (mirrors allocate_like_inputs in C++)."""
    dense = _is_non_overlapping_and_dense(first)
    sample_outermost = (
        not per_sample
        or first.dim() == 0
        or first.shape[0] <= 1
        or first.stride(0) * first.shape[0] == first.numel()
    )
    if dense and sample_outermost:
        return torch.empty_like(first)
    return first.new_empty(first.shape)


@torch.library.register_fake("fusegen::weighted_sum")
def _weighted_sum_fake(inputs, weights):
    check_arguments(inputs, weights)
    return _output_like(inputs[0], weights.dim() == 2)


@torch.library.register_fake("fusegen::weighted_sum_into")
def _weighted_sum_into_fake(inputs, weights, out):
    check_arguments(inputs, weights)
    check_out(out, inputs[0])


@torch.library.register_fake("fusegen::weighted_sum_backward")
def _weighted_sum_backward_fake(grad, inputs, weights, inputs_need_grad, weights_need_grad):
    check_arguments(inputs, weights)
    per_sample = weights.dim() == 2
    grad_inputs = [_output_like(inputs[0], per_sample) for _ in inputs] if inputs_need_grad else []
    grad_weights = (
        torch.empty_like(weights, memory_format=torch.contiguous_format)
        if weights_need_grad
        else weights.new_empty(0)
    )
    return grad_inputs, grad_weights


def _setup_context(ctx, inputs, output):
    xs, weights = inputs
    # The inputs' values are needed only for the weights' gradient.
    ctx.weights_need_grad = weights.requires_grad
    ctx.num_inputs = len(xs)
    if ctx.weights_need_grad:
        ctx.save_for_backward(weights, *xs)
    else:
        ctx.save_for_backward(weights, xs[0])


def _backward(ctx, grad):
    needs_inputs, needs_weights = ctx.needs_input_grad
    inputs_need_grad = any(needs_inputs)
    weights_need_grad = bool(needs_weights)
    weights, *saved = ctx.saved_tensors
    xs = saved if ctx.weights_need_grad else saved * ctx.num_inputs
    grad_inputs, grad_weights = torch.ops.fusegen.weighted_sum_backward(
        grad, xs, weights, inputs_need_grad, weights_need_grad
    )
    input_grads = [g if need else None for g, need in zip(grad_inputs, needs_inputs)]
    if not inputs_need_grad:
        input_grads = [None] * ctx.num_inputs
    return input_grads, (grad_weights if weights_need_grad else None)


torch.library.register_autograd(
    "fusegen::weighted_sum", _backward, setup_context=_setup_context
)


# Double backward (gradient penalties, meta-learning). The backward is bilinear:
#   grad_inputs[k] = w_k * g          grad_weights[k] = <g, x_k>
# so its own gradients are weighted sums and dot products again, i.e. the same two operators.


def _setup_backward_context(ctx, inputs, output):
    grad, xs, weights, inputs_need_grad, weights_need_grad = inputs
    ctx.inputs_need_grad = inputs_need_grad
    ctx.weights_need_grad = weights_need_grad
    ctx.num_inputs = len(xs)
    ctx.save_for_backward(grad, weights, *xs)


def _backward_of_backward(ctx, grad_grad_inputs, grad_grad_weights):
    grad, weights, *xs = ctx.saved_tensors
    needs_grad, needs_xs, needs_weights = ctx.needs_input_grad[:3]
    ggx = None
    if ctx.inputs_need_grad and any(g is not None for g in grad_grad_inputs):
        ggx = [torch.zeros_like(grad) if g is None else g for g in grad_grad_inputs]
    ggw = grad_grad_weights if ctx.weights_need_grad else None

    d_grad = d_weights = None
    d_xs = [None] * ctx.num_inputs
    if needs_grad:
        terms = []
        if ggx is not None:
            terms.append(weighted_sum(ggx, weights))
        if ggw is not None:
            terms.append(weighted_sum(xs, ggw.to(weights.dtype)))
        d_grad = sum(terms) if terms else None
    if ggw is not None and any(needs_xs):
        # d<g, x_k>/dx_k = g, scaled by the incoming ggw_k (per sample if ggw is (K, N)).
        d_xs, _ = torch.ops.fusegen.weighted_sum_backward(grad, xs, ggw.to(weights.dtype), True, False)
        d_xs = [d if need else None for d, need in zip(d_xs, needs_xs)]
    if ggx is not None and needs_weights:
        # d(w_k g)/dw_k contracted with ggx_k is <g, ggx_k>.
        _, d_weights = torch.ops.fusegen.weighted_sum_backward(grad, ggx, weights, False, True)
    return d_grad, d_xs, d_weights, None, None


torch.library.register_autograd(
    "fusegen::weighted_sum_backward", _backward_of_backward, setup_context=_setup_backward_context
)
