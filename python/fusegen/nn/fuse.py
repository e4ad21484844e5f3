"""``fuse(model)``: replace Conv -> Norm -> Activation runs of a model with ``FusedConvNormAct``."""

from __future__ import annotations

import copy
import functools

from torch import nn

from .conv_norm_act import FusedConvNormAct
from .fuse_report import FusedRun, FuseReport, left_layers
from .fuse_trace import (find_called_runs, fusable_activation, fusable_conv, fusable_norm,
                         fusable_standalone_norm)
from .norm_act import FusedNormAct

_NORM_KEYS = {"weight": "norm_weight", "bias": "norm_bias", "running_mean": "running_mean",
              "running_var": "running_var", "num_batches_tracked": "num_batches_tracked"}


def fuse(model: nn.Module, inplace: bool = False, report: bool = False):
    """The model with every fusable Conv -> Norm -> Activation run replaced by one block.

    A run is an ``nn.Conv2d`` or ``nn.ConvTranspose2d`` (``padding_mode="zeros"``), then
    optionally an ``nn.BatchNorm2d`` or ``nn.InstanceNorm2d`` over its output channels (affine or
    not, with or without running statistics), then optionally an ``nn.ReLU``, ``nn.LeakyReLU``,
    ``nn.Tanh``, ``nn.Sigmoid``, ``nn.SiLU``, ``nn.ReLU6``, ``nn.Hardswish``, ``nn.GELU()`` or
    ``nn.ELU`` (``inplace`` or not) -- at least one of the two. Other activations (PReLU, Mish,
    tanh-approximated GELU, ...) stay as they are, after a fused Conv -> Norm block.
    A norm + activation pair with no convolution before it (pre-activation blocks: Norm -> Act
    -> Conv) becomes a :class:`~fusegen.nn.FusedNormAct`, which keeps the norm's parameter names.
    Runs are found
      - as consecutive children of an ``nn.Sequential`` (at any depth of the model), and
      - among attributes of one module that its custom ``forward`` calls in a chain
        (``self.act(self.norm(self.conv(x)))``), found by tracing the model with ``torch.fx``:
        each of the three is called once, and each output feeds only the next one. A model that
        ``torch.fx`` cannot trace (control flow on tensor values, ...) keeps those runs unfused.

    The fused model returns the same outputs and gradients and keeps the parameter values,
    running statistics and train/eval mode. ``inplace=False`` (default) leaves ``model`` as it
    was and works on a deep copy.

    state_dict keys: the block takes the convolution's place and the norm and activation
    become ``nn.Identity`` placeholders, so no other key moves. For a run at ``seq.i``:
    ``seq.i.weight`` / ``seq.i.bias`` keep their names; ``seq.{i+1}.weight``, ``.bias``,
    ``.running_mean``, ``.running_var``, ``.num_batches_tracked`` become ``seq.i.norm_weight``,
    ``seq.i.norm_bias``, ``seq.i.running_mean``, ``seq.i.running_var``,
    ``seq.i.num_batches_tracked``; likewise for attributes ``conv``, ``norm``, ``act`` of one
    module: ``norm.weight`` becomes ``conv.norm_weight`` and so on, ``norm`` and ``act`` become
    ``nn.Identity``. ``load_state_dict`` on the fused model accepts either form:
    a state_dict saved from the original model is renamed on the way in.

    ``report=True`` returns ``(fused_model, report)``: a :class:`~fusegen.nn.FuseReport` listing
    each fused block and each normalization layer left unfused, with the reason (``print`` it).
    """
    if not inplace:
        model = copy.deepcopy(model)
    fused: list[FusedRun] = []
    for prefix, module in list(model.named_modules()):
        if isinstance(module, nn.Sequential):
            fused += _fuse_sequential(module, prefix)
    paths = {module: name for name, module in model.named_modules()}
    runs, trace_error = find_called_runs(model)
    renames_by_parent: dict[nn.Module, dict[str, str]] = {}
    for parent, conv_name, norm_name, act_name in runs:
        fused.append(_fused_run(parent, paths[parent], conv_name, norm_name, act_name))
        if conv_name is None:
            _replace_norm_act(parent, norm_name, act_name)
            continue
        renames_by_parent.setdefault(parent, {}).update(
            _replace_run(parent, conv_name, norm_name, act_name))
    for parent, renames in renames_by_parent.items():
        if renames:
            parent._register_load_state_dict_pre_hook(functools.partial(_rename_keys, renames))
    if report:
        return model, FuseReport(fused, left_layers(model, trace_error), trace_error)
    return model


def _fused_run(parent: nn.Module, parent_path: str, conv_name: str | None, norm_name: str | None,
               act_name: str | None) -> FusedRun:
    """The report's record of a run, taken before the run is replaced."""
    names = [name for name in (conv_name, norm_name, act_name) if name is not None]
    layers = tuple(type(parent._modules[name]).__name__ for name in names)
    return FusedRun(f"{parent_path}.{names[0]}" if parent_path else names[0], layers)


def _replace_norm_act(parent: nn.Module, norm_name: str, act_name: str) -> None:
    """A FusedNormAct in the norm's place (same parameter and buffer names: no key moves) and
    nn.Identity in the activation's."""
    modules = parent._modules
    modules[norm_name] = FusedNormAct.from_modules(modules[norm_name], modules[act_name])
    modules[act_name] = nn.Identity()


def _fuse_sequential(seq: nn.Sequential, prefix: str) -> list[FusedRun]:
    children = list(seq._modules.items())
    renames: dict[str, str] = {}
    fused = []
    i = 0
    while i < len(children):
        name, conv = children[i]
        nxt = children[i + 1] if i + 1 < len(children) else None
        if fusable_standalone_norm(conv) and nxt is not None and fusable_activation(nxt[1]):
            fused.append(_fused_run(seq, prefix, None, name, nxt[0]))
            _replace_norm_act(seq, name, nxt[0])
            i += 2
            continue
        if not fusable_conv(conv):
            i += 1
            continue
        norm = act = None
        run = [name]
        nxt = children[i + 1][1] if i + 1 < len(children) else None
        if nxt is not None and fusable_norm(nxt, conv):
            norm = nxt
            run.append(children[i + 1][0])
            nxt = children[i + 2][1] if i + 2 < len(children) else None
        if nxt is not None and fusable_activation(nxt):
            act = nxt
            run.append(children[i + len(run)][0])
        if len(run) == 1:
            i += 1
            continue
        norm_name = run[1] if norm is not None else None
        act_name = run[-1] if act is not None else None
        fused.append(_fused_run(seq, prefix, name, norm_name, act_name))
        renames.update(_replace_run(seq, name, norm_name, act_name))
        i += len(run)
    if renames:
        seq._register_load_state_dict_pre_hook(functools.partial(_rename_keys, renames))
    return fused


def _replace_run(parent: nn.Module, conv_name: str, norm_name: str | None,
                 act_name: str | None) -> dict[str, str]:
    """Puts the fused block in the convolution's place and nn.Identity in the others'.

    Returns the state_dict renames (relative to ``parent``) from the unfused model's keys.
    """
    modules = parent._modules
    norm = modules[norm_name] if norm_name is not None else None
    act = modules[act_name] if act_name is not None else None
    modules[conv_name] = FusedConvNormAct.from_modules(modules[conv_name], norm, act)
    for other in (norm_name, act_name):
        if other is not None:
            modules[other] = nn.Identity()
    if norm_name is None:
        return {}
    return {f"{norm_name}.{old}": f"{conv_name}.{new}" for old, new in _NORM_KEYS.items()}


def _rename_keys(renames: dict[str, str], state_dict, prefix, *_args) -> None:
    """A load_state_dict pre-hook: keys of the unfused model -> keys of the fused one."""
    for old, new in renames.items():
        if prefix + old in state_dict and prefix + new not in state_dict:
            state_dict[prefix + new] = state_dict.pop(prefix + old)
