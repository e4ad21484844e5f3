"""BM3D denoising (Dabov, Foi, Katkovnik, Egiazarian 2007) of image tensors, on CPU and CUDA."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .checks import check_image, check_number

__all__ = ["BM3DParams", "bm3d_denoise", "bm3d_params"]

STAGES = ("basic", "final")
MAX_BLOCK = 16
MAX_GROUP = 64


class BM3DParams(NamedTuple):
    """The parameters one call runs with; pairs are (basic stage, final stage).

    ``match_threshold`` is the largest mean squared difference per pixel between two matched
    blocks, in the image's units squared; ``threshold`` is the hard threshold in units of the
    noise's standard deviation (lambda); ``wiener_factor`` multiplies the noise power in the
    Wiener gain p^2 / (p^2 + wiener_factor * sigma^2) (mu^2).
    """

    block_size: tuple[int, int]
    step: tuple[int, int]
    search_size: tuple[int, int]
    group_size: tuple[int, int]
    match_threshold: tuple[float, float]
    threshold: float
    wiener_factor: float


# The default profile. Matching thresholds are mean squared differences per pixel on the 0-255
# scale, scaled to the image's range: stage 1's grows with the noise (the mean squared
# difference of two noisy copies of one block is 2 sigma^2), stage 2 matches on the smooth
# basic estimate. Measured against the reference implementation (`bm3d`, profile 'np') on
# scikit-image pictures the benchmarks do not use (moon, coins, grass, brick; coffee, chelsea,
# rocket) at sigma 10, 25 and 50: Dabov et al.'s fixed 3000 loses 0.6 dB to it at sigma 50,
# max(3000, 4 sigma^2) 0.03; lambda 2.7 and mu^2 1 beat 2.5, 3.0 and 0.6-1.3.
_PROFILE = {
    "block_size": (8, 8),
    "step": (3, 3),
    "search_size": (39, 39),
    "group_size": (16, 32),
    "threshold": 2.7,
    "wiener_factor": 1.0,
}


def default_match_thresholds(sigma255: float) -> tuple[float, float]:
    """The (basic, final) matching thresholds on the 0-255 scale for sigma on that scale."""
    return (max(3000.0, 4.0 * sigma255 ** 2), 400.0)


def _pair(value, name: str, kind: type) -> tuple:
    """One value for both stages, or a (basic, final) pair."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name} must be one value or a (basic, final) pair, got {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float) if kind is float else int):
            raise TypeError(f"{name} must hold {kind.__name__}s, got {type(item).__name__} in {value!r}")
    return tuple(kind(item) for item in items)


def bm3d_params(
    sigma: float,
    dtype: torch.dtype = torch.float32,
    *,
    block_size=None,
    step=None,
    search_size=None,
    group_size=None,
    match_threshold=None,
    threshold: float | None = None,
    wiener_factor: float | None = None,
    data_range: float | None = None,
) -> BM3DParams:
    """The parameters :func:`bm3d_denoise` uses for ``sigma``: the default profile, then
    overrides. Sizes and thresholds that differ between the stages take one value for both or
    a ``(basic, final)`` pair. ``data_range`` (default 255 for uint8, 1 for float images)
    scales the matching thresholds, which the profile gives on the 0-255 scale."""
    check_number(sigma, "sigma", minimum=0.0, allow_minimum=False)
    if data_range is None:
        data_range = 255.0 if dtype == torch.uint8 else 1.0
    check_number(data_range, "data_range", minimum=0.0, allow_minimum=False)
    scale = (float(data_range) / 255.0) ** 2
    block = _pair(_PROFILE["block_size"] if block_size is None else block_size, "block_size", int)
    steps = _pair(_PROFILE["step"] if step is None else step, "step", int)
    search = _pair(_PROFILE["search_size"] if search_size is None else search_size, "search_size", int)
    group = _pair(_PROFILE["group_size"] if group_size is None else group_size, "group_size", int)
    if match_threshold is None:
        sigma255 = float(sigma) * 255.0 / float(data_range)
        match = tuple(t * scale for t in default_match_thresholds(sigma255))
    else:
        match = _pair(match_threshold, "match_threshold", float)
    lam = _PROFILE["threshold"] if threshold is None else threshold
    mu2 = _PROFILE["wiener_factor"] if wiener_factor is None else wiener_factor
    for s, stage in enumerate(STAGES):
        if not 1 <= block[s] <= MAX_BLOCK:
            raise ValueError(f"block_size ({stage} stage) must be in [1, {MAX_BLOCK}], got {block[s]}")
        if not 1 <= steps[s] <= block[s]:  # a wider step leaves pixels no block covers
            raise ValueError(f"step ({stage} stage) must be in [1, block_size] = [1, {block[s]}], "
                             f"got {steps[s]}")
        if search[s] < 1 or search[s] % 2 == 0:
            raise ValueError(f"search_size ({stage} stage) must be a positive odd number, got {search[s]}")
        g = group[s]
        if g < 1 or g > MAX_GROUP or g & (g - 1):
            raise ValueError(f"group_size ({stage} stage) must be a power of two in [1, {MAX_GROUP}], got {g}")
        if math.isnan(match[s]) or match[s] < 0:
            raise ValueError(f"match_threshold ({stage} stage) must be a number >= 0, got {match[s]}")
    check_number(lam, "threshold", minimum=0.0)
    check_number(mu2, "wiener_factor", minimum=0.0)
    return BM3DParams(block, steps, search, group, match, float(lam), float(mu2))


def bm3d_denoise(
    image: torch.Tensor,
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
) -> torch.Tensor:
    """Denoise images with BM3D: block matching and 3-D collaborative filtering.

    BM3D (Dabov, Foi, Katkovnik, Egiazarian, 2007) stacks every reference block (a grid of
    stride ``step``) with the most similar blocks of its search window into a 3-D group and
    filters the group in a 3-D transform domain (2-D transform of each block, Haar along the
    stack), where the image's repeated structure is sparse and the noise is not:

    * basic stage: groups matched on the noisy image; hard thresholding at
      ``threshold * sigma`` in the bior1.5 (8 x 8 blocks; DCT for other sizes) x Haar domain;
    * final stage: groups matched on the basic estimate; each noisy coefficient is scaled by the
      empirical Wiener gain ``p^2 / (p^2 + wiener_factor * sigma^2)`` of the basic estimate's
      coefficient ``p``, in the DCT x Haar domain.

    Each filtered block is added back where it came from, weighted by a Kaiser window times the
    inverse of its group's estimated noise variance. Colour images (3 channels, taken as RGB)
    are filtered in the opponent colour space, grouped on its luma channel, whose groups the two
    chroma channels share; images with another channel count are filtered channel by channel.
    Images of a batch are independent. The result does not depend on the number of threads.

    Args:
        image: (H, W), (C, H, W) or (N, C, H, W); float32, float64, float16, bfloat16 or uint8;
            on CPU or CUDA; any strides. Half types and uint8 are computed in float32. H and W
            must be at least the block size.
        sigma: standard deviation of the noise, > 0, in the units of the image's values (0-255
            for uint8; for float images in [0, 1], e.g. 0.1).
        stage: ``"final"`` (both stages) or ``"basic"`` (the hard-thresholding estimate only).
        block_size, step, search_size, group_size, match_threshold: one value for both stages
            or a ``(basic, final)`` pair. Block side (1-16), stride of the reference grid (at
            most the block side), odd
            search-window width, largest group (a power of two up to 64), largest mean squared
            difference per pixel of a match (image units squared).
        threshold: hard threshold in units of sigma (lambda).
        wiener_factor: multiplier of the noise power in the Wiener gain (mu^2).
        data_range: the span of the image's values, which scales the default matching
            thresholds (given on the 0-255 scale). Default 255 for uint8, 1 for float.

    Defaults (:func:`bm3d_params` returns the values a call uses): blocks 8 x 8, step 3,
    search 39 x 39, groups of up to 16 (basic) and 32 (final), matching thresholds
    ``max(3000, 4 sigma^2)`` (basic) and 400 (final) on the 0-255 scale, ``threshold`` 2.7,
    ``wiener_factor`` 1.

    Returns:
        The denoised images, same shape, dtype and device (contiguous). uint8 results are
        rounded and saturated. Empty images give empty results. A pixel whose computation
        reaches a NaN or infinite input pixel (within ``2 * (search_size // 2) + block_size - 1``
        pixels per stage, each axis) is NaN; every other pixel is computed as usual.

    Not differentiable: a backward pass that reaches it raises ``RuntimeError``. Works with
    ``torch.compile`` (a fake implementation is registered).

    Example:
        >>> noisy = clean + 0.1 * torch.randn_like(clean)    # float image in [0, 1]
        >>> restored = bm3d_denoise(noisy, sigma=0.1)
    """
    check_image(image)
    if stage not in STAGES:
        raise ValueError(f"stage must be 'basic' or 'final', got {stage!r}")
    params = bm3d_params(sigma, image.dtype, block_size=block_size, step=step,
                         search_size=search_size, group_size=group_size,
                         match_threshold=match_threshold, threshold=threshold,
                         wiener_factor=wiener_factor, data_range=data_range)
    _check_fits(image, params, stage)
    return torch.ops.fusegen.bm3d_denoise(
        image, float(sigma), stage, list(params.block_size), list(params.step),
        list(params.search_size), list(params.group_size), list(params.match_threshold),
        params.threshold, params.wiener_factor)


def _check_fits(image: torch.Tensor, params: BM3DParams, stage: str) -> None:
    if image.numel() == 0:
        return
    height, width = image.shape[-2:]
    stages = 2 if stage == "final" else 1
    block = max(params.block_size[:stages])
    if height < block or width < block:
        raise ValueError(f"image ({height}x{width}) must be at least as large as a block "
                         f"({block}x{block}); pass a smaller block_size")


@torch.library.register_fake("fusegen::bm3d_denoise")
def _bm3d_denoise_fake(image, sigma, stage, block_size, step, search_size, group_size,
                       match_threshold, threshold, wiener_factor):
    """The compiled operator's checks and result, for fake tensors (torch.compile)."""
    check_image(image)
    check_number(sigma, "sigma", minimum=0.0, allow_minimum=False)
    if stage not in STAGES:
        raise ValueError(f"stage must be 'basic' or 'final', got {stage!r}")
    bm3d_params(sigma, image.dtype, block_size=tuple(block_size), step=tuple(step),
                search_size=tuple(search_size), group_size=tuple(group_size),
                match_threshold=tuple(match_threshold), threshold=threshold,
                wiener_factor=wiener_factor)
    return image.new_empty(image.shape)


def _no_gradient(ctx, grad_output):
    raise RuntimeError("fusegen.ops.bm3d_denoise has no gradient: use its result as a constant "
                       "(call it under torch.no_grad(), or .detach() its input)")


# Registered so that a backward pass through the denoiser fails with this message instead of
# torch's warning about a missing autograd kernel (and a silently wrong, zero gradient).
torch.library.register_autograd("fusegen::bm3d_denoise", _no_gradient)
