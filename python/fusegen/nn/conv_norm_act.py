"""``FusedConvNormAct``: Conv2d/ConvTranspose2d -> BatchNorm/InstanceNorm -> activation, fused."""

from __future__ import annotations

import torch
from torch import nn

from ..ops.activations import ACTIVATIONS, activation_of_module
from ..ops.conv_bias_act import (ONEDNN_FROM, aten_convolution, check_convolution, conv_bias_act,
                                 conv_output_numel)
from ..ops.conv_norm_act import NORMS
from .norm_act import normalize_and_activate

# Output values from which eval mode folds the normalization into the convolution: the fold
# pays for itself together with the one-call convolution of conv_bias_act.
FOLD_FROM = ONEDNN_FROM


class FusedConvNormAct(nn.Module):
    """A Conv -> Norm -> Activation block computed by fusegen's fused operators.

    Returns what ``nn.Sequential(conv, norm, act)`` returns, in train and eval mode, with the same
    gradients and running statistics, and draws its initial weights exactly as ``nn.Conv2d`` /
    ``nn.ConvTranspose2d`` do (same seed, same values).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, output_padding, dilation, groups:
            as in ``nn.Conv2d``, or ``nn.ConvTranspose2d`` when ``transposed=True``.
        bias: a convolution bias; ``None`` (default) means one only when ``norm="none"``.
        norm: ``"batch"`` (``nn.BatchNorm2d``), ``"instance"`` (``nn.InstanceNorm2d``) or
            ``"none"``.
        track_running_stats: as in the torch normalization modules; ``None`` (default) takes
            their defaults: True for ``"batch"``, False for ``"instance"``. With running
            statistics, training updates them (``momentum``; ``None`` is a cumulative average for
            batch norm and, as in torch, no update for instance norm) and eval mode normalizes
            with them; without, every call uses the statistics of its input.
        activation: ``"relu"``, ``"leaky_relu"`` (``negative_slope``), ``"tanh"``, ``"sigmoid"``,
            ``"silu"``, ``"relu6"``, ``"hardswish"``, ``"gelu"`` (the exact, erf form), ``"elu"``
            (``negative_slope`` is its alpha) or ``"none"``.
        eps, momentum, affine: as in the torch normalization modules.

    Parameters and buffers: ``weight``, ``bias`` (the convolution's), ``norm_weight``,
    ``norm_bias``, ``running_mean``, ``running_var``, ``num_batches_tracked`` (the last three
    with running statistics only).

    How it runs: the convolution is ATen's (oneDNN / cuDNN). With input statistics, they take
    one pass and normalize + activate another; backward fuses the activation's and the
    normalization's gradients into two passes. In eval mode with running statistics and no
    autograd, the normalization is folded into the convolution (from ``FOLD_FROM`` output
    values; smaller maps run ATen's convolution, batch norm and the activation in place, as
    eager does); on CPU (float32, and bfloat16 where oneDNN supports it) the bias and activation
    run in oneDNN's convolution epilogue, elsewhere in a single pass after the convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, *,
                 transposed: bool = False, output_padding=0, dilation=1, groups: int = 1,
                 bias: bool | None = None, norm: str = "batch", activation: str = "relu",
                 negative_slope: float = 0.2, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        if bias is None:
            bias = norm == "none"
        factory = {"device": device, "dtype": dtype}
        # Build the torch convolution to take its argument checks and its initialization.
        if transposed:
            conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding,
                                      output_padding, groups, bias, dilation, **factory)
        else:
            if output_padding not in (0, (0, 0)):
                raise ValueError("output_padding is only meaningful with transposed=True")
            conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
                             groups, bias, **factory)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.dilation, self.groups, self.transposed = conv.dilation, groups, transposed
        self.output_padding = conv.output_padding
        self.norm, self.activation = norm, activation
        self.negative_slope, self.eps, self.momentum = float(negative_slope), eps, momentum
        self.affine = affine and norm != "none"
        self.weight = conv.weight
        self.bias = conv.bias
        if self.affine:
            self.norm_weight = nn.Parameter(torch.ones(out_channels, **factory))
            self.norm_bias = nn.Parameter(torch.zeros(out_channels, **factory))
        else:
            self.register_parameter("norm_weight", None)
            self.register_parameter("norm_bias", None)
        if track_running_stats is None:
            track_running_stats = norm == "batch"
        self.track_running_stats = bool(track_running_stats) and norm != "none"
        if self.track_running_stats:
            self.register_buffer("running_mean", torch.zeros(out_channels, **factory))
            self.register_buffer("running_var", torch.ones(out_channels, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    @classmethod
    def from_modules(cls, conv: nn.Module, norm: nn.Module | None = None,
                     act: nn.Module | None = None) -> FusedConvNormAct:
        """A block with the parameter and buffer values (and mode) of ``conv``, ``norm``, ``act``.

        ``conv``: ``nn.Conv2d`` or ``nn.ConvTranspose2d`` with ``padding_mode="zeros"``.
        ``norm``: ``nn.BatchNorm2d``, ``nn.InstanceNorm2d`` (with or without running statistics,
        affine or not), or ``None`` / ``nn.Identity``. ``act``: ``nn.ReLU``, ``nn.LeakyReLU``, ``nn.Tanh``,
        ``nn.Sigmoid``, ``nn.SiLU``, ``nn.ReLU6``, ``nn.Hardswish``, ``nn.GELU()`` (not
        ``approximate="tanh"``), ``nn.ELU``, or ``None`` / ``nn.Identity``.
        """
        if type(conv) not in (nn.Conv2d, nn.ConvTranspose2d):
            raise TypeError(f"conv must be an nn.Conv2d or nn.ConvTranspose2d, got {type(conv).__name__}")
        if conv.padding_mode != "zeros":
            raise ValueError(f"conv.padding_mode must be 'zeros', got {conv.padding_mode!r}")
        norm_name = norm_kind(norm)
        if norm_name is None:
            raise TypeError("norm must be an nn.BatchNorm2d, nn.InstanceNorm2d, nn.Identity or None, "
                            f"got {type(norm).__name__}")
        act_row = activation_of_module(act)
        if act_row is None:
            raise TypeError("act must be an nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.SiLU, "
                            "nn.ReLU6, nn.Hardswish, nn.GELU (approximate='none'), nn.ELU, "
                            f"nn.Identity or None, got {type(act).__name__}")
        transposed = isinstance(conv, nn.ConvTranspose2d)
        norm_args = {}
        if norm_name != "none":
            norm_args = {"eps": norm.eps, "momentum": norm.momentum, "affine": norm.affine,
                         "track_running_stats": norm.track_running_stats}
        block = cls(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            transposed=transposed, output_padding=conv.output_padding if transposed else 0,
            dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None, norm=norm_name,
            activation=act_row.name,
            negative_slope=act_row.slope_of(act),
            device=conv.weight.device, dtype=conv.weight.dtype, **norm_args,
        )
        with torch.no_grad():
            block.weight.copy_(conv.weight)
            if conv.bias is not None:
                block.bias.copy_(conv.bias)
            if block.norm_weight is not None:
                block.norm_weight.copy_(norm.weight)
                block.norm_bias.copy_(norm.bias)
            if block.track_running_stats:
                block.running_mean.copy_(norm.running_mean)
                block.running_var.copy_(norm.running_var)
                block.num_batches_tracked.copy_(norm.num_batches_tracked)
        block.train(conv.training)
        return block

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        conv_args = {"stride": self.stride, "padding": self.padding, "dilation": self.dilation,
                     "groups": self.groups, "transposed": self.transposed,
                     "output_padding": self.output_padding}
        if self.norm == "none":
            return conv_bias_act(input, self.weight, self.bias, activation=self.activation,
                                 negative_slope=self.negative_slope, **conv_args)
        if self._folds(input, conv_args):
            weight, bias = self.folded_parameters()
            return conv_bias_act(input, weight, bias, activation=self.activation,
                                 negative_slope=self.negative_slope, **conv_args)
        check_convolution(input, self.weight, self.bias, self.groups, self.transposed)
        y = aten_convolution(input, self.weight, self.bias, **conv_args)
        return normalize_and_activate(self, y, self.norm_weight, self.norm_bias)

    def _needs_autograd(self, input: torch.Tensor) -> bool:
        return torch.is_grad_enabled() and (
            input.requires_grad or any(p.requires_grad for p in self.parameters())
        )

    def _folds(self, input: torch.Tensor, conv_args: dict) -> bool:
        """Whether this call folds the normalization into the convolution: eval mode with
        running statistics, no autograd, and a map large enough that one convolution call with
        the bias and activation in its epilogue repays computing the folded weights (which are
        not cached: a cache cannot see edits through ``.data``, and the fold costs a few
        microseconds beside a convolution of that size)."""
        if self.training or not self.track_running_stats or self._needs_autograd(input):
            return False
        if input.dim() != 4 or isinstance(conv_args["padding"], str):
            return True  # conv_bias_act gives the clear error or takes ATen's convolution
        return conv_output_numel(input, self.weight, **conv_args) >= FOLD_FROM

    def folded_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolution weight and bias with the eval-mode normalization (running
        statistics and affine parameters) folded in, computed from the current values."""
        if not self.track_running_stats:
            raise RuntimeError("folded_parameters needs running statistics (track_running_stats)")
        with torch.no_grad():
            return fold_batch_norm(self.weight, self.bias, self.norm_weight, self.norm_bias,
                                   self.running_mean, self.running_var, self.eps, self.transposed,
                                   self.groups)

    def extra_repr(self) -> str:
        kind = "ConvTranspose2d" if self.transposed else "Conv2d"
        s = (f"{kind}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, padding={self.padding}")
        if self.transposed and any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        s += f", bias={self.bias is not None}), norm={self.norm!r}"
        if self.norm != "none":
            s += f", eps={self.eps}, affine={self.affine}"
        if self.track_running_stats:
            s += f", momentum={self.momentum}"
        if self.track_running_stats != (self.norm == "batch"):
            s += f", track_running_stats={self.track_running_stats}"
        s += f", activation={self.activation!r}"
        if ACTIVATIONS[self.activation].has_slope:  # LeakyReLU's slope, ELU's alpha
            s += f", negative_slope={self.negative_slope}"
        return s


def fold_batch_norm(weight, bias, norm_weight, norm_bias, running_mean, running_var, eps,
                    transposed: bool, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Convolution weight and bias that compute ``batch_norm_eval(conv(x))`` in one convolution."""
    scale = torch.rsqrt(running_var + eps)
    if norm_weight is not None:
        scale = scale * norm_weight
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias * scale
    if norm_bias is not None:
        shift = shift + norm_bias
    if transposed:  # (C_in, C_out / groups, kh, kw): output channel g * (C_out / groups) + j
        c_in, per_group = weight.shape[:2]
        w = weight.reshape(groups, c_in // groups, per_group, *weight.shape[2:])
        w = w * scale.reshape(groups, 1, per_group, 1, 1).to(weight.dtype)
        folded = w.reshape(weight.shape)
    else:
        folded = weight * scale.reshape(-1, 1, 1, 1).to(weight.dtype)
    return folded, shift.to(weight.dtype)


def norm_kind(module: nn.Module | None) -> str | None:
    """``"batch"``, ``"instance"`` or ``"none"`` for a torch norm module; None if unsupported."""
    if module is None or type(module) is nn.Identity:
        return "none"
    if type(module) is nn.BatchNorm2d:
        return "batch"
    if type(module) is nn.InstanceNorm2d:
        return "instance"
    return None


def activation_kind(module: nn.Module | None) -> str | None:
    """The fused block's name for a torch activation module; None if unsupported."""
    row = activation_of_module(module)
    return row.name if row is not None else None
