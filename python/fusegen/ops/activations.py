"""The activations of the fused operators: one table that every layer reads.

Each row names an activation and says how every part of fusegen spells it: the code of the
operators' ``int activation`` (the ``Activation`` enum in ``csrc/common/activation.h``, the one
C++ definition; a test checks that the codes agree), the torch module and function that compute
it eagerly, and the post-op that oneDNN's fused convolution takes for it.

    >>> ACTIVATIONS["leaky_relu"].code
    2
    >>> activation("silu").onednn_post_op
    'swish'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ACTIVATIONS", "Activation", "activation", "activation_code", "activation_of_module"]


@dataclass(frozen=True)
class Activation:
    """One activation, as each layer spells it."""

    name: str  # fusegen's name, e.g. "leaky_relu"
    code: int  # the operators' `int activation` (csrc/common/activation.h)
    module: type[nn.Module]  # the torch module; constructed with the slope when it has one
    function: Callable[[torch.Tensor, float], torch.Tensor]  # eager twin: function(t, slope)
    # The "attr" of torch.ops.mkldnn._convolution_pointwise; None where oneDNN's post-op does
    # not give torch's numbers, and the activation runs after the convolution instead.
    onednn_post_op: str | None
    # The module attribute that the operators' `negative_slope` argument carries: LeakyReLU's
    # negative_slope, ELU's alpha; None for activations without a parameter.
    slope_attribute: str | None = None
    inplace: Callable[[torch.Tensor, float], torch.Tensor] | None = None  # in-place twin
    # Extra condition on a module of `module`'s class (GELU: only the exact, erf form).
    accepts: Callable[[nn.Module], bool] | None = None

    @property
    def has_slope(self) -> bool:
        return self.slope_attribute is not None

    def slope_of(self, module: nn.Module | None) -> float:
        """The operators' ``negative_slope`` argument for a module of this activation."""
        return float(getattr(module, self.slope_attribute)) if self.has_slope else 0.2

    def make_module(self, negative_slope: float = 0.2) -> nn.Module:
        """The torch module computing this activation (``negative_slope`` where it has one)."""
        return self.module(negative_slope) if self.has_slope else self.module()

    def onednn_scalars(self, negative_slope: float) -> list[float]:
        """The post-op's scalar arguments (the ``scalars`` of the oneDNN operators)."""
        return [float(negative_slope)] if self.has_slope else []

    def __call__(self, t: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
        return self.function(t, negative_slope)

    def apply_in_place(self, t: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
        """This activation of ``t``, written over ``t`` where torch has an in-place form (so
        ``t`` must not be needed afterwards, by autograd or the caller)."""
        return self.inplace(t, negative_slope) if self.inplace is not None else self(t, negative_slope)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("none", 0, nn.Identity, lambda t, s: t, "none"),
        # oneDNN's ReLU post-op turns NaN into 0; torch's ReLU keeps NaN.
        Activation("relu", 1, nn.ReLU, lambda t, s: F.relu(t), None, inplace=lambda t, s: t.relu_()),
        Activation("leaky_relu", 2, nn.LeakyReLU, lambda t, s: F.leaky_relu(t, s), "leaky_relu",
                   slope_attribute="negative_slope"),
        Activation("tanh", 3, nn.Tanh, lambda t, s: torch.tanh(t), "tanh"),
        Activation("sigmoid", 4, nn.Sigmoid, lambda t, s: torch.sigmoid(t), "sigmoid"),
        Activation("silu", 5, nn.SiLU, lambda t, s: F.silu(t), "swish"),
        Activation("relu6", 6, nn.ReLU6, lambda t, s: F.relu6(t), None,
                   inplace=lambda t, s: F.relu6(t, inplace=True)),
        Activation("hardswish", 7, nn.Hardswish, lambda t, s: F.hardswish(t), None,
                   inplace=lambda t, s: F.hardswish(t, inplace=True)),
        Activation("gelu", 8, nn.GELU, lambda t, s: F.gelu(t), None,
                   accepts=lambda m: m.approximate == "none"),
        Activation("elu", 9, nn.ELU, lambda t, s: F.elu(t, s), None, slope_attribute="alpha",
                   inplace=lambda t, s: F.elu(t, s, inplace=True)),
    )
}

_BY_MODULE = {a.module: a for a in ACTIVATIONS.values()}


def activation(name: str) -> Activation:
    """The table's row for ``name``; ``ValueError`` for an unknown name."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {name!r}") from None


def activation_code(name: str) -> int:
    """The operator code of an activation name; ``ValueError`` for an unknown name."""
    return activation(name).code


def activation_of_module(module: nn.Module | None) -> Activation | None:
    """The row of a torch activation module (``None`` counts as ``"none"``); None if unsupported.

    Only the exact classes of the table count (a subclass may compute something else).
    """
    if module is None:
        return ACTIVATIONS["none"]
    row = _BY_MODULE.get(type(module))
    if row is not None and row.accepts is not None and not row.accepts(module):
        return None
    return row
