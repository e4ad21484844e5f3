"""What the trainer needs from each kind of model: the base class of the training tasks."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .distributed import Distributed
from .ema import EMA


class Task:
    """One model kind's training step, validation metric and sample images.

    The trainer owns the loop, data, devices, checkpoints and early stopping; a task owns its
    model, optimizers, loss and (for generators) the EMA copy. Subclasses set ``kind``,
    ``metric`` (name of the validation metric) and ``higher_is_better``, and implement
    :meth:`setup`, :meth:`step`, :meth:`validate`; :meth:`samples` when they make images.
    """

    kind = ""
    metric = ""
    higher_is_better = False

    def __init__(self, model: nn.Module, lr: float) -> None:
        self.model, self.lr = model, lr
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.ema: EMA | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.device = torch.device("cpu")
        self.amp = False
        # Fine-tuning (fusegen.transfer): names (in ``model``) of the parameters loaded from a
        # pre-trained checkpoint, and their learning rate (None: ``lr``).
        self.pretrained: frozenset[str] = frozenset()
        self.backbone_lr: float | None = None

    def make_sample_grid(self, num_classes: int | None, latent_dim: int, grid_seed: int,
                         grid_size: int) -> None:
        """Fix the latent points (and labels, one row per class) of the grids saved in training.

        They come from their own generator, so the training RNG is left untouched and the grids
        show the same points improving. Sets ``grid_z``, ``grid_labels`` and ``grid_row``.
        """
        g = torch.Generator().manual_seed(grid_seed)
        if num_classes:
            per_class = max(1, grid_size // num_classes)
            self.grid_labels = torch.arange(num_classes).repeat_interleave(per_class)
            self.grid_row = per_class
        else:
            self.grid_labels, self.grid_row = None, None
        n = len(self.grid_labels) if self.grid_labels is not None else grid_size
        self.grid_z = torch.randn(n, latent_dim, generator=g)

    def setup(self, device: torch.device, dist: Distributed, amp: bool) -> None:
        """Move the model to ``device``, wrap what trains in DDP, make the optimizers."""
        self.device, self.amp = device, amp
        self.model.to(device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp)

    def optimizer_params(self, module: nn.Module, lr: float | None = None):
        """What ``module``'s optimizer trains: all its parameters, or in a fine-tune (frozen
        blocks, or ``backbone_lr`` set) :func:`fusegen.transfer.param_groups`' groups, the new
        layers at ``lr`` (default: the task's)."""
        params = list(module.parameters())
        if self.backbone_lr is None and all(p.requires_grad for p in params):
            return params
        from ..transfer import param_groups

        prefix = next(name for name, m in self.model.named_modules() if m is module)
        prefix = prefix + "." if prefix else ""
        names = {n[len(prefix):] for n in self.pretrained if n.startswith(prefix)}
        return param_groups(module, self.lr if lr is None else lr, self.backbone_lr, names)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        raise NotImplementedError

    @torch.no_grad()
    def validate(self, data: Any) -> float:
        raise NotImplementedError

    def samples(self) -> tuple[torch.Tensor, int] | None:
        """Images in [0, 1] for the progress grid and the grid's row length, or None."""
        return None

    def export_model(self) -> nn.Module:
        """The model as users get it: the EMA weights in place of the live ones, if any."""
        return self.model

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
