"""A module that denoises images with non-local means."""

from __future__ import annotations

import torch
from torch import nn

from ..ops.checks import check_number, check_window
from ..ops.nlm import check_colour_space, nlm_denoise


class NLMDenoise(nn.Module):
    """Non-local means denoising as a module, on :func:`fusegen.ops.nlm_denoise`.

    Args:
        sigma: standard deviation of the noise, in the units of the images' values.
        h, patch_size, search_size, data_range: as in :func:`fusegen.ops.nlm_denoise`; ``None``
            takes the default table's values for ``sigma`` and the input's channel count and dtype.
        colour_space: ``"opponent"`` (default) or ``"rgb"``, for 3-channel inputs, as in
            :func:`fusegen.ops.nlm_denoise`.

    The module has no parameters and is not differentiable (no backward is registered): use it
    for preprocessing or evaluation, e.g. as the first stage of a pipeline. Input (H, W),
    (C, H, W) or (N, C, H, W); output of the same shape and dtype.

    Example:
        >>> denoise = NLMDenoise(sigma=0.1)
        >>> restored = denoise(noisy)        # noisy: float images in [0, 1]
    """

    def __init__(
        self,
        sigma: float,
        *,
        h: float | None = None,
        patch_size: int | None = None,
        search_size: int | None = None,
        data_range: float | None = None,
        colour_space: str = "opponent",
    ) -> None:
        super().__init__()
        # Checked now, so that a bad configuration fails where the module is built.
        check_number(sigma, "sigma", minimum=0.0)
        if h is not None:
            check_number(h, "h", minimum=0.0, allow_minimum=False)
        elif sigma == 0:
            raise ValueError("h must be given when sigma is 0 (the table sets h = k * sigma)")
        if patch_size is not None:
            check_window(patch_size, "patch_size")
        if search_size is not None:
            check_window(search_size, "search_size")
        if patch_size is not None and search_size is not None and search_size < patch_size:
            raise ValueError(f"search_size ({search_size}) must be at least patch_size ({patch_size})")
        if data_range is not None:
            check_number(data_range, "data_range", minimum=0.0, allow_minimum=False)
        check_colour_space(colour_space)
        self.sigma = float(sigma)
        self.h = h
        self.patch_size = patch_size
        self.search_size = search_size
        self.data_range = data_range
        self.colour_space = colour_space

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return nlm_denoise(image, self.sigma, h=self.h, patch_size=self.patch_size,
                           search_size=self.search_size, data_range=self.data_range,
                           colour_space=self.colour_space)

    def extra_repr(self) -> str:
        parts = [f"sigma={self.sigma:g}"]
        for name in ("h", "patch_size", "search_size", "data_range"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
        if self.colour_space != "opponent":
            parts.append(f"colour_space={self.colour_space!r}")
        return ", ".join(parts)
