"""Non-local means denoising (Buades, Coll, Morel) of image tensors, on CPU and CUDA."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .checks import check_device_built, check_number, check_window

__all__ = ["IPOL_TABLE", "MEASURED_TABLE", "NLMParams", "nlm_denoise", "nlm_params"]

IMAGE_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8)


class NLMParams(NamedTuple):
    """The parameters one denoising call runs with (``h`` in the image's units)."""

    h: float
    patch_size: int
    search_size: int


# Rows of (upper bound of sigma on the 0-255 scale, patch size, search size, h / sigma); sigmas
# above the last bound use the last row.
#
# The table of Buades, Coll & Morel, "Non-Local Means Denoising", IPOL 2011. It was tuned for
# their patch-wise variant, which averages whole restored patches.
IPOL_TABLE = {
    "grey": ((15, 3, 21, 0.40), (30, 5, 21, 0.40), (45, 7, 35, 0.35), (75, 9, 35, 0.35),
             (100, 11, 35, 0.30)),
    "colour": ((25, 3, 21, 0.55), (55, 5, 35, 0.40), (100, 7, 35, 0.35)),
}
# The default: measured for this pixel-wise operator (best mean PSNR over a grid of patch 3/5/7,
# search 15/21 and h/sigma 0.3-0.8) on scikit-image pictures the benchmarks do not use (moon,
# coins, grass, brick; coffee, chelsea, rocket). It beats the IPOL table on every benchmark
# picture and noise level, by up to 0.5 dB, and is faster (no 35x35 searches).
MEASURED_TABLE = {
    "grey": ((15, 5, 21, 0.80), (30, 7, 21, 0.65), (45, 7, 21, 0.55), (75, 7, 21, 0.40),
             (math.inf, 7, 15, 0.30)),
    "colour": ((10, 3, 21, 0.75), (25, 3, 21, 0.55), (55, 5, 15, 0.40), (math.inf, 3, 15, 0.30)),
}
_TABLES = {"measured": MEASURED_TABLE, "ipol": IPOL_TABLE}


def nlm_params(
    sigma: float,
    channels: int,
    dtype: torch.dtype = torch.float32,
    *,
    h: float | None = None,
    patch_size: int | None = None,
    search_size: int | None = None,
    data_range: float | None = None,
    table: str = "measured",
) -> NLMParams:
    """The parameters :func:`nlm_denoise` uses for ``sigma``: a table row, then overrides.

    The table row is chosen by sigma on the 0-255 scale, ``sigma * 255 / data_range``;
    ``data_range`` defaults to 255 for uint8 and 1 for floating-point images. Images with 3
    channels use the colour rows, all others the grey rows. ``h = k * sigma`` with the row's k.
    ``table`` is ``"measured"`` (:data:`MEASURED_TABLE`, the default of :func:`nlm_denoise`)
    or ``"ipol"`` (:data:`IPOL_TABLE`, Buades, Coll & Morel's published values).
    """
    if table not in _TABLES:
        raise ValueError(f"table must be one of {sorted(_TABLES)}, got {table!r}")
    check_number(sigma, "sigma", minimum=0.0)
    if data_range is None:
        data_range = 255.0 if dtype == torch.uint8 else 1.0
    check_number(data_range, "data_range", minimum=0.0, allow_minimum=False)
    sigma255 = float(sigma) * 255.0 / float(data_range)
    rows = _TABLES[table]["colour" if channels == 3 else "grey"]
    row = next((r for r in rows if sigma255 <= r[0]), rows[-1])
    _, default_patch, default_search, k = row
    if h is None:
        if sigma == 0:
            raise ValueError("h must be given when sigma is 0 (the table sets h = k * sigma)")
        h = k * float(sigma)
    check_number(h, "h", minimum=0.0, allow_minimum=False)
    patch = default_patch if patch_size is None else check_window(patch_size, "patch_size")
    search = default_search if search_size is None else check_window(search_size, "search_size")
    if search_size is None and search < patch:
        search = patch  # an explicit large patch widens the table's search window to fit
    if search < patch:
        raise ValueError(f"search_size ({search}) must be at least patch_size ({patch})")
    return NLMParams(float(h), patch, search)


def nlm_denoise(
    image: torch.Tensor,
    sigma: float,
    *,
    h: float | None = None,
    patch_size: int | None = None,
    search_size: int | None = None,
    data_range: float | None = None,
) -> torch.Tensor:
    """Denoise images with patch-based non-local means (Buades, Coll, Morel 2005).

    Every pixel becomes a weighted mean of the pixels in the ``search_size`` x ``search_size``
    window around it. A candidate pixel weighs
    ``exp(-max(d2 - 2 sigma^2, 0) / h^2)``, where ``d2`` is the mean squared difference between
    the ``patch_size`` x ``patch_size`` patches around the two pixels, over the patch's pixels
    and all channels (the channels share one weight). Borders are reflect-padded (the edge
    pixel is not repeated). The cost is O(search_size^2) per pixel, independent of the patch
    size.

    Args:
        image: (H, W), (C, H, W) or (N, C, H, W); float32, float64, float16, bfloat16 or uint8;
            on CPU or CUDA; any strides. Half types and uint8 are computed in float32.
        sigma: standard deviation of the noise, in the units of the image's values (0-255 for
            uint8; for float images in [0, 1], e.g. 0.1).
        h: filtering strength, in the image's units. Default: ``k * sigma`` from the table
            below.
        patch_size: odd patch width. Default from the table.
        search_size: odd search-window width, at least ``patch_size``. Default from the table.
        data_range: the span of the image's values, used only to pick the table row: the row
            is chosen by ``sigma * 255 / data_range``. Default 255 for uint8, 1 for float.

    Defaults, by sigma on the 0-255 scale, measured for this operator (see
    :data:`MEASURED_TABLE`; they beat the IPOL 2011 table of Buades, Coll & Morel, which
    :func:`nlm_params` also offers, on every benchmark picture and noise level). Grey (any
    channel count but 3): sigma <= 15: patch 5, search 21, h = 0.80 sigma; <= 30: 7, 21, 0.65;
    <= 45: 7, 21, 0.55; <= 75: 7, 21, 0.40; above: 7, 15, 0.30. Colour (3 channels):
    sigma <= 10: 3, 21, 0.75; <= 25: 3, 21, 0.55; <= 55: 5, 15, 0.40; above: 3, 15, 0.30.
    :func:`nlm_params` returns the values a call would use.

    Returns:
        The denoised images, same shape, dtype and device (contiguous). uint8 results are
        rounded and saturated. Empty images give empty results. NaN and infinite pixels
        follow PyTorch's rule for windowed operations, on every device: each output pixel
        whose windows (search window plus patch radius, over the image and its reflection)
        see one is NaN, and every other pixel is computed as usual.

    Not differentiable (the weights' gradients are of no practical use): a backward pass
    that reaches it raises ``RuntimeError``; use it as preprocessing, under
    ``torch.no_grad()``. Works with
    ``torch.compile`` (a fake implementation is registered).

    Raises ``ValueError``/``TypeError`` naming the argument for a wrong rank, an integer dtype
    other than uint8, a negative sigma, a non-positive h, even or non-positive window sizes,
    a search window smaller than the patch, and windows wider than ``2 * max(H, W) + 1`` (and
    than 35), which only revisit reflected copies of the same pixels.

    Example:
        >>> noisy = clean + 0.1 * torch.randn_like(clean)    # float image in [0, 1]
        >>> restored = nlm_denoise(noisy, sigma=0.1)
    """
    _check_image(image)
    channels = 1 if image.dim() == 2 else image.shape[-3]
    params = nlm_params(sigma, channels, image.dtype, h=h, patch_size=patch_size,
                        search_size=search_size, data_range=data_range)
    _check_window_fits(params, image.shape[-2:])
    return torch.ops.fusegen.nlm_denoise(image, float(sigma), params.h, params.patch_size,
                                         params.search_size)


# The widest windows any table uses; smaller images still accept them (the default search of 21
# on an 8 x 8 image), so a window wider than the image alone is not an error.
_WIDEST_TABLE_WINDOW = 35


def _check_window_fits(params: NLMParams, size) -> None:
    """A window wider than 2 * max(H, W) + 1 (and than any table's) only revisits reflected
    copies of the same pixels, while the reflect-padded copy of the image grows with its square
    (search 100001 would need tens of GB): refuse it with the largest useful size."""
    limit = max(_WIDEST_TABLE_WINDOW, 2 * max(size) + 1)
    for name, value in (("patch_size", params.patch_size), ("search_size", params.search_size)):
        if value > limit:
            raise ValueError(f"{name} must be at most {limit} for a {size[0]}x{size[1]} image "
                             f"(2 * max(H, W) + 1, or {_WIDEST_TABLE_WINDOW}): a wider window only "
                             f"revisits reflected copies of the same pixels; got {value}")


def _check_image(image: object) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if not 2 <= image.dim() <= 4:
        raise ValueError(
            f"image must have shape (H, W), (C, H, W) or (N, C, H, W), got {image.dim()} "
            f"dimensions {tuple(image.shape)}"
        )
    if image.dtype not in IMAGE_DTYPES:
        raise TypeError(
            "image must have dtype float32, float64, float16, bfloat16 or uint8, "
            f"got {image.dtype}"
        )
    check_device_built(image, "image")
    return image


@torch.library.register_fake("fusegen::nlm_denoise")
def _nlm_denoise_fake(image, sigma, h, patch_size, search_size):
    """The compiled operator's checks and result, for fake tensors (torch.compile)."""
    _check_image(image)
    check_number(sigma, "sigma", minimum=0.0)
    check_number(h, "h", minimum=0.0, allow_minimum=False)
    check_window(patch_size, "patch_size")
    check_window(search_size, "search_size")
    if search_size < patch_size:
        raise ValueError(f"search_size ({search_size}) must be at least patch_size ({patch_size})")
    return image.new_empty(image.shape)


def _no_gradient(ctx, grad_output):
    raise RuntimeError("fusegen.ops.nlm_denoise has no gradient: use its result as a constant "
                       "(call it under torch.no_grad(), or .detach() its input)")


# Registered so that a backward pass through the denoiser fails with this message instead of
# torch's warning about a missing autograd kernel (and a silently wrong, zero gradient).
torch.library.register_autograd("fusegen::nlm_denoise", _no_gradient)
