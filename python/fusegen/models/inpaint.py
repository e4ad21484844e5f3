"""An inpainting U-Net of partial convolutions (Liu et al. 2018): it fills the missing pixels of
an image from the known ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import PartialConvNormAct
from ..nn.partial_conv import check_mask_layout

NORMS = ("batch", "instance", "none")
FILLS = ("none", "biharmonic")
# The smooth fill's iterations: at every level of the push-pull pyramid, HARMONIC_STEPS Jacobi
# steps of Laplace's equation (a cascadic multigrid solve: large holes converge too), then
# BIHARMONIC_STEPS damped Jacobi steps of the biharmonic equation at full resolution. On the
# held-out photographs (experiments/inpaint) this passes scikit-image's inpaint_biharmonic on
# every mask kind: strokes 27.27, pixels 38.18, boxes 25.35 dB against 26.14, 38.18, 24.19
# (harmonic steps alone: 36.65 dB on scattered pixels, where the biharmonic steps matter; the
# plain pyramid with full-resolution steps only: 26.69 and 25.14 on strokes and boxes).
HARMONIC_STEPS, BIHARMONIC_STEPS, BIHARMONIC_DAMPING = 20, 20, 0.5


def _shifted(p: torch.Tensor, pad: int, dy: int, dx: int) -> torch.Tensor:
    """The (dy, dx)-shifted view of a tensor padded by ``pad`` on each side, at its unpadded size."""
    h, w = p.shape[-2] - 2 * pad, p.shape[-1] - 2 * pad
    return p[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w]


def _laplace_steps(u: torch.Tensor, image: torch.Tensor, known: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` Jacobi steps of Laplace's equation in the holes, the image's edges replicated."""
    for _ in range(steps):
        p = F.pad(u, (1, 1, 1, 1), mode="replicate")
        average = 0.25 * (_shifted(p, 1, -1, 0) + _shifted(p, 1, 1, 0) + _shifted(p, 1, 0, -1) + _shifted(p, 1, 0, 1))
        u = torch.where(known, image, average)
    return u


def pyramid_fill(image: torch.Tensor, valid: torch.Tensor, smoothing: int = 0) -> torch.Tensor:
    """A fast, parameter-free fill of the holes (push-pull, Gortler et al. 1996): the image and
    its mask are averaged down a pyramid of 2x2 blocks (known pixels only) until no hole is
    left, and each level's holes take the bilinear enlargement of the level below.

    ``smoothing``: Jacobi steps of Laplace's equation run in the holes at every level after the
    enlargement (the known pixels fixed). Each level starts from the smooth solution of the
    level below, so a few steps per level solve Laplace's equation even in large holes (a
    cascadic multigrid): the harmonic fill, which OpenCV's and scikit-image's methods
    approximate more slowly. 0: the plain push-pull fill.

    ``image``: (N, C, H, W); ``valid``: (N, 1 or C, H, W) float, 1 where a pixel is known.
    Returns the image with its holes filled (its known pixels as they were).
    """
    if min(image.shape[-2:]) <= 1 or bool((valid > 0).all()):
        return image
    known = valid > 0
    zero = torch.zeros((), dtype=image.dtype, device=image.device)
    total = F.avg_pool2d(torch.where(known, image, zero), 2, ceil_mode=True)
    weight = F.avg_pool2d(valid, 2, ceil_mode=True)
    coarse = pyramid_fill(total / weight.clamp(min=1e-6), (weight > 0).to(valid.dtype), smoothing)
    enlarged = F.interpolate(coarse, size=image.shape[-2:], mode="bilinear", align_corners=False)
    return _laplace_steps(torch.where(known, image, enlarged), image, known, smoothing)


def near_known(valid: torch.Tensor, reach: int) -> torch.Tensor:
    """True where a pixel is within ``reach`` rows and columns of a known one (``valid`` > 0,
    (N, 1 or C, H, W) float), known pixels included: the pixels an :class:`InpaintingUNet` with
    that ``reach`` corrects."""
    return F.max_pool2d(valid, 2 * reach + 1, 1, reach) > 0


def smooth_fill(image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """A smooth fill of the holes that matches biharmonic inpainting (scikit-image's
    ``inpaint_biharmonic``) on small holes and passes it on large ones, at a small part of its
    cost: the harmonic :func:`pyramid_fill` (``smoothing=HARMONIC_STEPS``), then
    :data:`BIHARMONIC_STEPS` damped Jacobi steps of the biharmonic equation in the holes (the
    known pixels fixed, the image's edges mirrored by replication). Small holes converge to the
    biharmonic solution; the middle of large ones keeps the harmonic fill, which overshoots less
    there. Same arguments and result as :func:`pyramid_fill`.
    """
    known = valid > 0
    u = pyramid_fill(image, valid, HARMONIC_STEPS)
    if bool(known.all()):
        return u
    return _biharmonic_steps(u, image, known, BIHARMONIC_STEPS)


def _biharmonic_steps(u: torch.Tensor, image: torch.Tensor, known: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` damped Jacobi steps of the biharmonic equation in the holes: its 13-point
    stencil solved for the centre, the image's edges replicated."""
    for _ in range(steps):
        p = F.pad(u, (2, 2, 2, 2), mode="replicate")
        edges = _shifted(p, 2, -1, 0) + _shifted(p, 2, 1, 0) + _shifted(p, 2, 0, -1) + _shifted(p, 2, 0, 1)
        corners = _shifted(p, 2, -1, -1) + _shifted(p, 2, -1, 1) + _shifted(p, 2, 1, -1) + _shifted(p, 2, 1, 1)
        far = _shifted(p, 2, -2, 0) + _shifted(p, 2, 2, 0) + _shifted(p, 2, 0, -2) + _shifted(p, 2, 0, 2)
        centre = (8 * edges - 2 * corners - far) / 20
        u = torch.where(known, image, u + BIHARMONIC_DAMPING * (centre - u))
    return u


class InpaintingUNet(nn.Module):
    """A U-Net of :class:`~fusegen.nn.PartialConvNormAct` blocks in the style of Liu et al.,
    "Image Inpainting for Irregular Holes Using Partial Convolutions" (2018), that fills the
    missing pixels of grey or colour images.

    Encoder: an optional full-resolution level (``full_depth`` partial convolutions of stride
    1), then ``depth`` partial convolutions of stride 2, ReLU; level ``i`` of those has
    ``width * 2**min(i, 3)`` channels. The first block is 5x5 and not normalized, the others
    3x3 and normalized. Decoder: at each level the features and their mask are upsampled (nearest) and
    concatenated with the encoder's features and mask at that scale, then a 3x3 partial
    convolution, normalization and LeakyReLU(0.2); the last block sees the input image and its
    mask too and predicts ``channels`` values, without normalization. The holes shrink at every
    block (a window with a valid input becomes valid).

    With ``fill="biharmonic"`` (the default) the network starts from :func:`smooth_fill`, a
    parameter-free fill of the holes close to biharmonic inpainting: it sees that fill and the
    mask as two more input channels (always valid) and its last block adds a correction to the
    fill (linear, initialized to zero: an untrained model returns the fill) at the missing
    pixels only. With ``reach`` set, only the missing pixels within ``reach`` pixels (rows and
    columns) of a known one are corrected: the middle of a large hole keeps the fill, whose
    content no network trained for minutes on a CPU predicts better, and training spends
    nothing there. With ``fill="none"`` it is Liu et al.'s network alone, which predicts the
    pixels through a sigmoid.

    Args:
        channels: 1 (grey) or 3 (colour) image channels.
        width: channels of the first stride-2 level (the deeper ones double it, up to 8x).
        depth: number of stride-2 levels (at least 1). Images are padded internally to a
            multiple of ``2**depth``.
        norm: ``"batch"`` (Liu et al.), ``"instance"`` or ``"none"``.
        full_width: channels of the full-resolution level; None: ``width``; 0: no such level
            (Liu et al.'s layout, which starts at half resolution).
        fill: ``"biharmonic"`` or ``"none"``, see above.
        full_depth: blocks of the full-resolution level (at least 1; more than 1 needs
            ``full_width > 0``): the fine corrections of a fill are local.
        reach: None (correct every missing pixel) or an integer >= 0, see above.

    Use :meth:`inpaint` (mask = True where a pixel is **missing**; known pixels come back
    unchanged). ``model(image, valid)`` is the raw network for training: the prediction of
    every pixel, known ones included, from ``valid`` (1 = **known**, the partial convolution's
    convention).
    """

    kind = "inpaint"

    def __init__(self, channels: int = 1, width: int = 16, depth: int = 5, norm: str = "batch",
                 full_width: int | None = None, fill: str = "biharmonic", full_depth: int = 1,
                 reach: int | None = None) -> None:
        super().__init__()
        full_width = width if full_width is None else full_width
        for name, value, low in (("channels", channels, 1), ("width", width, 1), ("depth", depth, 1),
                                 ("full_width", full_width, 0), ("full_depth", full_depth, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")
        if reach is not None and (isinstance(reach, bool) or not isinstance(reach, int) or reach < 0):
            raise ValueError(f"reach must be None or an integer >= 0, got {reach!r}")
        if reach is not None and fill == "none":
            raise ValueError("reach limits the correction of a fill; it needs fill='biharmonic'")
        if full_depth > 1 and not full_width:
            raise ValueError(f"full_depth={full_depth} needs a full-resolution level (full_width > 0)")
        self.config = dict(channels=channels, width=width, depth=depth, norm=norm, full_width=full_width,
                           fill=fill, full_depth=full_depth, reach=reach)
        self.channels, self.depth = channels, depth
        self.fill, self.reach = fill, reach
        # (channels, stride) of each encoder block: an optional full-resolution level, then the
        # stride-2 levels.
        levels = [(full_width, 1)] if full_width else []
        levels += [(width * 2 ** min(i, 3), 2) for i in range(depth)]
        widths = [w for w, _ in levels]
        self.encoder = nn.ModuleList()
        previous = channels if fill == "none" else 2 * channels + 1  # + the fill and the mask
        for i, (w, stride) in enumerate(levels):
            k = 5 if i == 0 else 3
            self.encoder.append(PartialConvNormAct(previous, w, k, stride, k // 2,
                                                   norm="none" if i == 0 else norm, activation="relu"))
            previous = w
        # more full-resolution blocks after the first (3x3, stride 1): the fine corrections of
        # a fill are local, and learned best at full resolution (experiments/inpaint)
        self.stem = nn.ModuleList(PartialConvNormAct(full_width, full_width, 3, 1, 1, norm=norm, activation="relu")
                                  for _ in range(full_depth - 1))
        self.decoder = nn.ModuleList()
        for i in reversed(range(len(levels) - 1)):  # from the bottleneck up
            self.decoder.append(PartialConvNormAct(widths[i + 1] + widths[i], widths[i], 3, 1, 1, norm=norm,
                                                   activation="leaky_relu", negative_slope=0.2))
        self.decoder.append(PartialConvNormAct(widths[0] + channels, channels, 3, 1, 1, norm="none",
                                               activation="sigmoid" if fill == "none" else "none",
                                               bias=True))
        for m in self.modules():
            if isinstance(m, PartialConvNormAct):
                nn.init.kaiming_normal_(m.weight, a=0.2 if m.activation == "leaky_relu" else 0.0,
                                        nonlinearity="leaky_relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if fill != "none":  # start from the fill itself: the network learns its corrections
            nn.init.zeros_(self.decoder[-1].weight)

    @property
    def multiple(self) -> int:
        """The side multiple :meth:`forward` needs (``2**depth``); :meth:`inpaint` pads to it."""
        return 2 ** self.depth

    def forward(self, image: torch.Tensor, valid: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
        """The network's prediction of every pixel, (N, channels, H, W).

        ``image``: (N, channels, H, W) float, H and W multiples of :attr:`multiple`; its values
        under the holes are never read. ``valid``: (N, 1, H, W) or (N, channels, H, W), nonzero
        (or True) where the pixel is **known**; a per-channel mask's first channel is the mask
        input of ``fill="biharmonic"``. With that fill the prediction is the fill plus the
        network's correction. ``fill``: that fill (:func:`smooth_fill` of ``image`` and
        ``valid``) when the caller has it already (a training loss that compares with it);
        None: computed here. Train on this output; :meth:`inpaint` is the method for users
        (missing-pixel masks, any size, known pixels kept).
        """
        _check_image(image, "image", self.channels, batch=True)
        h, w = image.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(f"image height and width must be multiples of {self.multiple} (2**depth), "
                             f"got {h}x{w}; inpaint() pads any size")
        mask = _check_mask(valid, "valid", image).to(image.dtype)
        features = [(image, mask)]
        x, m = image, mask
        filled = None
        if self.fill == "biharmonic":
            filled = smooth_fill(image, mask) if fill is None else fill
            if filled.shape != image.shape:
                raise ValueError(f"fill must have the image's shape {tuple(image.shape)}, got {tuple(filled.shape)}")
            ones = torch.ones_like(mask[:, :1])
            x = torch.cat([image, filled, mask[:, :1]], 1)
            m = torch.cat([mask.expand(-1, self.channels, -1, -1), ones.expand(-1, self.channels + 1, -1, -1)], 1)
        for i, block in enumerate(self.encoder):
            x, m = block(x, m)
            if i == 0:  # the rest of the full-resolution level
                for extra in self.stem:
                    x, m = extra(x, m)
            features.append((x, m))
        for block, (skip, skip_mask) in zip(self.decoder, reversed(features[:-1])):
            if skip.shape[-1] != x.shape[-1]:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                m = F.interpolate(m, scale_factor=2, mode="nearest")
            joined = torch.cat([m.expand(-1, x.shape[1], -1, -1),
                                skip_mask.expand(-1, skip.shape[1], -1, -1)], 1)
            x, m = block(torch.cat([x, skip], 1), joined)
        if filled is not None:  # the correction applies to the holes only, near known pixels
            corrected = mask <= 0
            if self.reach is not None:
                corrected = corrected & near_known(mask, self.reach)
            x = torch.where(corrected, filled + x, filled)
        return x

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fill the missing pixels of ``image``; returns a tensor of its shape and dtype.

        Args:
            image: one image (C, H, W) or a batch (N, C, H, W), float, values in [0, 1], any
                height and width (padded internally to a multiple of ``2**depth``, the padding
                counted as missing, and cropped back).
            mask: True (or nonzero) where a pixel is **missing**: (N, 1, H, W) or (N, C, H, W)
                for a batch, (1, H, W), (C, H, W) or (H, W) for one image; bool, integer or
                float. A per-channel mask marks channels missing separately.

        The known pixels are returned unchanged (bit for bit); the missing ones are the
        network's prediction, clamped to [0, 1]. Runs without gradients, in the model's
        current mode (:func:`fusegen.load` returns it in eval mode).
        """
        _check_image(image, "image", self.channels, batch=False)
        batch = image if image.dim() == 4 else image[None]
        missing = _check_mask(_as_batch_mask(mask, image), "mask", batch).ne(0)
        h, w = batch.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        parameter = next(self.parameters())
        x = batch.to(parameter.dtype)
        valid = (~missing).to(parameter.dtype)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
            valid = F.pad(valid, (0, pad_w, 0, pad_h))  # the padding is missing
        x = torch.where(valid > 0, x, torch.zeros((), dtype=x.dtype, device=x.device))
        with torch.no_grad():
            predicted = self(x, valid)[..., :h, :w].clamp(0, 1).to(batch.dtype)
            out = torch.where(missing, predicted, batch)
        return out if image.dim() == 4 else out[0]


def _check_image(image: object, name: str, channels: int, batch: bool) -> None:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a float tensor with values in [0, 1], got {image.dtype}")
    dims = (4,) if batch else (3, 4)
    if image.dim() not in dims or image.shape[-3] != channels:
        shapes = f"(N, {channels}, H, W)" if batch else f"({channels}, H, W) or (N, {channels}, H, W)"
        raise ValueError(f"{name} must have shape {shapes} for this {channels}-channel model, "
                         f"got {tuple(image.shape)}")
    if image.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(image.shape)}")


def _as_batch_mask(mask: object, image: torch.Tensor) -> object:
    """A one-image mask, (H, W) or (1|C, H, W), as a batch of one; a batch's mask unchanged."""
    if not isinstance(mask, torch.Tensor) or image.dim() == 4:
        return mask
    if mask.dim() == 2:
        return mask[None, None]
    if mask.dim() == 3:
        return mask[None]
    raise ValueError(f"mask must have shape (H, W), (1, H, W) or ({image.shape[0]}, H, W) for an "
                     f"image of shape {tuple(image.shape)}, got {tuple(mask.shape)}")


def _check_mask(mask: object, name: str, image: torch.Tensor) -> torch.Tensor:
    check_mask_layout(mask, name, image, "image")
    if mask.is_complex():
        raise TypeError(f"{name} must be bool, integer or float, got {mask.dtype}")
    return mask
