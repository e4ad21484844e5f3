"""The interface shared by fusegen's image restoration models."""

from __future__ import annotations

import torch
from torch import nn

from ..data.symmetry import SYMMETRIES, turn, unturn


class RestorationModel(nn.Module):
    """A model that restores images: ``model.denoise(x)``.

    ``x`` is one image (C, H, W) or a batch (N, C, H, W), float, values in [0, 1]; the result
    has the same shape, in [0, 1]. Subclasses implement :meth:`restore` on a batch.
    """

    channels: int | None  # the channel count accepted; None: any

    def denoise(self, x: torch.Tensor, self_ensemble: bool = False) -> torch.Tensor:
        """The denoised image(s), same shape as ``x``, clamped to [0, 1].

        ``self_ensemble``: restore each of the 8 flips and quarter turns of the input, turn the
        results back and average them (the geometric self-ensemble of Timofte et al. 2016):
        8 times the work, usually a little more PSNR for a learned model.
        """
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        if x.dim() not in (3, 4):
            raise ValueError(f"x must be (C, H, W) or (N, C, H, W), got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a float tensor in [0, 1], got {x.dtype}")
        batch = x if x.dim() == 4 else x[None]
        if self.channels is not None and batch.shape[1] != self.channels:
            raise ValueError(f"this model takes {self.channels}-channel images, got {batch.shape[1]}")
        with torch.no_grad():
            if self_ensemble:
                out = sum(unturn(self.restore(turn(batch, k)), k) for k in SYMMETRIES) / len(SYMMETRIES)
            else:
                out = self.restore(batch)
            out = out.clamp(0, 1)
        return out if x.dim() == 4 else out[0]

    def restore(self, batch: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
