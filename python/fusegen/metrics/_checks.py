"""Argument checks shared by the metrics: messages name the argument, what was expected and what came."""

from __future__ import annotations

import torch

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def features(x: object, name: str, min_samples: int = 1) -> torch.Tensor:
    """``x`` as an (n, d) floating-point tensor with at least ``min_samples`` rows.

    Half precision comes back as float32: distances and kernels in 16 bits lose too much.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, d), got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (n, d): n samples of d features, "
                         f"got shape {tuple(x.shape)}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has 0 features per sample (shape {tuple(x.shape)})")
    if x.shape[0] < min_samples:
        raise ValueError(f"{name} has {x.shape[0]} samples; this metric needs at least {min_samples}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def pair(real: object, fake: object, min_samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked (real_feats, fake_feats) on one device, with one feature dimension and dtype."""
    r = features(real, "real_feats", min_samples)
    f = features(fake, "fake_feats", min_samples)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real_feats and fake_feats must have the same feature dimension, "
                         f"got {r.shape[1]} and {f.shape[1]}")
    if r.device != f.device:
        raise ValueError(f"real_feats and fake_feats must be on the same device, "
                         f"got {r.device} and {f.device}")
    dtype = torch.promote_types(r.dtype, f.dtype)
    return r.to(dtype), f.to(dtype)


def positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def neighbours(k: object, n: int, set_name: str) -> int:
    """k for a k-nearest-neighbour radius inside a set of n samples (the sample itself excluded)."""
    k = positive_int(k, "k")
    if k >= n:
        raise ValueError(f"k={k} needs more than k samples in {set_name}, which has {n}")
    return k
