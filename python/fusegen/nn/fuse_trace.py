"""Which modules ``fuse()`` may merge, and the Conv -> Norm -> Activation chains that a custom
``forward`` builds from a module's attributes, found by tracing the model with ``torch.fx``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import torch.fx
from torch import nn

from .conv_norm_act import FusedConvNormAct, activation_kind, norm_kind
from .norm_act import FusedNormAct


def fusable_conv(module: nn.Module) -> bool:
    return type(module) in (nn.Conv2d, nn.ConvTranspose2d) and module.padding_mode == "zeros"


def fusable_norm(module: nn.Module, conv: nn.Module) -> bool:
    """A BatchNorm2d or InstanceNorm2d (any affine / running-statistics setting) over the
    convolution's output channels."""
    return norm_kind(module) in ("batch", "instance") and module.num_features == conv.out_channels


def fusable_standalone_norm(module: nn.Module) -> bool:
    """A BatchNorm2d or InstanceNorm2d that can open a fused Norm -> Act block (FusedNormAct)."""
    return norm_kind(module) in ("batch", "instance")


def fusable_activation(module: nn.Module) -> bool:
    return type(module) is not nn.Identity and activation_kind(module) is not None


class _Tracer(torch.fx.Tracer):
    """Keeps fused blocks (already placed by the nn.Sequential pass) as single calls."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (FusedConvNormAct, FusedNormAct)) or super().is_leaf_module(m, qualname)


# (parent, conv name, norm name, activation name); conv None for a Norm -> Act run.
Run = tuple[nn.Module, "str | None", "str | None", "str | None"]


def find_called_runs(model: nn.Module) -> tuple[list[Run], str | None]:
    """(parent, conv name, norm name or None, activation name or None) for every chain
    ``act(norm(conv(x)))`` -- or ``norm(conv(x))``, ``act(conv(x))``, and (parent, None, norm
    name, activation name) for ``act(norm(x))`` with no convolution before -- in the traced forward
    of ``model`` whose modules are children of one parent, each called exactly once, each
    output used only by the next call; and why tracing failed (None if it did not). No runs
    when ``model`` cannot be traced."""
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # noqa: BLE001 -- any tracing failure means: no call order to rely on
        return [], f"{type(exc).__name__}: {exc}".splitlines()[0]
    return list(_runs_in(graph, model)), None


def _runs_in(graph: torch.fx.Graph, model: nn.Module) -> Iterator[Run]:
    modules = dict(model.named_modules())
    calls = [n for n in graph.nodes if n.op == "call_module"]
    times_called = Counter(n.target for n in calls)

    def only_call_on(node: torch.fx.Node, accept) -> torch.fx.Node | None:
        """The single user of node's output, if it is a once-called module of the same parent
        that takes just that output and passes `accept`."""
        if len(node.users) != 1:
            return None
        (user,) = node.users
        if user.op != "call_module" or user.args != (node,) or user.kwargs or times_called[user.target] != 1:
            return None
        if _parent_name(user.target) != _parent_name(node.target) or not accept(modules[user.target]):
            return None
        return user

    in_conv_runs = set()
    for node in calls:
        if times_called[node.target] != 1 or not fusable_conv(modules[node.target]):
            continue
        if len(node.args) != 1 or node.kwargs:
            continue
        conv = modules[node.target]
        norm = only_call_on(node, lambda m, conv=conv: fusable_norm(m, conv))
        act = only_call_on(norm if norm is not None else node, fusable_activation)
        if norm is None and act is None:
            continue
        if norm is not None:
            in_conv_runs.add(norm.target)
        parent_name = _parent_name(node.target)
        yield (modules[parent_name], _child_name(node.target),
               _child_name(norm.target) if norm is not None else None,
               _child_name(act.target) if act is not None else None)
    # Norm -> Act with no convolution before the norm (pre-activation blocks): conv name None.
    for node in calls:
        if node.target in in_conv_runs or times_called[node.target] != 1:
            continue
        if not fusable_standalone_norm(modules[node.target]) or len(node.args) != 1 or node.kwargs:
            continue
        act = only_call_on(node, fusable_activation)
        if act is not None:
            yield (modules[_parent_name(node.target)], None, _child_name(node.target),
                   _child_name(act.target))


def _parent_name(qualname: str) -> str:
    return qualname.rpartition(".")[0]


def _child_name(qualname: str) -> str:
    return qualname.rpartition(".")[2]
