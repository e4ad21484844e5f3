"""Partial-convolution blocks of an inpainting U-Net (Liu et al. 2018 at laptop scale), for
``fusegen bench partial-conv``: :class:`fusegen.nn.PartialConvNormAct` against the eager
formulation a user writes (``fusegen.ops.reference.partial_conv_norm_act``: the convolution of
the masked input, a second convolution of the mask for the counts, the rescale, the bias, the
hole, then ``nn.BatchNorm2d`` and the activation), training forward + backward."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..nn.partial_conv import PartialConvNormAct
from ..ops import reference


@dataclass(frozen=True)
class PartialConvCase:
    name: str
    batch: int
    in_channels: int
    out_channels: int
    size: int
    kernel: int
    stride: int
    norm: str
    activation: str

    def input(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        """An input and a mask (True = valid) with about a quarter of the pixels missing."""
        g = torch.Generator().manual_seed(0)
        x = torch.randn(self.batch, self.in_channels, self.size, self.size, generator=g)
        mask = torch.rand(self.batch, 1, self.size, self.size, generator=g) > 0.25
        return x.to(device), mask.to(device)

    def models(self, device) -> tuple[PartialConvNormAct, tuple[nn.Module, nn.Module | None, nn.Module]]:
        """The fused block and the eager modules, with the same weights."""
        torch.manual_seed(0)
        pad = self.kernel // 2
        fused = PartialConvNormAct(self.in_channels, self.out_channels, self.kernel, self.stride, pad,
                                   norm=self.norm, activation=self.activation, bias=self.norm == "none")
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel, self.stride, pad,
                         bias=self.norm == "none")
        with torch.no_grad():
            conv.weight.copy_(fused.weight)
            if conv.bias is not None:
                conv.bias.copy_(fused.bias)
        norm = nn.BatchNorm2d(self.out_channels) if self.norm == "batch" else None
        act = nn.ReLU() if self.activation == "relu" else nn.LeakyReLU(0.2)
        eager = (conv.to(device), norm.to(device) if norm is not None else None, act.to(device))
        return fused.to(device), eager


CASES = (
    PartialConvCase("encoder 1: 3->32, 7x7/s2, 128px, no norm, ReLU", 8, 3, 32, 128, 7, 2, "none", "relu"),
    PartialConvCase("encoder 3: 64->128, 3x3/s2, 32px, BN, ReLU", 8, 64, 128, 32, 3, 2, "batch", "relu"),
    PartialConvCase("middle: 64->64, 3x3, 64px, BN, ReLU", 8, 64, 64, 64, 3, 1, "batch", "relu"),
    PartialConvCase("decoder: 96->32, 3x3, 64px, BN, LeakyReLU", 8, 96, 32, 64, 3, 1, "batch", "leaky_relu"),
)


def train_steps(case: PartialConvCase, device) -> dict:
    """Forward + backward of the fused block and of the eager formulation on the same input."""
    x, mask = case.input(device)
    fused, (conv, norm, act) = case.models(device)
    x = x.requires_grad_()
    grad = torch.randn_like(fused(x, mask)[0])

    def fused_step():
        out, _ = fused(x, mask)
        out.backward(grad)

    def eager_step():
        out, _ = reference.partial_conv_norm_act(x, mask, conv, norm, act)
        out.backward(grad)

    return {"fusegen": fused_step, "eager formulation": eager_step}
