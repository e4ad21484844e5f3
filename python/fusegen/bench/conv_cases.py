"""The Conv -> Norm -> Activation blocks the benchmarks time, and the models compared on them.

Shared by ``fusegen bench conv`` and the repository's pytest-benchmark suite
benchmarks/bench_norm_act.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from fusegen.nn import FusedConvNormAct


@dataclass(frozen=True)
class Case:
    name: str
    transposed: bool
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    pixels: int  # input height = width
    batch: int
    activation: str

    def eager(self, device: str | torch.device = "cpu") -> nn.Sequential:
        torch.manual_seed(0)
        conv_cls = nn.ConvTranspose2d if self.transposed else nn.Conv2d
        conv = conv_cls(self.in_channels, self.out_channels, self.kernel, self.stride,
                        self.padding, bias=False)
        act = nn.ReLU() if self.activation == "relu" else nn.LeakyReLU(0.2)
        return nn.Sequential(conv, nn.BatchNorm2d(self.out_channels), act).to(device)

    def input(self, device: str | torch.device = "cpu") -> torch.Tensor:
        return torch.randn(self.batch, self.in_channels, self.pixels, self.pixels).to(device)


CASES = [
    Case("dcgan-gen ConvT4x4/s2 128->64 16->32px +BN+ReLU", True, 128, 64, 4, 2, 1, 16, 64, "relu"),
    Case("dcgan-disc Conv4x4/s2 64->128 32->16px +BN+LReLU", False, 64, 128, 4, 2, 1, 32, 64, "leaky_relu"),
    Case("dncnn Conv3x3 64->64 40px +BN+ReLU", False, 64, 64, 3, 1, 1, 40, 16, "relu"),
]


def fused(model: nn.Sequential) -> FusedConvNormAct:
    return FusedConvNormAct.from_modules(*model)


def fold_eval(model: nn.Sequential) -> nn.Sequential:
    """torch's own inference fusion: BN folded into the convolution, then the activation."""
    m = copy.deepcopy(model).eval()
    return nn.Sequential(fuse_conv_bn_eval(m[0], m[1], transpose=isinstance(m[0], nn.ConvTranspose2d)), m[2])


def train_step(model: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    out = model(x)
    out.backward(grad)


def variants(case: Case, mode: str, with_compile: bool,
             device: str | torch.device = "cpu") -> dict[str, nn.Module]:
    """The models timed for one case: 'train' (forward + backward) or 'eval' (no grad)."""
    base = case.eager(device)
    models = {"eager": base, "fusegen": fused(base)}
    if mode == "eval":
        models["fuse_conv_bn_eval+act"] = fold_eval(base)
    if with_compile:
        models["torch.compile"] = torch.compile(copy.deepcopy(base))
    for m in models.values():
        m.train(mode == "train")
    return models
