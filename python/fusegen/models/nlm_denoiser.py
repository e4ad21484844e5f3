"""``NLMDenoiser``: non-local means behind the restoration interface, next to DnCNN."""

from __future__ import annotations

import torch

from ..ops.nlm import nlm_denoise
from .restoration import RestorationModel


class NLMDenoiser(RestorationModel):
    """Non-local means (:func:`fusegen.ops.nlm_denoise`) as a restoration model: no training,
    ``denoise(x)`` on float images in [0, 1], like :class:`~fusegen.models.DnCNN`.

    Args:
        sigma: the noise's standard deviation on the 0-255 scale (DnCNN's convention).
        h, patch_size, search_size: NLM's filtering strength (0-255 scale) and window sizes;
            ``None`` takes the operator's measured table for ``sigma`` and the channel count.
        channels: the channel count it accepts (1 or 3), or ``None`` for any.
    """

    kind = "nlm"

    def __init__(self, sigma: float = 25.0, h: float | None = None, patch_size: int | None = None,
                 search_size: int | None = None, channels: int | None = None) -> None:
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0 (0-255 scale), got {sigma!r}")
        self.config = dict(sigma=sigma, h=h, patch_size=patch_size, search_size=search_size,
                           channels=channels)
        self.channels = channels

    def restore(self, batch: torch.Tensor) -> torch.Tensor:
        c = self.config
        h = None if c["h"] is None else c["h"] / 255.0
        return nlm_denoise(batch, c["sigma"] / 255.0, h=h, patch_size=c["patch_size"],
                           search_size=c["search_size"], data_range=1.0)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items() if v is not None)
