"""The training loop shared by every model kind: data, devices, progress, checkpoints, resume."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..data import save_grid
from . import distributed
from .batches import BatchStream
from ..checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .task import Task


class TrainingDiverged(FloatingPointError):
    """Training produced non-finite losses or weights; the checkpoints written before are kept."""


@dataclass
class TrainSettings:
    """How to train. Intervals count optimizer steps; 0 turns the action off (checkpoints and a
    sample grid are still written at the end).

    steps: total training steps. batch_size: per process. seed: seeds the model's training
    randomness and the data order. device: "auto" (CUDA when visible), "cpu" or "cuda".
    sample_every: save a grid of fixed-noise samples. checkpoint_every: write ``last.pt``.
    val_every: evaluate the validation metric; when it improves ``best.pt`` is written.
    patience: stop after this many validations without improvement (0: never stop early).
    amp: mixed precision (float16 autocast + gradient scaling), on CUDA only.
    lr_schedule: "constant"; "cosine" (from the task's learning rates down to 0 at the last
        step); or "step" (the learning rates divided by 10 for the last quarter of the steps, as
        DnCNN's training does). A function of the step alone, so a resumed run follows it exactly.
    channels_last: keep the model's weights and the batches in channels-last memory format,
        which oneDNN (CPU) and tensor-core (CUDA) convolutions run faster; the numbers are the
        same up to float rounding.
    progress: show a tqdm progress bar with the live losses.
    """

    steps: int = 1000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    sample_every: int = 0
    checkpoint_every: int = 0
    val_every: int = 0
    patience: int = 0
    amp: bool = True
    lr_schedule: str = "constant"
    channels_last: bool = False
    progress: bool = True

    def check(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("sample_every", "checkpoint_every", "val_every", "patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


LR_SCHEDULES = ("constant", "cosine", "step")


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """The multiple of the initial learning rates for the optimizer step after ``step`` steps."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / steps))
    if schedule == "step":
        return 0.1 if step >= 0.75 * steps else 1.0
    return 1.0


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when a GPU is visible, else CPU; ``"cuda"`` without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is visible")
    return torch.device(name)


class Trainer:
    """Runs ``task`` on ``train_data`` for ``settings.steps`` steps, writing into ``out_dir``:
    ``last.pt`` (resumable checkpoint), ``best.pt`` (best validation metric), and
    ``samples/step_XXXXXXX.png`` grids for generative models.

    Data objects need ``len()`` and ``batch(indices) -> (inputs, targets_or_labels)``;
    ``val_data`` is what the task's ``validate`` takes (None: no validation). ``extra``: more
    entries for every checkpoint (e.g. a fine-tune's ``"transfer"`` report).
    Under ``torchrun`` every process runs this same code; process 0 writes the files.
    """

    def __init__(self, task: Task, train_data, out_dir: str | os.PathLike,
                 settings: TrainSettings, val_data=None, extra: dict[str, Any] | None = None) -> None:
        settings.check()
        if settings.val_every and val_data is None:
            raise ValueError("val_every needs validation data")
        self.extra = dict(extra or {})
        reserved = {"format", "version", "kind", "config", "model", "metric", "train_state"}
        if reserved & self.extra.keys():
            raise ValueError(f"extra checkpoint entries cannot be named {sorted(reserved & self.extra.keys())}")
        self.task, self.data, self.val_data = task, train_data, val_data
        self.out, self.settings = Path(out_dir), settings
        self.step = 0
        self.best: float | None = None
        self.bad_validations = 0
        self.history: dict[str, list] = {"losses": [], "validation": []}

    # -- checkpoints ----------------------------------------------------------------------------

    def _gather_rng(self) -> list[dict[str, Any]]:
        state = rng_state()
        if not self.dist.enabled:
            return [state]
        states: list[Any] = [None] * self.dist.world
        torch.distributed.all_gather_object(states, state)
        return states

    def checkpoint(self, name: str) -> Path | None:
        """Write ``name`` (e.g. ``last.pt``) atomically: the exported model for ``fusegen.load``
        plus everything an exact resume needs. Every process must call it (RNG states are
        gathered); process 0 writes. A model with non-finite weights or statistics is never
        written: :class:`TrainingDiverged` is raised and the earlier checkpoints stay."""
        model = self.task.export_model()
        bad = [k for k, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
        if bad:  # every process holds the same weights: all raise together
            raise TrainingDiverged(f"step {self.step}: training diverged: {', '.join(bad[:3])}"
                                   f"{' ...' if len(bad) > 3 else ''} hold non-finite values (try a lower "
                                   f"learning rate); {self.out} keeps the checkpoints written before")
        rngs = self._gather_rng()
        if not self.dist.is_main:
            return None
        payload = {
            **self.extra,
            "kind": self.task.kind,
            "config": dict(model.config),
            "model": model.state_dict(),
            "metric": {"name": self.task.metric, "best": self.best},
            "train_state": {
                "step": self.step,
                "task": self.task.state_dict(),
                "data": self.stream.state_dict(),
                "rng": rngs,
                "best": self.best,
                "bad_validations": self.bad_validations,
                "history": self.history,
                "settings": asdict(self.settings),
                "world": self.dist.world,
            },
        }
        return save_checkpoint(payload, self.out / name)

    def _resume(self, path: str | os.PathLike) -> None:
        payload = load_checkpoint(path, map_location=self.device)
        if payload.get("kind") != self.task.kind:
            raise ValueError(f"{path}: a {payload.get('kind')} checkpoint cannot resume {self.task.kind} training")
        if dict(payload["config"]) != dict(self.task.model.config):
            raise ValueError(f"{path}: the checkpoint's model configuration {payload['config']} "
                             f"differs from this run's {self.task.model.config}")
        state = payload.get("train_state")
        if state is None:
            raise ValueError(f"{path}: this checkpoint has no training state to resume from")
        try:
            if state["world"] != self.dist.world:
                raise ValueError(f"{path}: written by {state['world']} processes, resumed with "
                                 f"{self.dist.world}")
            self.task.load_state_dict(state["task"])
            self.stream.load_state_dict(state["data"])
            self.step, self.best = int(state["step"]), state["best"]
            self.bad_validations, self.history = int(state["bad_validations"]), state["history"]
            set_rng_state(state["rng"][self.dist.rank])
        except (KeyError, IndexError, TypeError, RuntimeError) as exc:  # a damaged or foreign state
            raise ValueError(f"{path}: its training state cannot be resumed ({type(exc).__name__}: "
                             f"{exc})") from exc

    # -- the loop -------------------------------------------------------------------------------

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = self.data.batch(self.stream.next())
        return self._to_device(inputs), self._to_device(targets)

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        if self.settings.channels_last and t.dim() == 4:
            return t.to(self.device, memory_format=torch.channels_last, non_blocking=True)
        return t.to(self.device, non_blocking=True)

    def _schedule_lr(self) -> None:
        factor = lr_factor(self.settings.lr_schedule, self.step, self.settings.steps)
        for optimizer in self.task.optimizers.values():
            for group in optimizer.param_groups:
                # "initial_lr" travels in the optimizer's state_dict, as torch's schedulers keep it.
                group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor

    def _save_samples(self) -> None:
        made = self.task.samples()
        if made is not None and self.dist.is_main:
            images, nrow = made
            save_grid(images, self.out / "samples" / f"step_{self.step:07d}.png", nrow)

    def _validate(self) -> bool:
        """Evaluate; write best.pt on improvement; True when patience has run out."""
        value = distributed.mean_across(self.task.validate(self.val_data), self.dist, self.device)
        self.history["validation"].append((self.step, value))
        # A non-finite value (NaN outputs) is never the best: it could never be beaten.
        better = math.isfinite(value) and (
            self.best is None or (value > self.best if self.task.higher_is_better else value < self.best))
        if better:
            self.best, self.bad_validations = value, 0
            self.checkpoint("best.pt")
        else:
            self.bad_validations += 1
        return bool(self.settings.patience) and self.bad_validations >= self.settings.patience

    def fit(self, resume: str | os.PathLike | None = None) -> dict[str, Any]:
        """Train (continuing from checkpoint ``resume`` if given); returns a summary dict."""
        s = self.settings
        self.device = resolve_device(s.device)
        self.dist = distributed.setup(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        torch.manual_seed(s.seed * 1000 + self.dist.rank)  # each process draws different noise
        if s.channels_last:  # before setup: the optimizers and EMA copies see the final layout
            self.task.model.to(memory_format=torch.channels_last)
        self.task.setup(self.device, self.dist, s.amp and self.device.type == "cuda")
        self.stream = BatchStream(len(self.data), s.batch_size, s.seed, self.dist.rank, self.dist.world)
        if resume is not None:
            self._resume(resume)
        start_step, started = self.step, time.perf_counter()
        log_every = max(1, s.steps // 200)
        stopped_early, losses = False, {}
        bar = tqdm(total=s.steps, initial=self.step, desc=f"train {self.task.kind}", dynamic_ncols=True,
                   disable=not (s.progress and self.dist.is_main))
        try:
            while self.step < s.steps and not stopped_early:
                self._schedule_lr()
                losses = self.task.step(self._batch())
                if not all(math.isfinite(v) for v in losses.values()):
                    raise TrainingDiverged(f"step {self.step + 1}: training diverged: a loss is not finite "
                                           f"({losses}; try a lower learning rate); {self.out} keeps the "
                                           f"checkpoints written before")
                self.step += 1
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
                if self.step % log_every == 0:
                    self.history["losses"].append((self.step, losses))
                if s.sample_every and self.step % s.sample_every == 0:
                    self._save_samples()
                if s.val_every and self.step % s.val_every == 0:
                    stopped_early = self._validate()
                    bar.set_postfix({**{k: f"{v:.4g}" for k, v in losses.items()},
                                     self.task.metric: f"{self.history['validation'][-1][1]:.4g}"})
                if s.checkpoint_every and self.step % s.checkpoint_every == 0:
                    self.checkpoint("last.pt")
        finally:
            bar.close()
        seconds = time.perf_counter() - started
        if not (s.sample_every and self.step % s.sample_every == 0):
            self._save_samples()
        last = self.checkpoint("last.pt")
        distributed.teardown(self.dist)
        return {
            "kind": self.task.kind, "steps": self.step, "steps_this_run": self.step - start_step,
            "seconds": seconds, "stopped_early": stopped_early, "final_losses": losses,
            "metric": self.task.metric, "best_metric": self.best, "history": self.history,
            "checkpoint": str(last) if last else None,
            "best_checkpoint": str(self.out / "best.pt") if self.best is not None else None,
        }
