"""``fuse(model)``: replace Conv -> Norm -> Activation runs of a model with ``FusedConvNormAct``."""

from __future__ import annotations

import copy
import functools

from torch import nn

from .conv_norm_act import FusedConvNormAct, activation_kind, norm_kind

_NORM_KEYS = {"weight": "norm_weight", "bias": "norm_bias", "running_mean": "running_mean",
              "running_var": "running_var", "num_batches_tracked": "num_batches_tracked"}


def fuse(model: nn.Module, inplace: bool = False) -> nn.Module:
    """The model with every fusable Conv -> Norm -> Activation run replaced by one block.

    A run is consecutive children of an ``nn.Sequential`` (at any depth of the model): an
    ``nn.Conv2d`` or ``nn.ConvTranspose2d``, then optionally an ``nn.BatchNorm2d`` (with running
    statistics) or ``nn.InstanceNorm2d`` (without), then optionally an ``nn.ReLU``,
    ``nn.LeakyReLU``, ``nn.Tanh``, ``nn.Sigmoid`` or ``nn.SiLU`` -- at least one of the two.
    Modules called from a custom ``forward`` are not rewritten (their call order is not known
    without tracing); put such blocks in an ``nn.Sequential`` or use ``FusedConvNormAct``.

    The fused model returns the same outputs and gradients and keeps the parameter values,
    running statistics and train/eval mode. ``inplace=False`` (default) leaves ``model`` as it
    was and works on a deep copy.

    state_dict keys: the block takes the convolution's place and the norm and activation
    become ``nn.Identity`` placeholders, so no other key moves. For a run at ``seq.i``:
    ``seq.i.weight`` / ``seq.i.bias`` keep their names; ``seq.{i+1}.weight``, ``.bias``,
    ``.running_mean``, ``.running_var``, ``.num_batches_tracked`` become ``seq.i.norm_weight``,
    ``seq.i.norm_bias``, ``seq.i.running_mean``, ``seq.i.running_var``,
    ``seq.i.num_batches_tracked``. ``load_state_dict`` on the fused model accepts either form:
    a state_dict saved from the original model is renamed on the way in.
    """
    if not inplace:
        model = copy.deepcopy(model)
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            _fuse_sequential(module)
    return model


def _fuse_sequential(seq: nn.Sequential) -> None:
    children = list(seq._modules.items())
    renames: dict[str, str] = {}
    i = 0
    while i < len(children):
        name, conv = children[i]
        if type(conv) not in (nn.Conv2d, nn.ConvTranspose2d) or conv.padding_mode != "zeros":
            i += 1
            continue
        norm = act = None
        run = [name]
        nxt = children[i + 1][1] if i + 1 < len(children) else None
        if nxt is not None and _fusable_norm(nxt):
            norm = nxt
            run.append(children[i + 1][0])
            nxt = children[i + 2][1] if i + 2 < len(children) else None
        if nxt is not None and type(nxt) is not nn.Identity and activation_kind(nxt) is not None:
            act = nxt
            run.append(children[i + len(run)][0])
        if len(run) == 1:
            i += 1
            continue
        seq._modules[name] = FusedConvNormAct.from_modules(conv, norm, act)
        for other in run[1:]:
            seq._modules[other] = nn.Identity()
        if norm is not None:
            norm_name = run[1]
            for old, new in _NORM_KEYS.items():
                renames[f"{norm_name}.{old}"] = f"{name}.{new}"
        i += len(run)
    if renames:
        seq._register_load_state_dict_pre_hook(functools.partial(_rename_keys, renames))


def _fusable_norm(module: nn.Module) -> bool:
    kind = norm_kind(module)
    if kind == "batch":
        return module.track_running_stats
    if kind == "instance":
        return not module.track_running_stats
    return False


def _rename_keys(renames: dict[str, str], state_dict, prefix, *_args) -> None:
    """A load_state_dict pre-hook: keys of the unfused model -> keys of the fused one."""
    for old, new in renames.items():
        if prefix + old in state_dict and prefix + new not in state_dict:
            state_dict[prefix + new] = state_dict.pop(prefix + old)
