"""Differentiable augmentation for GAN discriminators (DiffAugment, Zhao et al. 2020).

On a small data set the discriminator memorises the real images, its gradients stop telling
the generator where the rest of the data lies, and the generator collapses onto a few images.
Showing the discriminator randomly transformed images -- real and generated alike, the same
kinds of transform, with gradients flowing through the transform to the generator -- keeps it
from memorising without letting the transforms leak into the samples (the generator is never
asked to draw a transformed image: the transform is applied after it).
"""

from __future__ import annotations

import torch

# Names accepted by ``augment`` (a comma-separated list, in the order applied).
POLICIES = ("translation", "cutout", "color")


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """``"translation,cutout"`` -> ("translation", "cutout"); ``""``, ``"none"`` or None -> ()."""
    if policy is None or policy in ("", "none"):
        return ()
    if not isinstance(policy, str):
        raise TypeError(f"augment must be a comma-separated string like 'translation,cutout', "
                        f"got {type(policy).__name__}")
    names = tuple(p.strip() for p in policy.split(","))
    unknown = [p for p in names if p not in POLICIES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"augment must be 'none' or distinct names among {', '.join(POLICIES)} "
                         f"separated by commas, got {policy!r}")
    return names


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None
                 ) -> torch.Tensor:
    """``x`` (N, C, H, W) in [-1, 1] with each transform of ``policy`` drawn per image:

    * ``translation``: an integer shift of up to 1/8 of the size in each direction; the pixels
      shifted in repeat the border (the digits' and faces' backgrounds), not a grey fill;
    * ``cutout``: a square of half the size, centred at random, set to 0;
    * ``color``: brightness (+U(-0.5, 0.5)), saturation (x U(0, 2), colour images only) and
      contrast (x U(0.5, 1.5) about the image mean), as in the paper.
    Differentiable in ``x``. The random draws use ``generator`` (default: the global one) on
    the CPU, so a run is reproducible on any device.
    """
    for name in policy:
        x = _TRANSFORMS[name](x, generator)
    return x


def _uniform(n: int, generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, generator=generator).to(device=like.device, dtype=like.dtype)


def _color(x: torch.Tensor, generator) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_uniform(n, generator, x) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_uniform(n, generator, x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(n, generator, x) + 0.5) + mean


def _translation(x: torch.Tensor, generator, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sy, sx = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-sy, sy + 1, (n, 1), generator=generator)
    dx = torch.randint(-sx, sx + 1, (n, 1), generator=generator)
    rows = (torch.arange(h)[None] + dy).clamp(0, h - 1).to(x.device)  # (n, h)
    cols = (torch.arange(w)[None] + dx).clamp(0, w - 1).to(x.device)  # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # x[b, :, rows[b, i], cols[b, j]] for every image b: one gather, differentiable.
    return x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, generator, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    top = torch.randint(0, h, (n, 1, 1), generator=generator) - ch // 2  # centre anywhere
    left = torch.randint(0, w, (n, 1, 1), generator=generator) - cw // 2
    ys, xs = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    keep = ~inside
    return x * keep[:, None].to(device=x.device, dtype=x.dtype)


_TRANSFORMS = {"translation": _translation, "cutout": _cutout, "color": _color}
