"""Exponential moving average of a model's weights (Polyak averaging of the generator)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..ops.weighted_sum import weighted_sum

METHODS = ("weighted_sum", "foreach")


class EMA:
    """A frozen copy of ``model`` whose parameters track ``decay * ema + (1 - decay) * current``.

    Args:
        model: the module to average (e.g. a GAN's generator).
        decay: the averaging factor. Early on the effective decay is
            ``min(decay, (1 + updates) / (10 + updates))``, so a short run is not dominated by
            the random initial weights.
        method: ``"foreach"`` (default) uses ``torch._foreach_lerp_`` over all parameters in
            one call; ``"weighted_sum"`` updates each parameter with fusegen's fused weighted-sum
            operator in place, ``weighted_sum([ema, p], [d, 1 - d], out=ema)``, one call per
            tensor. On a DCGAN generator (11 tensors, 1.1 M values, 2-core CPU) one foreach call
            took 0.66x the time of the 11 weighted-sum calls (`fusegen bench ema` times both).
    Buffers (batch-norm running statistics) are copied from the model, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, method: str = "foreach") -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.decay, self.method, self.updates = decay, method, 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        ema_params = [p for p in self.module.parameters()]
        params = [p.detach() for p in model.parameters()]
        if self.method == "foreach":
            torch._foreach_lerp_(ema_params, params, 1.0 - d)
        else:
            weights = torch.tensor([d, 1.0 - d], dtype=torch.float32)
            by_device: dict[tuple, torch.Tensor] = {}
            for e, p in zip(ema_params, params):
                key = (p.device, p.dtype)
                if key not in by_device:
                    by_device[key] = weights.to(device=p.device, dtype=p.dtype)
                weighted_sum([e, p], by_device[key], out=e)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates, self.decay = int(state["updates"]), float(state["decay"])
