"""Plain-PyTorch formulations of fusegen's operators: slow, obvious, and the ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .activations import ACTIVATIONS


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
    return ACTIVATIONS[activation](y, negative_slope)


def bias_act(input: torch.Tensor, bias: torch.Tensor | None, *, activation: str,
             negative_slope: float) -> torch.Tensor:
    """``act(input + bias[None, :, None, ...])`` with torch's own functions."""
    if bias is not None:
        input = input + bias.reshape((1, -1) + (1,) * (input.dim() - 2))
    return ACTIVATIONS[activation](input, negative_slope)


def nlm_denoise(
    image: torch.Tensor, sigma: float, h: float, patch_size: int, search_size: int
) -> torch.Tensor:
    """Non-local means pixel by pixel, straight from the definition, in float64.

    For every pixel and every candidate in its search window: the mean squared difference
    ``d2`` of the two patches over patch pixels and channels, the weight
    ``exp(-max(d2 - 2 sigma^2, 0) / h^2)``, and the weighted mean. Borders reflect without
    repeating the edge pixel (numpy's "reflect"). (H, W), (C, H, W) or (N, C, H, W); result in
    the image's dtype (uint8 rounded and saturated). Meant for images of a few dozen pixels.
    """
    import numpy as np

    batch = image.reshape((-1,) + tuple(image.shape[-3:])) if image.dim() >= 3 else image[None, None]
    x = batch.detach().cpu().to(torch.float64).numpy()
    rp, rs = patch_size // 2, search_size // 2
    R = rp + rs
    _, _, H, W = x.shape
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        padded = np.pad(x[n], ((0, 0), (R, R), (R, R)), mode="reflect")
        for i in range(H):
            for j in range(W):
                yi, xj = i + R, j + R
                ref = padded[:, yi - rp : yi + rp + 1, xj - rp : xj + rp + 1]
                num = np.zeros(x.shape[1])
                den = 0.0
                for dy in range(-rs, rs + 1):
                    for dx in range(-rs, rs + 1):
                        qy, qx = yi + dy, xj + dx
                        cand = padded[:, qy - rp : qy + rp + 1, qx - rp : qx + rp + 1]
                        d2 = np.mean((ref - cand) ** 2)
                        w = np.exp(-max(d2 - 2 * sigma**2, 0.0) / h**2)
                        num += w * padded[:, qy, qx]
                        den += w
                out[n, :, i, j] = num / den
    result = torch.from_numpy(out).reshape(image.shape)
    if image.dtype == torch.uint8:
        return result.round().clamp(0, 255).to(torch.uint8)
    return result.to(image.dtype)


def partial_bias_act(input: torch.Tensor, count: torch.Tensor, bias: torch.Tensor | None, *,
                     window: float, activation: str, negative_slope: float) -> torch.Tensor:
    """The partial convolution's rescale (Liu et al. 2018) with torch's own functions:
    ``act(input * window / count + bias)`` where ``count > 0``, ``act(0)`` where no valid
    input reached the window (``count == 0``)."""
    valid = count > 0
    z = input * (window / torch.where(valid, count, torch.ones_like(count)))
    if bias is not None:
        z = z + bias.reshape((1, -1) + (1,) * (input.dim() - 2))
    z = torch.where(valid, z, torch.zeros_like(z))
    return ACTIVATIONS[activation](z, negative_slope)


def partial_conv_norm_act(input: torch.Tensor, mask: torch.Tensor, conv: torch.nn.Conv2d,
                          norm: torch.nn.Module | None, act: torch.nn.Module | None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """The eager formulation of a partial-convolution block with torch's modules: the
    convolution of the input with its missing values zeroed, a second convolution of the mask
    for the counts of valid inputs, the rescale, the bias, the hole set to 0, then the norm and
    the activation. ``mask``: 1 where the input is valid, (N, 1, H, W) or (N, C_in, H, W).
    Returns the output and the updated mask (1 where any valid input reached the window)."""
    import torch.nn.functional as F

    valid = mask.to(input.dtype)
    x = torch.where(valid > 0, input, torch.zeros_like(input))
    y = F.conv2d(x, conv.weight, None, conv.stride, conv.padding, conv.dilation)
    ones = torch.ones((1, valid.shape[1]) + tuple(conv.kernel_size), dtype=input.dtype, device=input.device)
    count = F.conv2d(valid, ones, None, conv.stride, conv.padding, conv.dilation)
    window = float(ones.numel())
    z = partial_bias_act(y, count, conv.bias, window=window, activation="none", negative_slope=0.0)
    if norm is not None:
        z = norm(z)
    out = act(z) if act is not None else z
    return out, (count > 0).to(input.dtype)
