"""``PartialConvNormAct``: a partial (masked) convolution -> BatchNorm/InstanceNorm -> activation."""

from __future__ import annotations

import torch

from ..ops.conv_bias_act import aten_convolution, check_convolution
from ..ops.partial_conv import keep_valid, mask_counts, partial_bias_act
from .conv_norm_act import FusedConvNormAct
from .norm_act import normalize_and_activate


class PartialConvNormAct(FusedConvNormAct):
    """A partial convolution block (Liu et al. 2018) on fusegen's fused operators: it convolves
    only the valid pixels of its input, rescales each output by ``window / valid inputs``,
    adds the bias, then normalizes and activates; outputs that no valid input reached are holes
    (0 before the normalization) and stay marked as such in the returned mask.

    ``block(input, mask) -> (output, new_mask)``:

    * ``input``: (N, C_in, H, W).
    * ``mask``: (N, 1, H, W) or (N, C_in, H, W), bool or float, **nonzero where the input is
      valid** (the paper's convention; :meth:`fusegen.models.InpaintingUNet.inpaint` takes the
      opposite, "1 = missing", as users mark holes). Values under a hole are never read, so
      NaN or garbage there does not leak into the output.
    * ``new_mask``: (N, 1, H', W'), the mask's dtype: valid where any valid input reached the
      window.

    Arguments are those of :class:`FusedConvNormAct` (``norm``, ``activation``, ``bias``,
    ``track_running_stats``, ...) for a ``Conv2d`` (no transposed or grouped convolution). The
    convolutions (of the input, and of the mask for the counts) are ATen's; the rescale, hole,
    bias and activation are one fused pass (``fusegen::partial_bias_act``) and, with a norm,
    the normalization and activation are ``norm_act``'s fused passes.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, *,
                 transposed: bool = False, groups: int = 1, **kwargs) -> None:
        if transposed:
            raise ValueError("transposed must be False: a partial convolution is a Conv2d "
                             "(upsample the input and mask instead)")
        if groups != 1:
            raise ValueError(f"groups must be 1 for a partial convolution, got {groups}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, **kwargs)

    def forward(self, input: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_convolution(input, self.weight, self.bias, self.groups, self.transposed)
        valid = _valid_pixels(mask, input)
        x = keep_valid(input, valid)
        y = aten_convolution(x, self.weight, None, self.stride, self.padding, self.dilation, 1, False, 0)
        count, window = mask_counts(valid, self.kernel_size, self.stride, self.padding, self.dilation)
        new_mask = (count > 0).to(mask.dtype)
        if self.norm == "none":
            out = partial_bias_act(y, count, self.bias, window=window, activation=self.activation,
                                   negative_slope=self.negative_slope)
            return out, new_mask
        z = partial_bias_act(y, count, self.bias, window=window, activation="none")
        return normalize_and_activate(self, z, self.norm_weight, self.norm_bias), new_mask

    def extra_repr(self) -> str:
        return "partial, " + super().extra_repr()


def check_mask_layout(mask: object, name: str, image: torch.Tensor, image_name: str) -> None:
    """``mask`` a tensor of shape (N, 1, H, W) or (N, C, H, W) on ``image``'s device, else an
    error naming ``name`` and what was expected (the dtype rules are the caller's)."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    n, c, h, w = image.shape
    if mask.dim() != 4 or mask.shape[0] != n or mask.shape[1] not in (1, c) or mask.shape[2:] != image.shape[2:]:
        raise ValueError(f"{name} must have shape ({n}, 1, {h}, {w}) or ({n}, {c}, {h}, {w}) to match "
                         f"the {image_name}, got {tuple(mask.shape)}")
    if mask.device != image.device:
        raise ValueError(f"{name} must be on the {image_name}'s device ({image.device}), got {mask.device}")


def _valid_pixels(mask: object, input: torch.Tensor) -> torch.Tensor:
    """The mask as a bool tensor that broadcasts over the input's channels."""
    check_mask_layout(mask, "mask", input, "input")
    if mask.dtype != torch.bool and not (mask.is_floating_point() or mask.dtype == torch.uint8):
        raise TypeError(f"mask must be bool, uint8 or float, got {mask.dtype}")
    return mask if mask.dtype == torch.bool else mask != 0
