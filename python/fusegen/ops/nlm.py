"""Non-local means denoising (Buades, Coll, Morel) of image tensors, on CPU and CUDA."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .checks import check_image, check_number, check_window

__all__ = ["COLOUR_SPACES", "IPOL_TABLE", "MEASURED_TABLE", "OPPONENT", "OPPONENT_CHROMA_SCALE",
           "NLMParams", "nlm_denoise", "nlm_params"]

COLOUR_SPACES = ("opponent", "rgb")

# The opponent colour space of BM3D, Y = (R+G+B)/3, U = (R-B)/2, V = (R-2G+B)/4, each row divided
# by its norm (the factor by which it scales the standard deviation of noise that is independent
# and equal in R, G and B: 1/sqrt(3), 1/sqrt(2), sqrt(0.375)). The rows are then orthonormal: the
# matrix is a rotation of RGB, its transpose takes the channels back, and every channel carries
# noise of the image's sigma.
OPPONENT = ((1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)),
            (1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)),
            (1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)))
# The colour path's patch distance weighs the squared differences of U and V by the square of
# this scale against luma's (1 would weigh them alike, which is RGB's distance, the space being
# a rotation; 0 would take the weights from luma alone). Measured: experiments/nlm_colour.
OPPONENT_CHROMA_SCALE = 0.5


class NLMParams(NamedTuple):
    """The parameters one denoising call runs with (``h`` in the image's units)."""

    h: float
    patch_size: int
    search_size: int


# Rows of (upper bound of sigma on the 0-255 scale, patch size, search size, h / sigma); sigmas
# above the last bound use the last row. "grey" rows serve every channel count but 3; "colour"
# rows serve 3-channel images filtered in RGB (``colour_space="rgb"``); "opponent" rows serve
# 3-channel images in the opponent colour space (the default).
#
# The table of Buades, Coll & Morel, "Non-Local Means Denoising", IPOL 2011. It was tuned for
# their patch-wise variant, which averages whole restored patches. Its colour rows are for RGB.
IPOL_TABLE = {
    "grey": ((15, 3, 21, 0.40), (30, 5, 21, 0.40), (45, 7, 35, 0.35), (75, 9, 35, 0.35),
             (100, 11, 35, 0.30)),
    "colour": ((25, 3, 21, 0.55), (55, 5, 35, 0.40), (100, 7, 35, 0.35)),
}
# The default: measured for this pixel-wise operator (best mean PSNR over a grid of patch 3/5/7,
# search 15/21 and h/sigma 0.3-0.8) on scikit-image pictures the benchmarks do not use (moon,
# coins, grass, brick; coffee, chelsea, rocket). It beats the IPOL table on every benchmark
# picture and noise level, by up to 0.5 dB, and is faster (no 35x35 searches). The opponent
# rows: best mean PSNR on coffee, chelsea and rocket at sigma 10, 25, 35, 50 and 75 over patch
# 3/5/7, search 15/21 and h/sigma 0.1-1.5 (experiments/nlm_colour); the bounds lie between
# those sigmas.
MEASURED_TABLE = {
    "grey": ((15, 5, 21, 0.80), (30, 7, 21, 0.65), (45, 7, 21, 0.55), (75, 7, 21, 0.40),
             (math.inf, 7, 15, 0.30)),
    "colour": ((10, 3, 21, 0.75), (25, 3, 21, 0.55), (55, 5, 15, 0.40), (math.inf, 3, 15, 0.30)),
    "opponent": ((15, 3, 15, 1.00), (42, 3, 15, 0.70), (60, 5, 15, 0.45), (math.inf, 3, 15, 0.25)),
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
    colour_space: str = "opponent",
) -> NLMParams:
    """The parameters :func:`nlm_denoise` uses for ``sigma``: a table row, then overrides.

    The table row is chosen by sigma on the 0-255 scale, ``sigma * 255 / data_range``;
    ``data_range`` defaults to 255 for uint8 and 1 for floating-point images. Images with 3
    channels use the table's ``"opponent"`` rows in the opponent colour space (the default) and
    its ``"colour"`` rows with ``colour_space="rgb"``; all other channel counts use the
    ``"grey"`` rows, whatever ``colour_space``. ``h = k * sigma`` with the row's k.
    ``table`` is ``"measured"`` (:data:`MEASURED_TABLE`, the default of :func:`nlm_denoise`)
    or ``"ipol"`` (:data:`IPOL_TABLE`, Buades, Coll & Morel's published values, which have no
    opponent rows: for 3 channels it needs ``colour_space="rgb"``).
    """
    if table not in _TABLES:
        raise ValueError(f"table must be one of {sorted(_TABLES)}, got {table!r}")
    check_colour_space(colour_space)
    check_number(sigma, "sigma", minimum=0.0)
    if data_range is None:
        data_range = 255.0 if dtype == torch.uint8 else 1.0
    check_number(data_range, "data_range", minimum=0.0, allow_minimum=False)
    sigma255 = float(sigma) * 255.0 / float(data_range)
    kind = "grey" if channels != 3 else ("colour" if colour_space == "rgb" else "opponent")
    if kind not in _TABLES[table]:
        raise ValueError(f"table {table!r} has no rows for colour_space 'opponent' (its colour "
                         "rows are for RGB): pass colour_space='rgb' to use them")
    rows = _TABLES[table][kind]
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


def check_colour_space(colour_space: object) -> None:
    """``colour_space`` is one of :data:`COLOUR_SPACES`."""
    if not isinstance(colour_space, str):
        raise TypeError(f"colour_space must be a string, one of {COLOUR_SPACES}, got "
                        f"{type(colour_space).__name__}")
    if colour_space not in COLOUR_SPACES:
        raise ValueError(f"colour_space must be one of {COLOUR_SPACES}, got {colour_space!r}")


def nlm_denoise(
    image: torch.Tensor,
    sigma: float,
    *,
    h: float | None = None,
    patch_size: int | None = None,
    search_size: int | None = None,
    data_range: float | None = None,
    colour_space: str = "opponent",
) -> torch.Tensor:
    """Denoise images with patch-based non-local means (Buades, Coll, Morel 2005).

    Every pixel becomes a weighted mean of the pixels in the ``search_size`` x ``search_size``
    window around it. A candidate pixel weighs
    ``exp(-max(d2 - 2 sigma^2, 0) / h^2)``, where ``d2`` is the mean squared difference between
    the ``patch_size`` x ``patch_size`` patches around the two pixels, over the patch's pixels
    and all channels (the channels share one weight). Borders are reflect-padded (the edge
    pixel is not repeated). The cost is O(search_size^2) per pixel, independent of the patch
    size.

    Images with 3 channels are colour images. By default (``colour_space="opponent"``) they
    are filtered in BM3D's opponent colour space, each channel scaled to carry noise of
    standard deviation ``sigma`` (:data:`OPPONENT`): ``Y = (R+G+B)/sqrt(3)``,
    ``U = (R-B)/sqrt(2)``, ``V = (R-2G+B)/sqrt(6)``. There ``d2`` is a weighted mean over the
    channels, ``(dY^2 + a^2 dU^2 + a^2 dV^2) / (1 + 2 a^2)`` with
    ``a =`` :data:`OPPONENT_CHROMA_SCALE` (0.5: each chroma channel counts a quarter as much
    as luma), the three channels share the weights, and the result is rotated back to RGB.
    With ``colour_space="rgb"``, ``d2`` is the plain mean over R, G and B (which equals the
    opponent mean with ``a = 1``, the space being a rotation of RGB).

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
        colour_space: ``"opponent"`` (default) or ``"rgb"``: how images with 3 channels are
            filtered (above). Other channel counts ignore it.

    Defaults, by sigma on the 0-255 scale, measured for this operator (see
    :data:`MEASURED_TABLE`: the grey and RGB rows beat the IPOL 2011 table of Buades, Coll &
    Morel, which :func:`nlm_params` also offers, on every benchmark picture and noise level;
    the opponent rows beat the RGB rows on pictures they were not tuned on). Grey (any
    channel count but 3): sigma <= 15: patch 5, search 21, h = 0.80 sigma; <= 30: 7, 21, 0.65;
    <= 45: 7, 21, 0.55; <= 75: 7, 21, 0.40; above: 7, 15, 0.30. Colour (3 channels, opponent
    space): sigma <= 15: 3, 15, 1.00; <= 42: 3, 15, 0.70; <= 60: 5, 15, 0.45; above: 3, 15,
    0.25. Colour in RGB (``colour_space="rgb"``): sigma <= 10: 3, 21, 0.75; <= 25: 3, 21,
    0.55; <= 55: 5, 15, 0.40; above: 3, 15, 0.30. :func:`nlm_params` returns the values a
    call would use.

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
    a search window smaller than the patch, windows wider than ``2 * max(H, W) + 1`` (and
    than 35), which only revisit reflected copies of the same pixels, and a ``colour_space``
    other than ``"opponent"`` and ``"rgb"``.

    Example:
        >>> noisy = clean + 0.1 * torch.randn_like(clean)    # float image in [0, 1]
        >>> restored = nlm_denoise(noisy, sigma=0.1)
    """
    check_image(image)
    channels = 1 if image.dim() == 2 else image.shape[-3]
    params = nlm_params(sigma, channels, image.dtype, h=h, patch_size=patch_size,
                        search_size=search_size, data_range=data_range, colour_space=colour_space)
    _check_window_fits(params, image.shape[-2:])
    if channels == 3 and colour_space == "opponent":
        return _opponent_nlm(image, float(sigma), params)
    return torch.ops.fusegen.nlm_denoise(image, float(sigma), params.h, params.patch_size,
                                         params.search_size)


def _opponent_nlm(image: torch.Tensor, sigma: float, params: NLMParams) -> torch.Tensor:
    """The operator on (..., 3, H, W) rotated into the opponent space, chroma scaled by
    OPPONENT_CHROMA_SCALE; computed in float32 (float64 for float64 images), rotated back and
    returned in the image's dtype."""
    if image.numel() == 0:
        return image.new_empty(image.shape)
    compute = torch.float64 if image.dtype == torch.float64 else torch.float32
    height, width = image.shape[-2:]
    a = OPPONENT_CHROMA_SCALE
    s3, s2, s6 = math.sqrt(3), math.sqrt(2), math.sqrt(6)
    # OPPONENT's rows, written out (its zero entry skipped), U and V times a.
    r, g, b = image.to(compute).reshape(-1, 3, height, width).unbind(1)
    z = torch.stack([(r + g + b) / s3, (r - b) * (a / s2), (r - 2 * g + b) * (a / s6)], dim=1)
    # The operator's d2 is the plain mean over the three channels, (1 + 2 a^2) / 3 times the
    # weighted mean above, and its noise term scales alike: sigma and h by the square root.
    c = math.sqrt((1 + 2 * a * a) / 3)
    z = torch.ops.fusegen.nlm_denoise(z, sigma * c, params.h * c, params.patch_size,
                                      params.search_size)
    # Back: OPPONENT's columns, U and V divided by a.
    y, u, v = z[:, 0] / s3, z[:, 1] / (a * s2), z[:, 2] / (a * s6)
    out = torch.stack([y + u + v, y - 2 * v, y - u + v], dim=1).reshape(image.shape)
    if image.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    return out.to(image.dtype)


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


@torch.library.register_fake("fusegen::nlm_denoise")
def _nlm_denoise_fake(image, sigma, h, patch_size, search_size):
    """The compiled operator's checks and result, for fake tensors (torch.compile)."""
    check_image(image)
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
