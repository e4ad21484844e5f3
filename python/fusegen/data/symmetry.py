"""The 8 symmetries of the square (flips and quarter turns) of image tensors (..., H, W):
training augmentation and test-time self-ensembles."""

from __future__ import annotations

import torch

SYMMETRIES = range(8)


def turn(images: torch.Tensor, k: int) -> torch.Tensor:
    """Symmetry ``k`` in 0..7: for 4..7 a left-right flip, then ``k % 4`` quarter turns."""
    flipped = images.flip(-1) if k >= 4 else images
    return torch.rot90(flipped, k % 4, dims=(-2, -1))


def unturn(images: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of :func:`turn`: ``unturn(turn(x, k), k)`` is ``x``."""
    turned = torch.rot90(images, -(k % 4), dims=(-2, -1))
    return turned.flip(-1) if k >= 4 else turned


def dihedral(images: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """Image ``i`` of (N, C, S, S) ``images`` transformed by symmetry ``which[i]`` (:func:`turn`)."""
    out = torch.empty_like(images)
    for k in SYMMETRIES:
        chosen = (which == k).nonzero().flatten()
        if len(chosen):
            out[chosen] = turn(images[chosen], k)
    return out
