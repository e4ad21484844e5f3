"""From bought labels to a conditional generator: pseudo-label the pool, train, check the samples.

Active learning buys a few labels; a conditional generator wants a label for every training
image. :func:`pseudo_label` labels the whole pool with the loop's final classifier (keeping the
oracle's answers where it has them); :func:`train_conditional_generator` trains a conditional
DCGAN or ConvVAE on it with fusegen's trainer; :func:`generated_label_accuracy` asks a judge
classifier whether each sample shows the label it was generated for.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

from ..data import ImageDataset
from ..models import DCGAN, ConvVAE
from ..train import GANTask, Trainer, TrainSettings, VAETask
from ..train.recipes import KIND_ALIASES
from .learner import Learner, LearnerConfig
from .loop import ActiveResult

GENERATORS = ("dcgan", "vae")  # model kind names; "gan" is accepted for "dcgan"


def pseudo_label(result: ActiveResult, pool_images: torch.Tensor) -> torch.Tensor:
    """Labels (N,) for every pool image: the oracle's where queried, the final classifier's elsewhere."""
    if result.learner is None or result.labelled_indices is None:
        raise ValueError("result has no final classifier: it must come from run_active_learning")
    labels = result.learner.predict(pool_images).cpu()
    labels[result.labelled_indices] = result.labels
    return labels


def train_conditional_generator(images: torch.Tensor, labels: torch.Tensor, num_classes: int, *,
                                kind: str = "dcgan", steps: int = 400, batch_size: int = 64,
                                width: int = 32, latent_dim: int | None = None, seed: int = 0,
                                device: str | torch.device = "cpu",
                                out: str | os.PathLike | None = None, progress: bool = False):
    """Train a conditional DCGAN (``kind="dcgan"``) or ConvVAE (``"vae"``) on (images, labels);
    returns ``(model, trainer summary)``. Images must be 16, 32 or 64 pixels square.

    Checkpoints and sample grids go to ``out`` (a temporary folder, deleted, when None).
    """
    kind = KIND_ALIASES.get(kind, kind)
    if kind not in GENERATORS:
        raise ValueError(f"kind must be one of {GENERATORS}, got {kind!r}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must be ({len(images)},), got {tuple(labels.shape)}")
    c, size = images.shape[1], images.shape[-1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "dcgan":
            task = GANTask(DCGAN(latent_dim or 64, c, size, width, num_classes))
        else:
            task = VAETask(ConvVAE(c, size, latent_dim or 16, width, num_classes))
    dev = torch.device(device)
    settings = TrainSettings(steps=steps, batch_size=batch_size, seed=seed,
                             device="cuda" if dev.type == "cuda" else "cpu", amp=False,
                             progress=progress)
    data = ImageDataset(images.cpu(), labels.cpu(), [str(i) for i in range(num_classes)])
    with tempfile.TemporaryDirectory() as tmp:
        summary = Trainer(task, data, out if out is not None else tmp, settings).fit()
    model = task.export_model().eval()
    return model, summary


@torch.no_grad()
def generated_label_accuracy(model, judge: Learner | Callable[[torch.Tensor], torch.Tensor],
                             num_classes: int, per_class: int = 50, seed: int = 0) -> float:
    """Share of ``per_class`` samples of each class that ``judge`` classifies as that class.

    ``judge``: a fitted :class:`Learner` or a function from images to logits/probabilities.
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = torch.cat([model.sample(len(chunk), labels=chunk, generator=g).cpu()
                        for chunk in labels.split(250)])
    if isinstance(judge, Learner):
        predicted = judge.predict(images).cpu()
    else:
        predicted = torch.as_tensor(judge(images)).argmax(1).cpu()
    return float((predicted == labels).double().mean())


def train_judge(images: torch.Tensor, labels: torch.Tensor, num_classes: int, seed: int = 0,
                device: str | torch.device = "cpu", steps: int = 300) -> Learner:
    """The evaluation's classifier: the learner's network trained longer on every true label."""
    config = LearnerConfig(width=32, steps=steps, batch_size=32)
    return Learner(images.shape[1], num_classes, config, device).fit(images, labels, seed=10_000 + seed)


def generation_check(result: ActiveResult, pool_images: torch.Tensor, judge, num_classes: int, *,
                     true_labels: torch.Tensor | None = None, kind: str = "dcgan", steps: int = 400,
                     seed: int = 0, device: str | torch.device = "cpu", per_class: int = 50,
                     out: str | os.PathLike | None = None) -> dict[str, Any]:
    """Pseudo-label the pool with ``result``'s classifier, train a conditional generator on it, and
    report the share of its samples that ``judge`` reads as their conditioning label
    (plus the pseudo-labels' accuracy when ``true_labels`` of the pool are given)."""
    labels = pseudo_label(result, pool_images)
    started = time.perf_counter()
    model, summary = train_conditional_generator(pool_images, labels, num_classes, kind=kind,
                                                 steps=steps, seed=seed, device=device, out=out)
    report = {"strategy": result.strategy, "seed": result.seed, "labels_bought": result.labelled[-1],
              "generator": kind, "steps": steps, "train_seconds": time.perf_counter() - started,
              "sample_label_accuracy": generated_label_accuracy(model, judge, num_classes, per_class, seed)}
    if true_labels is not None:
        report["pseudo_label_accuracy"] = float((labels == true_labels.cpu()).float().mean())
    return report
