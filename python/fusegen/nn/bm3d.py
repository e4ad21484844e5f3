"""A module that denoises images with BM3D."""

from __future__ import annotations

import torch
from torch import nn

from ..ops.bm3d import STAGES, bm3d_denoise, bm3d_params
from ..ops.checks import check_number

# The keyword arguments passed through to bm3d_denoise, in its order.
SETTINGS = ("block_size", "step", "search_size", "group_size", "match_threshold", "threshold",
            "wiener_factor", "data_range")


class BM3DDenoise(nn.Module):
    """BM3D denoising as a module, on :func:`fusegen.ops.bm3d.bm3d_denoise`.

    Args:
        sigma: standard deviation of the noise, > 0, in the units of the images' values (0-255
            for uint8; for float images in [0, 1], e.g. 0.1).
        stage: ``"final"`` (both stages, the default) or ``"basic"`` (the hard-thresholding
            estimate only: faster, a lower PSNR).
        block_size, step, search_size, group_size, match_threshold, threshold, wiener_factor,
            data_range: as in :func:`fusegen.ops.bm3d.bm3d_denoise`; ``None`` takes the default
            profile's value (:func:`fusegen.ops.bm3d.bm3d_params` shows what a call uses).

    The module has no parameters and is not differentiable (a backward pass that reaches it
    raises ``RuntimeError``): use it for preprocessing or evaluation, e.g. as the first stage of
    a pipeline. Input (H, W), (C, H, W) or (N, C, H, W); output of the same shape and dtype.
    Settings are checked when the module is built; the image's size when it is called.

    Example:
        >>> denoise = BM3DDenoise(sigma=0.1)
        >>> restored = denoise(noisy)        # noisy: float images in [0, 1]
    """

    def __init__(
        self,
        sigma: float,
        *,
        stage: str = "final",
        block_size=None,
        step=None,
        search_size=None,
        group_size=None,
        match_threshold=None,
        threshold: float | None = None,
        wiener_factor: float | None = None,
        data_range: float | None = None,
    ) -> None:
        super().__init__()
        # Checked now, so that a bad configuration fails where the module is built.
        check_number(sigma, "sigma", minimum=0.0, allow_minimum=False)
        if stage not in STAGES:
            raise ValueError(f"stage must be 'basic' or 'final', got {stage!r}")
        settings = dict(block_size=block_size, step=step, search_size=search_size,
                        group_size=group_size, match_threshold=match_threshold,
                        threshold=threshold, wiener_factor=wiener_factor, data_range=data_range)
        bm3d_params(sigma, **settings)  # the operator's own checks of every override
        self.sigma = float(sigma)
        self.stage = stage
        for name in SETTINGS:
            setattr(self, name, settings[name])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return bm3d_denoise(image, self.sigma, stage=self.stage,
                            **{name: getattr(self, name) for name in SETTINGS})

    def extra_repr(self) -> str:
        parts = [f"sigma={self.sigma:g}", f"stage={self.stage!r}"]
        for name in SETTINGS:
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
        return ", ".join(parts)
