"""Hole masks for inpainting: random masks for training and testing, and mask files.

A mask is a bool tensor, **True where a pixel is missing** (to be filled in), False where it is
known. :func:`random_masks` draws batches of three kinds (:data:`MASK_KINDS`):

* ``"strokes"`` -- free-form brush strokes: thick random polylines (zig-zags of 3 to 11 segments
  with round joints and ends), as the free-form masks of Liu et al. (2018, partial convolutions)
  and Yu et al. (2019, gated convolutions);
* ``"pixels"`` -- pixels missing independently of each other, scattered over the image (dead
  sensor pixels, lost samples);
* ``"boxes"`` -- one or several axis-aligned rectangles (a masked-out object, lost blocks).

:func:`read_mask` and :func:`write_mask` read and write mask images (non-zero = missing).
"""

from __future__ import annotations

import math
import os

import torch
from torch.nn import functional as F

from .files import read_image, write_image

MASK_KINDS = ("strokes", "pixels", "boxes")

# The range of hole fractions (missing pixels / all pixels) each kind draws from by default.
MASK_FRACTIONS = {"strokes": (0.05, 0.4), "pixels": (0.1, 0.6), "boxes": (0.05, 0.4)}

# Shapes (strokes or boxes) drawn per mask before the rest of its target is grown around its holes.
MAX_SHAPES = 64

# Free-form strokes, in the manner of Yu et al. (2019): 4 to 12 vertices; segment directions
# alternate around the stroke's heading by 72 +- 24 degrees (a zig-zag); segment lengths are
# normal around diag / 8, clipped to [0, diag / 4]; brush widths 5% to 15% of the shorter side.
STROKE_VERTICES = (4, 12)
STROKE_ANGLE, STROKE_ANGLE_RANGE = 2 * math.pi / 5, 2 * math.pi / 15
STROKE_WIDTH = (0.05, 0.15)
# Boxes: each side 10% to 50% of the image's side.
BOX_SIDE = (0.1, 0.5)


def random_masks(n: int, height: int, width: int, kind: str = "mixed", *,
                 fraction: float | tuple[float, float] | None = None,
                 generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """``n`` random hole masks of ``height`` x ``width`` pixels, True where a pixel is missing.

    Args:
        n: the number of masks (0 gives an empty batch).
        height, width: the mask size in pixels, each at least 1.
        kind: ``"strokes"`` (free-form brush strokes), ``"pixels"`` (scattered missing pixels),
            ``"boxes"`` (one or several rectangles), or ``"mixed"``: each mask takes one of the
            three at random, with equal chances.
        fraction: the hole fraction (missing pixels / all pixels) as a range ``(low, high)``
            with ``0 <= low <= high <= 1``, or one number for ``(f, f)``. Each mask draws a
            target uniformly from the range. Default: :data:`MASK_FRACTIONS` of its kind
            (strokes and boxes 5% to 40%, pixels 10% to 60%).
        generator: a CPU ``torch.Generator``; the same seed gives the same masks on every
            device. Without it, torch's global generator draws.
        device: where the masks are returned (they are drawn on the CPU).

    Returns:
        A bool tensor (n, 1, height, width).

    How the fraction is met: a ``"pixels"`` mask has exactly its target count of missing pixels,
    chosen uniformly at random. ``"strokes"`` and ``"boxes"`` masks add one shape at a time until
    the target is reached; a shape that would take the mask past ``high`` is shrunk (or, when its
    pixels still overshoot, drawn again), so every mask ends with a fraction in ``[low, high]``,
    usually a little above its target. Should :data:`MAX_SHAPES` shapes not reach the target
    (only near-full targets do), the rest is grown around the mask's holes, one pixel ring at a
    time. Where no whole number of pixels lies in ``[low, high]`` (e.g. ``fraction=0.35`` on 10
    pixels), the count is the nearest one.
    """
    for name, value, low in (("n", n, 0), ("height", height, 1), ("width", width, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if kind != "mixed" and kind not in MASK_KINDS:
        raise ValueError(f"kind must be one of {', '.join(MASK_KINDS)} or mixed, got {kind!r}")
    ranges = {k: MASK_FRACTIONS[k] for k in MASK_KINDS} if fraction is None else \
        dict.fromkeys(MASK_KINDS, _fraction_range(fraction))
    if generator is not None and (not isinstance(generator, torch.Generator) or generator.device.type != "cpu"):
        raise ValueError(f"generator must be a CPU torch.Generator (masks are drawn on the CPU), "
                         f"got {generator!r}")
    masks = torch.zeros(n, height, width, dtype=torch.bool)
    if n:
        if kind == "mixed":
            kinds = torch.randint(len(MASK_KINDS), (n,), generator=generator)
        else:
            kinds = torch.full((n,), MASK_KINDS.index(kind))
        for index, name in enumerate(MASK_KINDS):
            chosen = (kinds == index).nonzero().flatten()
            if len(chosen):
                low, high = ranges[name]
                target, cap = _target_counts(len(chosen), height * width, low, high, generator)
                draw = _missing_pixels if name == "pixels" else _shapes
                masks[chosen] = draw(name, target, cap, height, width, generator)
    return masks[:, None].to(device)


def _fraction_range(fraction: object) -> tuple[float, float]:
    pair = (fraction, fraction) if isinstance(fraction, (int, float)) else fraction
    try:
        low, high = (float(v) for v in pair if not isinstance(v, bool))
    except (TypeError, ValueError):
        low = high = math.nan
    if not 0 <= low <= high <= 1:  # NaN fails too
        raise ValueError(f"fraction must be a number in [0, 1] or a range (low, high) with "
                         f"0 <= low <= high <= 1, got {fraction!r}")
    return low, high


def _target_counts(n: int, pixels: int, low: float, high: float,
                   generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(target, cap): the missing-pixel count each mask aims at, drawn uniformly in the range,
    and the most it may reach (``high``'s count)."""
    t = low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)
    target = (t * pixels).round().long()
    fewest, most = math.ceil(low * pixels - 1e-9), math.floor(high * pixels + 1e-9)
    if fewest > most:  # no whole count inside the range: the nearest one
        return target, target.clone()
    return target.clamp(fewest, most), torch.full((n,), most)


def _missing_pixels(kind: str, target: torch.Tensor, cap: torch.Tensor, height: int, width: int,
                    generator: torch.Generator | None) -> torch.Tensor:
    """Exactly ``target[i]`` missing pixels in mask i, a uniformly random subset."""
    n, pixels = len(target), height * width
    order = torch.rand(n, pixels, generator=generator).argsort(1)
    first = torch.arange(pixels) < target[:, None]
    return torch.zeros(n, pixels, dtype=torch.bool).scatter_(1, order, first).view(n, height, width)


def _shapes(kind: str, target: torch.Tensor, cap: torch.Tensor, height: int, width: int,
            generator: torch.Generator | None) -> torch.Tensor:
    """Strokes or boxes added to each mask, one a round, until it holds ``target`` pixels (never
    more than ``cap``); see :func:`random_masks`."""
    draw = _stroke if kind == "strokes" else _box
    masks = torch.zeros(len(target), height, width, dtype=torch.bool)
    count = torch.zeros(len(target), dtype=torch.long)
    for _ in range(MAX_SHAPES):
        active = (count < target).nonzero().flatten()
        if not len(active):
            break
        room = (cap[active] - count[active]).double()
        grown = masks[active] | draw(room, height, width, generator)
        grown_count = grown.flatten(1).sum(1)
        fits = grown_count <= cap[active]
        masks[active[fits]], count[active[fits]] = grown[fits], grown_count[fits]
    short = (count < target).nonzero().flatten()
    if len(short):
        masks[short] = _grow_around(masks[short], target[short] - count[short], generator)
    return masks


def _box(room: torch.Tensor, height: int, width: int, generator: torch.Generator | None) -> torch.Tensor:
    """One axis-aligned box per mask, sides 10% to 50% of the image's, shrunk (same aspect) to an
    area of at most ``room`` pixels; placed uniformly inside the image."""
    n = len(room)
    u = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    low, high = BOX_SIDE
    box_h = height * (low + (high - low) * u[:, 0])
    box_w = width * (low + (high - low) * u[:, 1])
    shrink = (room / (box_h * box_w)).sqrt().clamp(max=1)
    box_h = (box_h * shrink).floor().clamp(1, height).long()
    box_w = (box_w * shrink).floor().clamp(1, width).long()
    top = (u[:, 2] * (height - box_h + 1)).floor().long()
    left = (u[:, 3] * (width - box_w + 1)).floor().long()
    rows, cols = torch.arange(height), torch.arange(width)
    in_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


def _stroke(room: torch.Tensor, height: int, width: int, generator: torch.Generator | None) -> torch.Tensor:
    """One free-form brush stroke per mask: a polyline from a random pixel, its vertices kept
    inside the image, painted with a round brush; shrunk towards its first vertex when its area
    bound (segments' lengths x width + a disc per segment) exceeds ``room`` pixels."""
    n, g = len(room), generator
    fewest, most = STROKE_VERTICES
    vertices = torch.randint(fewest, most + 1, (n,), generator=g)
    side, diag = min(height, width), math.hypot(height, width)
    low, high = STROKE_WIDTH
    brush = (side * (low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64))).clamp(min=1)
    heading = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    turns = STROKE_ANGLE + STROKE_ANGLE_RANGE * (2 * torch.rand(n, most - 1, generator=g, dtype=torch.float64) - 1)
    turns[:, 1::2] *= -1  # zig-zag: alternate sides of the heading
    radius = diag / 8
    lengths = (radius + radius / 2 * torch.randn(n, most - 1, generator=g, dtype=torch.float64)).clamp(0, 2 * radius)
    lengths[torch.arange(1, most) >= vertices[:, None]] = 0  # strokes with fewer vertices stop early
    x = torch.randint(width, (n,), generator=g).double()
    y = torch.randint(height, (n,), generator=g).double()
    xs, ys = [x], [y]
    for j in range(most - 1):  # vertices stay inside the image, as Yu et al.'s
        x = (x + lengths[:, j] * torch.cos(heading + turns[:, j])).clamp(0, width - 1)
        y = (y + lengths[:, j] * torch.sin(heading + turns[:, j])).clamp(0, height - 1)
        xs.append(x)
        ys.append(y)
    xs, ys = torch.stack(xs, 1), torch.stack(ys, 1)  # (n, most)
    segments = torch.hypot(xs.diff(dim=1), ys.diff(dim=1))
    area = brush * segments.sum(1) + (vertices - 1) * math.pi * brush**2 / 4
    shrink = (room / area).sqrt().clamp(max=1)
    xs = xs[:, :1] + shrink[:, None] * (xs - xs[:, :1])
    ys = ys[:, :1] + shrink[:, None] * (ys - ys[:, :1])
    half_width_sq = ((brush * shrink / 2) ** 2).float().view(n, 1, 1)
    xs, ys = xs.float(), ys.float()
    cols = torch.arange(width, dtype=torch.float32).view(1, 1, width)
    rows = torch.arange(height, dtype=torch.float32).view(1, height, 1)
    painted = torch.zeros(n, height, width, dtype=torch.bool)
    for j in range(int(vertices.max()) - 1):  # pixels whose centre lies within the brush of segment j
        ax, ay = xs[:, j].view(n, 1, 1), ys[:, j].view(n, 1, 1)
        dx, dy = (xs[:, j + 1] - xs[:, j]).view(n, 1, 1), (ys[:, j + 1] - ys[:, j]).view(n, 1, 1)
        norm = (dx * dx + dy * dy).clamp(min=1e-12)
        rx, ry = cols - ax, rows - ay
        t = (rx * (dx / norm) + ry * (dy / norm)).clamp_(0, 1)
        ex, ey = rx - t * dx, ry - t * dy
        painted |= ex.mul_(ex).addcmul_(ey, ey) <= half_width_sq
    return painted


def _grow_around(masks: torch.Tensor, missing: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``masks`` with ``missing[i]`` more pixels, taken at random from the ring of pixels around
    mask i's holes (8-neighbours), ring after ring (from anywhere where a mask is empty)."""
    masks, missing = masks.clone(), missing.clone()
    n, height, width = masks.shape
    while bool((missing > 0).any()):
        ring = F.max_pool2d(masks[:, None].float(), 3, stride=1, padding=1)[:, 0].bool() & ~masks
        ring = torch.where(masks.flatten(1).any(1).view(n, 1, 1), ring, ~masks).flatten(1)
        take = torch.minimum(missing, ring.sum(1))
        priority = torch.rand(n, height * width, generator=generator).masked_fill_(~ring, -1.0)
        order = priority.argsort(1, descending=True)
        first = torch.arange(height * width) < take[:, None]
        masks |= torch.zeros_like(ring).scatter_(1, order, first).view(n, height, width)
        missing -= take
    return masks


def read_mask(path: str | os.PathLike, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A mask image as a bool tensor (1, H, W): True (missing) where the file's pixel is non-zero
    in any channel, False where it is black. Any format :func:`read_image` reads (8-bit, 16-bit
    or float; grey or colour; an alpha channel is ignored).

    ``size``: the (height, width) the mask must have, e.g. its image's ``image.shape[-2:]``; a
    mask of another size is refused with a ``ValueError`` giving both (masks are not resized:
    a resized mask no longer marks the pixels that are missing).

    Raises ``OSError`` naming the file when it cannot be read as an image.
    """
    image = read_image(path)
    mask = (image > 0).any(0, keepdim=True)
    if size is not None:
        expected = tuple(int(s) for s in size)
        if len(expected) != 2:
            raise ValueError(f"size must be (height, width), got {size!r}")
        if tuple(mask.shape[-2:]) != expected:
            raise ValueError(f"{path}: the mask is {mask.shape[-1]}x{mask.shape[-2]} pixels (width x height) "
                             f"but the image is {expected[1]}x{expected[0]}")
    return mask


def write_mask(mask: torch.Tensor, path: str | os.PathLike) -> None:
    """Save one mask, (1, H, W) or (H, W), as an 8-bit grey image: 255 where the mask is True
    (or non-zero: missing), 0 elsewhere. :func:`read_mask` reads it back unchanged; a lossless
    format (PNG) keeps it exact."""
    if not isinstance(mask, torch.Tensor) or not (mask.dim() == 2 or (mask.dim() == 3 and mask.shape[0] == 1)):
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a (1, H, W) or (H, W) tensor, got {shape}")
    write_image((mask != 0).to(torch.uint8) * 255, path)
