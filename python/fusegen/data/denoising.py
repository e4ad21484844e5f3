"""Noisy/clean pairs for training and evaluating denoisers."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .noise import add_noise
from .symmetry import dihedral


def extract_patches(images: Sequence[torch.Tensor], patch_size: int = 40,
                    stride: int = 20) -> torch.Tensor:
    """All ``patch_size`` squares at ``stride`` steps from (C, H, W) images -> (N, C, p, p)."""
    patches = []
    for image in images:
        if image.dim() != 3:
            raise ValueError(f"images must be (C, H, W), got shape {tuple(image.shape)}")
        if min(image.shape[-2:]) < patch_size:
            raise ValueError(f"image {tuple(image.shape)} is smaller than patch_size={patch_size}")
        p = image.unfold(1, patch_size, stride).unfold(2, patch_size, stride)  # C, nh, nw, p, p
        patches.append(p.permute(1, 2, 0, 3, 4).reshape(-1, image.shape[0], patch_size, patch_size))
    if not patches:
        raise ValueError("no images to cut patches from")
    return torch.cat(patches).contiguous()


class NoisyPairs(torch.utils.data.Dataset):
    """Clean images and additive Gaussian noise of standard deviation ``sigma`` (in 0..255 units).

    Args:
        clean: (N, C, H, W) images in [0, 1].
        sigma: one noise level, or a (low, high) range drawn uniformly per image (blind denoising).
        seed: indexing (``pairs[i]``) gives the same noisy image for the same ``seed`` and ``i``:
            a fixed evaluation set. :meth:`batch` draws fresh noise (for training) from
            ``generator``, or from torch's global generator.
        augment: :meth:`batch` also turns each clean image by one of the 8 flips and quarter
            turns of the square, drawn at random (Zhang et al. 2017's augmentation); needs
            square images. Indexing never augments.
    Items are ``(noisy, clean)``; noisy images are not clipped, as in Zhang et al. (2017).
    """

    def __init__(self, clean: torch.Tensor, sigma: float | tuple[float, float] = 25.0,
                 seed: int = 0, augment: bool = False) -> None:
        if clean.dim() != 4:
            raise ValueError(f"clean must be (N, C, H, W), got shape {tuple(clean.shape)}")
        low, high = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
        if not 0 <= low <= high:
            raise ValueError(f"sigma must be >= 0 and a range low <= high, got {sigma!r}")
        if augment and clean.shape[-1] != clean.shape[-2]:
            raise ValueError(f"augment needs square images, got {tuple(clean.shape[-2:])}")
        self.clean, self.sigma, self.seed = clean.float().contiguous(), (float(low), float(high)), seed
        self.augment = augment

    def __len__(self) -> int:
        return len(self.clean)

    def _noisy(self, clean: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        low, high = self.sigma
        sigma = low + (high - low) * torch.rand(clean.shape[0], 1, 1, 1, generator=generator)
        return add_noise(clean, sigma, generator)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        clean = self.clean[index]
        return self._noisy(clean[None], g)[0], clean

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None):
        clean = self.clean[indices]
        if self.augment:
            clean = dihedral(clean, torch.randint(8, (len(clean),), generator=generator))
        return self._noisy(clean, generator), clean

    @property
    def channels(self) -> int:
        return self.clean.shape[1]

