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
# The smooth fill's iterations: harmonic (Jacobi) steps from the pyramid fill, then damped Jacobi
# steps of the biharmonic equation. On the held-out photographs (experiments/inpaint) these
# reach scikit-image's inpaint_biharmonic on scattered pixels (38.18 dB) and pass it on strokes
# and boxes (26.69 and 25.14 dB against 26.14 and 24.19); 50 or 100 biharmonic steps changed the
# scores by < 0.05 dB.
HARMONIC_STEPS, BIHARMONIC_STEPS, BIHARMONIC_DAMPING = 10, 20, 0.5


def pyramid_fill(image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """A fast, parameter-free fill of the holes (push-pull, Gortler et al. 1996): the image and
    its mask are averaged down a pyramid of 2x2 blocks (known pixels only) until no hole is
    left, and each level's holes take the bilinear enlargement of the level below.

    ``image``: (N, C, H, W); ``valid``: (N, 1 or C, H, W) float, 1 where a pixel is known.
    Returns the image with its holes filled (its known pixels as they were).
    """
    if min(image.shape[-2:]) <= 1 or bool((valid > 0).all()):
        return image
    known = torch.where(valid > 0, image, torch.zeros((), dtype=image.dtype, device=image.device))
    total = F.avg_pool2d(known, 2, ceil_mode=True)
    weight = F.avg_pool2d(valid, 2, ceil_mode=True)
    coarse = pyramid_fill(total / weight.clamp(min=1e-6), (weight > 0).to(valid.dtype))
    enlarged = F.interpolate(coarse, size=image.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where(valid > 0, image, enlarged)


def smooth_fill(image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """A smooth fill of the holes, close to biharmonic inpainting (scikit-image's
    ``inpaint_biharmonic``) at a small part of its cost: :func:`pyramid_fill`, then
    :data:`HARMONIC_STEPS` Jacobi steps of Laplace's equation and :data:`BIHARMONIC_STEPS`
    damped Jacobi steps of the biharmonic equation in the holes (the known pixels fixed, the
    image's edges mirrored by replication). Small holes converge; the middle of large ones
    keeps much of the pyramid's fill. Same arguments and result as :func:`pyramid_fill`.
    """
    known = valid > 0
    u = pyramid_fill(image, valid)
    if bool(known.all()):
        return u

    def shifted(p: torch.Tensor, pad: int, dy: int, dx: int) -> torch.Tensor:
        h, w = p.shape[-2] - 2 * pad, p.shape[-1] - 2 * pad
        return p[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w]

    for _ in range(HARMONIC_STEPS):
        p = F.pad(u, (1, 1, 1, 1), mode="replicate")
        average = 0.25 * (shifted(p, 1, -1, 0) + shifted(p, 1, 1, 0) + shifted(p, 1, 0, -1) + shifted(p, 1, 0, 1))
        u = torch.where(known, image, average)
    for _ in range(BIHARMONIC_STEPS):  # the 13-point stencil of the biharmonic operator, solved for the centre
        p = F.pad(u, (2, 2, 2, 2), mode="replicate")
        edges = shifted(p, 2, -1, 0) + shifted(p, 2, 1, 0) + shifted(p, 2, 0, -1) + shifted(p, 2, 0, 1)
        corners = shifted(p, 2, -1, -1) + shifted(p, 2, -1, 1) + shifted(p, 2, 1, -1) + shifted(p, 2, 1, 1)
        far = shifted(p, 2, -2, 0) + shifted(p, 2, 2, 0) + shifted(p, 2, 0, -2) + shifted(p, 2, 0, 2)
        centre = (8 * edges - 2 * corners - far) / 20
        u = torch.where(known, image, u + BIHARMONIC_DAMPING * (centre - u))
    return u


class InpaintingUNet(nn.Module):
    """A U-Net of :class:`~fusegen.nn.PartialConvNormAct` blocks in the style of Liu et al.,
    "Image Inpainting for Irregular Holes Using Partial Convolutions" (2018), that fills the
    missing pixels of grey or colour images.

    Encoder: an optional full-resolution level (a partial convolution of stride 1), then
    ``depth`` partial convolutions of stride 2, ReLU; level ``i`` of those has
    ``width * 2**min(i, 3)`` channels. The first block is 5x5 and not normalized, the others
    3x3 and normalized. Decoder: at each level the features and their mask are upsampled (nearest) and
    concatenated with the encoder's features and mask at that scale, then a 3x3 partial
    convolution, normalization and LeakyReLU(0.2); the last block sees the input image and its
    mask too and predicts ``channels`` values, without normalization. The holes shrink at every
    block (a window with a valid input becomes valid).

    With ``fill="biharmonic"`` (the default) the network starts from :func:`smooth_fill`, a
    parameter-free fill of the holes close to biharmonic inpainting: it sees that fill and the
    mask as two more input channels (always valid) and its last block adds a correction to the
    fill (linear, initialized to zero: an untrained model returns the fill). A hole that no
    block reaches keeps the fill. With ``fill="none"`` it is Liu et al.'s network alone, which
    predicts the pixels through a sigmoid.

    Args:
        channels: 1 (grey) or 3 (colour) image channels.
        width: channels of the first stride-2 level (the deeper ones double it, up to 8x).
        depth: number of stride-2 levels (at least 1). Images are padded internally to a
            multiple of ``2**depth``.
        norm: ``"batch"`` (Liu et al.), ``"instance"`` or ``"none"``.
        full_width: channels of the full-resolution level; None: ``width``; 0: no such level
            (Liu et al.'s layout, which starts at half resolution).
        fill: ``"biharmonic"`` or ``"none"``, see above.

    Use :meth:`inpaint` (mask = True where a pixel is **missing**; known pixels come back
    unchanged). ``model(image, valid)`` is the raw network for training: the prediction of
    every pixel, known ones included, from ``valid`` (1 = **known**, the partial convolution's
    convention).
    """

    kind = "inpaint"

    def __init__(self, channels: int = 1, width: int = 16, depth: int = 5, norm: str = "batch",
                 full_width: int | None = None, fill: str = "biharmonic") -> None:
        super().__init__()
        full_width = width if full_width is None else full_width
        for name, value, low in (("channels", channels, 1), ("width", width, 1), ("depth", depth, 1),
                                 ("full_width", full_width, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")
        self.config = dict(channels=channels, width=width, depth=depth, norm=norm, full_width=full_width,
                           fill=fill)
        self.channels, self.depth = channels, depth
        self.fill = fill
        self.channels, self.depth = channels, depth
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

    def forward(self, image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The network's prediction of every pixel, (N, channels, H, W).

        ``image``: (N, channels, H, W) float, H and W multiples of :attr:`multiple`; its values
        under the holes are never read. ``valid``: (N, 1, H, W) or (N, channels, H, W), nonzero
        (or True) where the pixel is **known**; a per-channel mask's first channel is the mask
        input of ``fill="biharmonic"``. With that fill the prediction is the fill plus the
        network's correction. Train on this output; :meth:`inpaint` is the method for users
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
            filled = smooth_fill(image, mask)
            ones = torch.ones_like(mask[:, :1])
            x = torch.cat([image, filled, mask[:, :1]], 1)
            m = torch.cat([mask.expand(-1, self.channels, -1, -1), ones.expand(-1, self.channels + 1, -1, -1)], 1)
        for block in self.encoder:
            x, m = block(x, m)
            features.append((x, m))
        for block, (skip, skip_mask) in zip(self.decoder, reversed(features[:-1])):
            if skip.shape[-1] != x.shape[-1]:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
                m = F.interpolate(m, scale_factor=2, mode="nearest")
            joined = torch.cat([m.expand(-1, x.shape[1], -1, -1),
                                skip_mask.expand(-1, skip.shape[1], -1, -1)], 1)
            x, m = block(torch.cat([x, skip], 1), joined)
        if filled is not None:
            x = x + filled
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
