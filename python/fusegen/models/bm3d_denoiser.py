"""``BM3DDenoiser``: BM3D behind the restoration interface, next to DnCNN and NLM."""

from __future__ import annotations

import torch

from ..ops.bm3d import STAGES, bm3d_denoise, bm3d_params
from .restoration import RestorationModel


class BM3DDenoiser(RestorationModel):
    """BM3D (:func:`fusegen.ops.bm3d.bm3d_denoise`) as a restoration model: no training,
    ``denoise(x)`` on float images in [0, 1], like :class:`~fusegen.models.DnCNN` and
    :class:`~fusegen.models.NLMDenoiser`; usable as an :class:`~fusegen.models.Ensemble` member
    and saved as checkpoint kind ``"bm3d"``.

    Args:
        sigma: the noise's standard deviation on the 0-255 scale (DnCNN's convention).
        stage: ``"final"`` (both stages) or ``"basic"`` (the hard-thresholding estimate only).
        block_size, step, search_size, group_size, threshold, wiener_factor: as in
            :func:`~fusegen.ops.bm3d.bm3d_denoise`; ``None`` takes the default profile's value.
        match_threshold: the largest mean squared difference per pixel of a match, on the
            0-255 scale (one value or a (basic, final) pair); ``None``: the profile's.
        channels: the channel count it accepts (1 or 3), or ``None`` for any. Three channels
            are filtered as RGB in the opponent colour space.

    Every setting is checked when the model is built (with the operator's messages).
    """

    kind = "bm3d"

    def __init__(self, sigma: float = 25.0, stage: str = "final", block_size=None, step=None,
                 search_size=None, group_size=None, match_threshold=None,
                 threshold: float | None = None, wiener_factor: float | None = None,
                 channels: int | None = None) -> None:
        super().__init__()
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
            raise ValueError(f"sigma must be a number > 0 (0-255 scale), got {sigma!r}")
        if stage not in STAGES:
            raise ValueError(f"stage must be 'basic' or 'final', got {stage!r}")
        if channels is not None and channels not in (1, 3):
            raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
        self.config = dict(sigma=sigma, stage=stage, block_size=block_size, step=step,
                           search_size=search_size, group_size=group_size,
                           match_threshold=match_threshold, threshold=threshold,
                           wiener_factor=wiener_factor, channels=channels)
        bm3d_params(sigma, data_range=255.0, **self._overrides())  # fails here, not in denoise()
        self.channels = channels

    def _overrides(self) -> dict:
        c = self.config
        return {name: c[name] for name in ("block_size", "step", "search_size", "group_size",
                                           "match_threshold", "threshold", "wiener_factor")}

    def restore(self, batch: torch.Tensor) -> torch.Tensor:
        c = self.config
        settings = self._overrides()
        match = settings["match_threshold"]
        if match is not None:  # 0-255 scale -> [0, 1] scale
            settings["match_threshold"] = (tuple(t / 255.0 ** 2 for t in match)
                                           if isinstance(match, (tuple, list)) else match / 255.0 ** 2)
        return bm3d_denoise(batch, c["sigma"] / 255.0, stage=c["stage"], data_range=1.0, **settings)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                         for k, v in self.config.items() if v is not None)
