"""Cheap validation metrics for early stopping: PSNR, and a pixel-space Frechet distance."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(restored: torch.Tensor, clean: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1], averaged over the batch."""
    mse = (restored.double() - clean.double()).square().flatten(1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(1.0 / mse)).mean())


def pixel_features(images: torch.Tensor, size: int = 8) -> torch.Tensor:
    """(N, C*size*size) features: images area-averaged to ``size`` x ``size``."""
    return F.adaptive_avg_pool2d(images.double(), size).flatten(1)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to feature rows ``a`` and ``b`` (as FID, but on
    the features given): ``|mu_a - mu_b|^2 + tr(Ca + Cb - 2 (Ca^1/2 Cb Ca^1/2)^1/2)``."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(ca)
    sqrt_ca = (vecs * vals.clamp_min(0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(sqrt_ca @ cb @ sqrt_ca).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + ca.trace() + cb.trace() - 2 * middle)
