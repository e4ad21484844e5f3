"""``FusedNormAct``: BatchNorm2d/InstanceNorm2d -> activation with no convolution before it (the
Norm -> Act of pre-activation blocks), and the norm + activation step it shares with
``FusedConvNormAct``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops.activations import ACTIVATIONS, activation_of_module
from ..ops.norm_act import norm_act

# Batch norm outputs (N*C*H*W values) below which ATen's batch norm + activation beat the fused
# passes in training (forward + backward), measured on a 2-core Intel Xeon at 2 threads: with no
# activation to fuse, the fused passes do what ATen's batch norm does and win only from about
# 2^19 values (0.88x at 2^20, 1.37x at 2^14); with an activation they win from about 2^15
# (0.86x at 2^16, 1.12x at 2^14). Instance norm has no threshold: the fused passes beat ATen's
# instance norm at every size measured (0.45x-0.93x).
EAGER_BATCH_NORM_BELOW = 1 << 19
EAGER_BATCH_NORM_ACT_BELOW = 1 << 15


def eager_batch_norm_below(activation: str) -> int:
    """Outputs of fewer values than this take ATen's batch norm + activation (not under
    torch.compile, which traces the fused operators)."""
    if torch.compiler.is_compiling():
        return 0
    return EAGER_BATCH_NORM_BELOW if activation == "none" else EAGER_BATCH_NORM_ACT_BELOW


def normalize_and_activate(block: nn.Module, y: torch.Tensor, weight: torch.Tensor | None,
                           bias: torch.Tensor | None) -> torch.Tensor:
    """``act(norm(y))`` with ``block``'s normalization settings (``norm``, ``eps``, ``momentum``,
    ``track_running_stats`` and its buffers, ``activation``, ``negative_slope``, train/eval
    mode) and the affine ``weight`` and ``bias``: torch's BatchNorm2d / InstanceNorm2d semantics,
    running statistics updated in training."""
    momentum = block.momentum
    if block.track_running_stats and block.training and block.norm == "batch":
        block.num_batches_tracked.add_(1)
        if momentum is None:  # a cumulative moving average, as torch's BatchNorm
            momentum = 1.0 / float(block.num_batches_tracked)
    # momentum None for instance norm: its running statistics stay put, as torch's InstanceNorm.
    momentum = 0.0 if momentum is None else momentum
    use_input_stats = block.training or not block.track_running_stats
    if block.norm == "batch" and y.numel() < eager_batch_norm_below(block.activation):
        z = F.batch_norm(y, block.running_mean, block.running_var, weight, bias, use_input_stats,
                         momentum, block.eps)
        # In place is safe: batch norm's backward needs its input, not its output.
        return ACTIVATIONS[block.activation].apply_in_place(z, block.negative_slope)
    return norm_act(y, weight, bias, block.running_mean, block.running_var,
                    training=use_input_stats, instance=block.norm == "instance",
                    momentum=momentum, eps=block.eps, activation=block.activation,
                    negative_slope=block.negative_slope)


class FusedNormAct(nn.Module):
    """``nn.Sequential(norm, act)`` for a BatchNorm2d or InstanceNorm2d and an activation, in the
    fused norm + activation passes: what ``fuse()`` puts in place of a Norm -> Act pair that no
    convolution precedes (BN -> ReLU -> Conv pre-activation blocks).

    Same outputs, gradients and running statistics as the two torch modules in train and eval
    mode. Parameters and buffers have the norm's names (``weight``, ``bias``, ``running_mean``,
    ``running_var``, ``num_batches_tracked``), so a state_dict of the norm loads as it is.
    Build one with :meth:`from_modules`.
    """

    def __init__(self, num_features: int, norm: str = "batch", activation: str = "relu", *,
                 negative_slope: float = 0.2, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        if norm not in ("batch", "instance"):
            raise ValueError(f"norm must be 'batch' or 'instance', got {norm!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        torch_norm = nn.BatchNorm2d if norm == "batch" else nn.InstanceNorm2d
        if track_running_stats is None:
            track_running_stats = norm == "batch"
        # Built to take torch's argument checks and its parameters and buffers as they are.
        source = torch_norm(num_features, eps, momentum, affine, track_running_stats,
                            device=device, dtype=dtype)
        self.num_features, self.norm, self.activation = num_features, norm, activation
        self.negative_slope, self.eps, self.momentum = float(negative_slope), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight, self.bias = source.weight, source.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, getattr(source, name))

    @classmethod
    def from_modules(cls, norm: nn.Module, act: nn.Module | None = None) -> FusedNormAct:
        """A block with the values (and mode) of ``norm`` (``nn.BatchNorm2d`` or
        ``nn.InstanceNorm2d``) and ``act`` (``nn.ReLU``, ``nn.LeakyReLU``, ``nn.Tanh``,
        ``nn.Sigmoid``, ``nn.SiLU``, ``nn.ReLU6``, ``nn.Hardswish``, ``nn.GELU()``, ``nn.ELU``, or
        ``None`` / ``nn.Identity``)."""
        if type(norm) not in (nn.BatchNorm2d, nn.InstanceNorm2d):
            raise TypeError(f"norm must be an nn.BatchNorm2d or nn.InstanceNorm2d, got {type(norm).__name__}")
        row = activation_of_module(act)
        if row is None:
            raise TypeError("act must be an nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.SiLU, "
                            "nn.ReLU6, nn.Hardswish, nn.GELU (approximate='none'), nn.ELU, "
                            f"nn.Identity or None, got {type(act).__name__}")
        tensors = [t for t in (norm.weight, norm.running_mean) if t is not None]
        factory = {"device": tensors[0].device, "dtype": tensors[0].dtype} if tensors else {}
        block = cls(norm.num_features, "batch" if type(norm) is nn.BatchNorm2d else "instance",
                    row.name, negative_slope=row.slope_of(act),
                    eps=norm.eps, momentum=norm.momentum, affine=norm.affine,
                    track_running_stats=norm.track_running_stats, **factory)
        block.load_state_dict(norm.state_dict())
        return block.train(norm.training)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() != 4:
            raise ValueError(f"input must have shape (N, C, H, W), got {tuple(input.shape)}")
        return normalize_and_activate(self, input, self.weight, self.bias)

    def extra_repr(self) -> str:
        kind = "BatchNorm2d" if self.norm == "batch" else "InstanceNorm2d"
        s = (f"{kind}({self.num_features}, eps={self.eps}, momentum={self.momentum}, "
             f"affine={self.affine}, track_running_stats={self.track_running_stats}), "
             f"activation={self.activation!r}")
        if ACTIVATIONS[self.activation].has_slope:  # LeakyReLU's slope, ELU's alpha
            s += f", negative_slope={self.negative_slope}"
        return s
