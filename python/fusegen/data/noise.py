"""The one way fusegen adds noise to images: additive white Gaussian noise on the 0-255 scale."""

from __future__ import annotations

import math

import torch


def add_noise(images: torch.Tensor, sigma: float | torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """``images`` plus Gaussian noise of standard deviation ``sigma`` (0-255 scale).

    Args:
        images: a float tensor with values in [0, 1] (any shape), or a ``torch.uint8`` tensor
            with values in 0..255.
        sigma: the noise level on the 0-255 scale (25 is strong noise); a number >= 0, or a
            tensor that broadcasts against ``images`` (e.g. (N, 1, 1, 1): one level per image).
        generator: the noise is drawn on the CPU from this generator (the same noise for the
            same seed on every device), or from torch's global generator.

    Returns:
        float images: ``images + noise``, not clipped (as denoisers are trained, Zhang et al.
        2017). uint8 images: rounded and saturated to uint8, like a real noisy 8-bit capture.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if not (images.is_floating_point() or images.dtype == torch.uint8):
        raise TypeError(f"images must be floats in [0, 1] or uint8, got {images.dtype}")
    if isinstance(sigma, torch.Tensor):
        if (sigma < 0).any() or not torch.isfinite(sigma).all():
            raise ValueError("sigma must hold finite numbers >= 0")
    elif not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0 (0-255 scale), got {sigma!r}")
    noise = torch.randn(images.shape, generator=generator).to(images.device)
    if images.dtype == torch.uint8:
        noisy = images.float() + noise * sigma
        return noisy.round().clamp(0, 255).to(torch.uint8)
    return images + noise * (sigma / 255.0)
