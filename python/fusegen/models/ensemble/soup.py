"""Model soups: one model whose parameters are the weighted average of same-architecture models'
parameters (Wortsman et al. 2022)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ...ops import weighted_sum
from .weights import normalize_weights


def check_states(models: Sequence[nn.Module], name: str = "models") -> list[dict[str, torch.Tensor]]:
    """The models' state dicts, after checking that they have one architecture."""
    if not models:
        raise ValueError(f"{name} must hold at least one model, got none")
    first = models[0]
    for k, m in enumerate(models):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name}[{k}] must be a torch.nn.Module, got {type(m).__name__}")
        if type(m) is not type(first):
            raise ValueError(f"a soup needs one architecture: {name}[{k}] is a {type(m).__name__}, "
                             f"{name}[0] a {type(first).__name__}")
        config, config0 = getattr(m, "config", None), getattr(first, "config", None)
        if isinstance(config, Mapping) and isinstance(config0, Mapping) and dict(config) != dict(config0):
            key = next(k2 for k2 in sorted(set(config) | set(config0)) if config.get(k2) != config0.get(k2))
            raise ValueError(f"a soup needs one architecture: {name}[{k}] has {key}={config.get(key)!r}, "
                             f"{name}[0] has {key}={config0.get(key)!r}")
    states = [m.state_dict() for m in models]
    keys0 = list(states[0])
    if not keys0:
        raise ValueError(f"a soup averages parameters, and {name}[0] ({type(first).__name__}) has none")
    for k, state in enumerate(states[1:], start=1):
        if list(state) != keys0:
            missing = [key for key in keys0 if key not in state]
            extra = [key for key in state if key not in states[0]]
            what = (f"lacks {missing[0]!r}" if missing else f"has an extra {extra[0]!r}") if (
                missing or extra) else "orders its entries differently"
            raise ValueError(f"a soup needs one architecture: {name}[{k}] {what} (compared with {name}[0])")
        for key in keys0:
            a, b = states[0][key], state[key]
            if a.shape != b.shape:
                raise ValueError(f"a soup needs one architecture: {name}[{k}][{key!r}] has shape "
                                 f"{tuple(b.shape)}, {name}[0] has {tuple(a.shape)}")
            if a.dtype != b.dtype:
                raise ValueError(f"{name}[{k}][{key!r}] is {b.dtype}, {name}[0] has {a.dtype}: "
                                 f"convert the models to one dtype first")
    return states


def average_states(states: list[dict[str, torch.Tensor]], w: torch.Tensor, name: str = "models"
                    ) -> dict[str, torch.Tensor]:
    """Weighted average of state dicts: floats by the fused weighted sum (differentiable in w),
    integer buffers (BatchNorm's ``num_batches_tracked``) as the rounded weighted mean, booleans
    kept when all members agree."""
    out = {}
    for key, first in states[0].items():
        values = [s[key] for s in states]
        if first.is_floating_point():
            out[key] = weighted_sum(values, w.to(device=first.device))
        elif first.dtype == torch.bool:
            if any(not torch.equal(v, first) for v in values[1:]):
                raise ValueError(f"{name} disagree on the boolean buffer {key!r}: it cannot be averaged")
            out[key] = first.clone()
        elif first.is_complex():
            raise TypeError(f"{name}' entry {key!r} is complex ({first.dtype}): not supported")
        else:
            mean = sum(float(wk) * v.double() for wk, v in zip(w.detach().cpu(), values))
            out[key] = mean.round().to(first.dtype)
    return out


def soup(models: Sequence[nn.Module], weights: object = None) -> nn.Module:
    """One model whose parameters and floating-point buffers are the weighted average of
    ``models``' (a "model soup", Wortsman et al. 2022).

    Args:
        models: K modules of one class, configuration, and state-dict keys and shapes
            (otherwise ``ValueError`` naming the first difference).
        weights: K numbers >= 0 (normalised to sum 1), or None for the uniform soup.

    Integer buffers (BatchNorm's ``num_batches_tracked``) become the rounded weighted mean. The
    result is a copy of ``models[0]`` with the averaged state, in its train/eval mode. Average
    models fine-tuned from one initialisation: independently initialised networks do not align.
    """
    states = check_states(list(models))
    w = normalize_weights(weights, len(states))
    model = copy.deepcopy(models[0])
    with torch.no_grad():
        averaged = average_states(states, w.float())
    model.load_state_dict(averaged)
    return model


class MethodModule(nn.Module):
    """Calls one method of a module as its forward, so that torch.func.functional_call can run a
    soup's ``restore``/``denoise`` with the averaged (differentiable) parameters."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args, **kwargs):
        return getattr(self.module, self.method)(*args, **kwargs)


