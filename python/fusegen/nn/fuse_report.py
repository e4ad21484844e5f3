"""What ``fuse(model, report=True)`` fused and what it left, with the reason for each layer left."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..tables import format_table
from .conv_norm_act import FusedConvNormAct, activation_kind, norm_kind

# The normalization layers a user may expect fuse() to take: torch's norm modules.
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
# Activation modules that could end a block but have no fused kernel.
_ACTIVATION_TYPES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
                     nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Tanh,
                     nn.Sigmoid, nn.Softplus)


@dataclass(frozen=True)
class FusedRun:
    """One fused block: where it sits and the layers it replaced."""

    path: str                 # the block's qualified name (the convolution's old place)
    layers: tuple[str, ...]   # e.g. ("Conv2d", "InstanceNorm2d", "ReLU")


@dataclass(frozen=True)
class LeftLayer:
    """A normalization (or activation) layer still computed by PyTorch, and why."""

    path: str
    layer: str
    reason: str


@dataclass
class FuseReport:
    """The coverage of one ``fuse()`` call: ``fused`` blocks and ``left`` layers with reasons.

    ``print(report)`` shows both as tables; ``report.norms_left`` counts the normalization
    layers that still run unfused (0 means every one was fused).
    """

    fused: list[FusedRun] = field(default_factory=list)
    left: list[LeftLayer] = field(default_factory=list)
    trace_error: str | None = None

    @property
    def norms_fused(self) -> int:
        return sum(any(layer in _NORM_NAMES for layer in run.layers) for run in self.fused)

    @property
    def norms_left(self) -> int:
        return sum(entry.layer in _NORM_NAMES for entry in self.left)

    def __str__(self) -> str:
        total = self.norms_fused + self.norms_left
        lines = [f"fused {len(self.fused)} blocks; {self.norms_fused} of {total} normalization "
                 f"layers fused, {self.norms_left} left"]
        if self.fused:
            lines.append(format_table(["fused block", "layers"],
                                      [[run.path, " -> ".join(run.layers)] for run in self.fused]))
        if self.left:
            lines.append(format_table(["left", "layer", "why"],
                                      [[e.path, e.layer, e.reason] for e in self.left]))
        if self.trace_error:
            lines.append(f"torch.fx could not trace the model's forward: {self.trace_error}")
        return "\n\n".join(lines)


_NORM_NAMES = frozenset(cls.__name__ for cls in (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.InstanceNorm1d,
    nn.InstanceNorm2d, nn.InstanceNorm3d, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm))


def left_layers(model: nn.Module, trace_error: str | None) -> list[LeftLayer]:
    """Every normalization layer of the (fused) ``model`` and every activation right after a
    fused block that still run in PyTorch, with the reason each was not fused."""
    left = []
    for parent_path, parent in model.named_modules():
        previous = None  # the last child before this one, past fuse()'s nn.Identity placeholders
        for name, child in parent._modules.items():
            path = f"{parent_path}.{name}" if parent_path else name
            if isinstance(child, _NORM_TYPES):
                reason = _why_norm_left(child, parent, previous, trace_error)
                left.append(LeftLayer(path, type(child).__name__, reason))
            elif (isinstance(previous, FusedConvNormAct) and previous.activation == "none"
                  and isinstance(child, _ACTIVATION_TYPES) and activation_kind(child) is None):
                left.append(LeftLayer(path, type(child).__name__,
                                      f"no fused kernel for {type(child).__name__}: it runs "
                                      "after the fused block"))
            if isinstance(parent, nn.Sequential) and type(child) is not nn.Identity:
                previous = child
    return left


def _why_norm_left(norm: nn.Module, parent: nn.Module, previous: nn.Module | None,
                   trace_error: str | None) -> str:
    name = type(norm).__name__
    if norm_kind(norm) not in ("batch", "instance"):
        return f"no fused kernel for {name} (BatchNorm2d and InstanceNorm2d have one)"
    if isinstance(parent, nn.Sequential):
        if previous is None:
            return "first layer of its nn.Sequential: no convolution right before it"
        if type(previous) in (nn.Conv2d, nn.ConvTranspose2d):
            if previous.padding_mode != "zeros":
                return (f"its convolution pads with padding_mode={previous.padding_mode!r} "
                        "(only 'zeros' is fused)")
            if previous.out_channels != norm.num_features:
                return (f"num_features={norm.num_features} differs from the convolution's "
                        f"out_channels={previous.out_channels}")
        return f"follows {type(previous).__name__}, not a Conv2d or ConvTranspose2d"
    if trace_error is not None:
        return "called from a forward that torch.fx cannot trace"
    return ("its input is not the output of a Conv2d / ConvTranspose2d of the same module, "
            "called once and used only by it")
