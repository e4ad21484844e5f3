"""The cases of ``fusegen bench bm3d`` and ``benchmarks/bench_bm3d.py``: fusegen's BM3D beside
fusegen's NLM and the authors' reference implementation (the ``bm3d`` package on PyPI, default
profile, when installed), on the same noisy scikit-image photos, timed and scored by PSNR.

The noise is Gaussian, sigma 25 on the 0-255 scale, added to the float photo in [0, 1] and not
clipped (the model both BM3Ds assume); every result is clipped to [0, 1] before it is scored
against the clean photo. fusegen's denoisers run with their default parameters, given sigma only.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

SIGMA = 25.0  # on the 0-255 scale
PHOTOS = (("camera", 1), ("astronaut", 3))  # grey and colour
PHOTO_SIDE = 512  # both photos are 512 x 512
DEFAULT_SIZE = 256  # side of the centre crop: the reference takes seconds per call
MAX_ROUNDS = 3  # timed rounds at most, whatever --repeats asks: calls take seconds
REFERENCE = "bm3d (reference)"


@dataclass(frozen=True)
class BM3DCase:
    """One photo (``channels`` 1: grey, 3: colour), its centre crop of side ``size``, and noise
    of standard deviation ``sigma`` (0-255 scale) drawn from ``seed``."""

    photo: str
    channels: int
    size: int = DEFAULT_SIZE
    sigma: float = SIGMA
    seed: int = 0

    @property
    def name(self) -> str:
        kind = "grey" if self.channels == 1 else "colour"
        return f"{self.photo} {self.size}x{self.size} {kind}, sigma {self.sigma:g}"

    def images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(clean, noisy): (C, size, size) float32, clean in [0, 1], noisy not clipped."""
        from ..data import photo

        clean = photo(self.photo, self.channels)
        height, width = clean.shape[-2:]
        if not 1 <= self.size <= min(height, width):
            raise ValueError(f"size must be in [1, {min(height, width)}] (the {self.photo} photo is "
                             f"{width}x{height}), got {self.size}")
        top, left = (height - self.size) // 2, (width - self.size) // 2
        clean = clean[:, top:top + self.size, left:left + self.size].contiguous()
        noise = np.random.default_rng(self.seed).normal(0.0, self.sigma / 255.0, clean.shape)
        return clean, clean + torch.from_numpy(noise).float()


def cases(size: int = DEFAULT_SIZE) -> list[BM3DCase]:
    """The grey camera and the colour astronaut, cropped to ``size`` (512: the whole photos)."""
    return [BM3DCase(name, channels, size) for name, channels in PHOTOS]


def reference_available() -> bool:
    """Whether the reference ``bm3d`` package is installed."""
    return importlib.util.find_spec("bm3d") is not None


def denoisers(case: BM3DCase, noisy: torch.Tensor, device: torch.device | str = "cpu",
              reference: bool = True) -> dict[str, Callable[[], Any]]:
    """One call each of fusegen's BM3D ("fusegen"), fusegen's NLM ("fusegen NLM") on ``device``
    and, when ``reference`` and the package is installed, the reference BM3D on the CPU."""
    from ..ops import nlm_denoise
    from ..ops.bm3d import bm3d_denoise

    x = noisy.to(device)
    sigma = case.sigma / 255.0
    fns: dict[str, Callable[[], Any]] = {"fusegen": lambda: bm3d_denoise(x, sigma),
                                         "fusegen NLM": lambda: nlm_denoise(x, sigma)}
    if reference and reference_available():
        fns[REFERENCE] = reference_denoiser(noisy, sigma)
    return fns


def reference_denoiser(noisy: torch.Tensor, sigma: float) -> Callable[[], np.ndarray]:
    """The reference package's call on ``noisy`` (C, H, W): ``bm3d.bm3d`` for one channel,
    ``bm3d.bm3d_rgb`` for three, default profile; ``sigma`` in the image's units."""
    import bm3d

    image = noisy.detach().cpu().double().numpy()
    if image.shape[0] == 1:
        grey = image[0]
        return lambda: bm3d.bm3d(grey, sigma)
    if image.shape[0] != 3:
        raise ValueError(f"the reference BM3D takes 1 or 3 channels, got {image.shape[0]}")
    rgb = np.ascontiguousarray(image.transpose(1, 2, 0))
    return lambda: bm3d.bm3d_rgb(rgb, sigma)


def as_image(result: Any, channels: int) -> torch.Tensor:
    """A denoiser's result as a (C, H, W) float64 CPU tensor (the reference returns (H, W) or
    (H, W, 3) arrays)."""
    if isinstance(result, torch.Tensor):
        return result.detach().cpu().double().reshape(channels, *result.shape[-2:])
    array = np.asarray(result, dtype=np.float64)
    if array.ndim == 3:  # (H, W, C)
        array = array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array)).reshape(channels, *array.shape[-2:])


def psnr_db(result: Any, clean: torch.Tensor) -> float:
    """PSNR in dB of a result clipped to [0, 1] against the clean (C, H, W) photo."""
    from ..metrics import psnr

    image = as_image(result, clean.shape[0]).clamp(0, 1)
    return float(psnr(image, clean.double(), data_range=1.0))
