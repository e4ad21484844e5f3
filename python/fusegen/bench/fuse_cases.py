"""The cases of ``fusegen bench fuse``: :func:`fusegen.nn.fuse` on users' networks.

Each case is one :mod:`client model <fusegen.bench.client_models>`, a batch, an image size and a
mode -- ``"train"`` (forward + backward with a fixed upstream gradient; the parameters' gradients
set to None before each step, as ``optimizer.zero_grad()`` does) or ``"eval"`` (forward under
``torch.inference_mode()``) -- timed as ``fusegen`` (``fuse(model)``), ``eager`` (the model
itself) and, with ``compile=True``, ``torch.compile`` of the model. Every variant starts from the
same weights (one seeded build; ``fuse`` and the compiled variant work on copies).

:data:`DEFAULT_CASES` covers batch 1 to 64 and 32 to 256 px in a few minutes on a 2-core CPU;
:func:`full_grid` is every model at every batch and size, in both modes (hours on a CPU).
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from fusegen.nn import fuse

from .client_models import CLIENT_MODELS, build

# The models' configurations timed by default: the published ones where a CPU affords them,
# half width where it does not (the case names say which).
BENCH_OPTIONS: dict[str, dict[str, Any]] = {
    "resnet_generator": {"width": 32, "blocks": 6},
    "unet_generator": {"width": 32, "num_downs": 6},
    "patchgan_discriminator": {"width": 64, "layers": 3},
    "preact_resnet": {"width": 32},
    "dncnn": {"width": 64, "depth": 17},
    "vgg_discriminator": {"width": 64},
}

MODES = ("train", "eval")


@dataclass
class FuseCase:
    """One client model (a :data:`~fusegen.bench.client_models.CLIENT_MODELS` name built with
    ``options``) at ``batch`` x ``size`` x ``size`` in ``mode`` ("train" or "eval")."""

    model: str
    batch: int
    size: int
    mode: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in CLIENT_MODELS:
            raise ValueError(f"model must be one of {tuple(CLIENT_MODELS)}, got {self.model!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

    @property
    def name(self) -> str:
        options = ", ".join(f"{k} {v}" for k, v in self.options.items())
        return f"{self.model}{f' ({options})' if options else ''}, batch {self.batch}, {self.size}px"

    def input(self, device: str | torch.device = "cpu") -> torch.Tensor:
        """A seeded standard-normal batch."""
        channels = self.options.get("in_ch", self.options.get("channels",
                                                              CLIENT_MODELS[self.model].in_channels))
        generator = torch.Generator().manual_seed(1)
        return torch.randn(self.batch, channels, self.size, self.size, generator=generator).to(device)


def _cases(model: str, batch: int, size: int, modes=MODES) -> list[FuseCase]:
    return [FuseCase(model, batch, size, mode, dict(BENCH_OPTIONS[model])) for mode in modes]


# Per model a small case and a training-sized one; generators and the denoiser also on one
# 256 px picture in eval, as they are deployed.
DEFAULT_CASES: list[FuseCase] = [
    *_cases("resnet_generator", 4, 64), *_cases("resnet_generator", 8, 128),
    *_cases("resnet_generator", 1, 256, ["eval"]),
    *_cases("unet_generator", 4, 64), *_cases("unet_generator", 16, 128),
    *_cases("unet_generator", 1, 256, ["eval"]),
    *_cases("patchgan_discriminator", 4, 64), *_cases("patchgan_discriminator", 16, 128),
    *_cases("preact_resnet", 4, 64), *_cases("preact_resnet", 64, 32),  # 64 x 32 px: CIFAR
    *_cases("dncnn", 16, 40),  # DnCNN's 40 px training patches
    *_cases("dncnn", 1, 256, ["eval"]),
    *_cases("vgg_discriminator", 4, 64), *_cases("vgg_discriminator", 16, 96),  # SRGAN's 96 px crops
]


def full_grid(batches=(1, 4, 16, 64), sizes=(32, 64, 128, 256)) -> list[FuseCase]:
    """Every client model (in :data:`BENCH_OPTIONS`) at every batch and every size it takes (its
    minimum size and up), in train and eval."""
    return [case for model in BENCH_OPTIONS for batch in batches for size in sizes
            if size >= CLIENT_MODELS[model].min_size for case in _cases(model, batch, size)]


def variants(case: FuseCase, device: str | torch.device = "cpu", compile: bool = False,
             memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, nn.Module]:
    """``fusegen`` (``fuse(model)``), ``eager`` and, with ``compile``, ``torch.compile``: one
    seeded build of ``case.model``, in ``case.mode``."""
    eager = build(case.model, **case.options).to(device=device, memory_format=memory_format)
    models = {"fusegen": fuse(eager), "eager": eager}
    if compile:
        models["torch.compile"] = torch.compile(copy.deepcopy(eager))
    for model in models.values():
        model.train(case.mode == "train")
    return models


def train_step(model: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    """One training step's model work: gradients set to None, forward, backward of ``grad``."""
    model.zero_grad(set_to_none=True)
    model(x).backward(grad)


def steps(case: FuseCase, device: str | torch.device = "cpu", compile: bool = False,
          channels_last: bool = False) -> tuple[dict[str, Callable[[], Any]], Any]:
    """The calls to time for ``case`` (one per variant), and the context to time them in
    (``torch.inference_mode()`` for eval)."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    models = variants(case, device, compile, layout)
    x = case.input(device).contiguous(memory_format=layout)
    if case.mode == "eval":
        return {name: (lambda m=m: m(x)) for name, m in models.items()}, torch.inference_mode()
    eager = models["eager"]
    with torch.no_grad():  # the output's shape, without touching the running statistics
        shape = eager.eval()(x).shape
    eager.train()
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(2)).to(device)
    return {name: (lambda m=m: train_step(m, x, grad)) for name, m in models.items()}, nullcontext()
