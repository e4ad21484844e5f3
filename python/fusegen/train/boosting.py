"""Generator ensembles whose members complement each other (:func:`train_generator_ensemble`).

Members trained independently collapse onto the same modes, so their mixture draws nothing the
best member does not. Two ways around it:

* partition (the default): the images of each class are split into K clusters by k-means in
  the features of a classifier trained on the data, and member t trains on cluster t of every
  class; each member specialises, the mixture covers every part;
* boosting, in the manner of AdaGAN (Tolstikhin et al. 2017): member t trains on the data
  reweighted toward the real images that the mixture of members 1..t-1 misses. How far a real
  image is from what is generated is the distance to the nearest sample of the mixture (of its
  class, for conditional members) over its k-nearest-neighbour radius among the real images, in
  the same classifier's features (the precision/recall manifolds of Kynkäänniemi et al.); the
  third of each class farthest by that ratio counts as missed.

The mixture weights are uniform (AdaGAN's 1/t rule for members of equal training length).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from ..data import load_dataset
from ..metrics import FeatureExtractor
from ..metrics._distances import distance_chunks, kth_neighbour_radii


# The weight of a missed real image against a covered one, and the share of each class's real
# images counted as missed (experiments/generation).
BOOST_DEFAULT = 4.0
MISSED_SHARE = 1 / 3


def coverage_ratios(real_features: torch.Tensor, real_labels: torch.Tensor | None,
                    fake_features: torch.Tensor, fake_labels: torch.Tensor | None,
                    k: int = 3) -> torch.Tensor:
    """(N,) float64: for each real image, the distance to the nearest generated sample (of its
    class, when labels are given) over the distance to its k-th nearest real neighbour (of its
    class). Below 1: inside the samples' reach (the recall metric's test); large: far from
    anything generated. A class without samples gets inf; a class of at most k real images,
    its nearest-sample distance over its largest within-class distance (or 1 for a single image)."""
    ratios = torch.full((len(real_features),), float("inf"), dtype=torch.float64)
    groups = [None] if real_labels is None else torch.unique(real_labels).tolist()
    for c in groups:
        rows = torch.ones(len(real_features), dtype=torch.bool) if c is None else real_labels == c
        fakes = fake_features if c is None else fake_features[fake_labels == c]
        if len(fakes) == 0:
            continue
        real = real_features[rows]
        if len(real) > k:
            radii = kth_neighbour_radii(real, k).double().cpu()
        else:
            spread = torch.cdist(real.double(), real.double()).max() if len(real) > 1 else torch.ones(())
            radii = spread.expand(len(real)).cpu()
        nearest = torch.full((len(real),), float("inf"), dtype=torch.float64)
        for _, d in distance_chunks(fakes, real):
            nearest = torch.minimum(nearest, d.min(dim=0).values.double().cpu())
        ratios[rows.nonzero().flatten()] = nearest / radii.clamp_min(1e-12)
    return ratios


def missed_real_images(real_features: torch.Tensor, real_labels: torch.Tensor | None,
                       fake_features: torch.Tensor, fake_labels: torch.Tensor | None,
                       k: int = 3) -> torch.Tensor:
    """(N,) bool: real image i is missed when no generated sample (of its class, when labels are
    given) lies within the distance from image i to its k-th nearest real neighbour (of its
    class): :func:`coverage_ratios` above 1. Classes with no more than k real images count as
    covered when they have a sample."""
    ratios = coverage_ratios(real_features, real_labels, fake_features, fake_labels, k)
    small = torch.zeros(len(ratios), dtype=torch.bool)
    if real_labels is not None:
        for c in torch.unique(real_labels).tolist():
            rows = real_labels == c
            if int(rows.sum()) <= k and (fake_labels == c).any():
                small |= rows
    return (ratios > 1) & ~small


def least_covered(ratios: torch.Tensor, labels: torch.Tensor | None, share: float) -> torch.Tensor:
    """(N,) bool: the ``share`` of each class's real images (of all, without labels) with the
    largest :func:`coverage_ratios`, the ones farthest from what is generated. Relative, so it
    does not depend on how strict the k-NN test is in a given feature space (on the digits,
    63% of the real images fail it after a good first member)."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    picked = torch.zeros(len(ratios), dtype=torch.bool)
    groups = [None] if labels is None else torch.unique(labels).tolist()
    for c in groups:
        rows = torch.ones(len(ratios), dtype=torch.bool) if c is None else labels == c
        index = rows.nonzero().flatten()
        count = max(1, round(share * len(index)))
        order = torch.argsort(ratios[index], descending=True, stable=True)
        picked[index[order[:count]]] = True
    return picked


def class_partition(features: torch.Tensor, labels: torch.Tensor | None, parts: int,
                    seed: int = 0, iterations: int = 50) -> torch.Tensor:
    """(N,) long: which of ``parts`` clusters each image falls in, by k-means (Lloyd's
    iterations from ``parts`` seeded random images) on ``features`` within each class (over all
    images without labels). A cluster left empty restarts at the image farthest from its centre;
    a class with fewer images than ``parts`` puts one image in each of its first clusters."""
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"parts must be an integer >= 1, got {parts!r}")
    g = torch.Generator().manual_seed(seed)
    assignment = torch.zeros(len(features), dtype=torch.long)
    groups = [None] if labels is None else torch.unique(labels).tolist()
    for c in groups:
        index = torch.arange(len(features)) if c is None else (labels == c).nonzero().flatten()
        x = features[index].double().cpu()
        if len(x) <= parts:
            assignment[index] = torch.arange(len(x))
            continue
        centres = x[torch.randperm(len(x), generator=g)[:parts]].clone()
        for _ in range(iterations):
            distances = torch.cdist(x, centres)
            nearest = distances.argmin(dim=1)
            for k in range(parts):
                members = nearest == k
                if members.any():
                    centres[k] = x[members].mean(dim=0)
                else:  # an empty cluster restarts at the worst-served image
                    centres[k] = x[distances.min(dim=1).values.argmax()]
        assignment[index] = torch.cdist(x, centres).argmin(dim=1)
    return assignment


def boosted_weights(missed: torch.Tensor, labels: torch.Tensor | None, boost: float) -> torch.Tensor:
    """Sampling weights: ``boost`` for a missed image, 1 for a covered one, rescaled within each
    class so that every class keeps its share of the data (a conditional generator must still
    learn every class)."""
    w = torch.where(missed, float(boost), 1.0).double()
    if labels is None:
        return w / w.sum()
    for c in torch.unique(labels).tolist():
        rows = labels == c
        w[rows] *= float(rows.double().sum()) / float(w[rows].sum())
    return w / w.sum()


def train_generator_ensemble(kind: str, data: str | os.PathLike, out: str | os.PathLike,
                             steps: int = 1000, *, members: int = 3, boost: float | None = None,
                             seed: int = 0, conditional: bool = False, image_size: int | None = None,
                             channels: int | None = None, classes=None, device: str = "auto",
                             progress: bool = True, overwrite: bool = False,
                             **options: Any) -> dict[str, Any]:
    """Train ``members`` generators (``"dcgan"`` or ``"vae"``) of ``steps`` steps each into
    ``out/member-1`` .. ``out/member-K`` and write their uniform mixture to ``out/ensemble.pt``
    (``fusegen.load`` reads it; ``fusegen ensemble --learn`` refits the weights). ``options`` go
    to :func:`fusegen.train.train` for every member. How the members complement each other:

    * ``boost=None`` (the default, what ``fusegen train --members K`` does): member t trains
      only on the t-th of ``members`` clusters of each class (:func:`class_partition`, k-means
      in the features of a classifier trained on the data). Each member specialises in one part
      of every class, and the mixture covers all of them.
    * ``boost=F``: member t trains on the data reweighted toward what members 1..t-1 miss
      (:func:`least_covered`, weight F against 1; :data:`BOOST_DEFAULT` was measured);
      ``boost=1``: independent members with seeds ``seed``, ``seed + 1``, ...

    Returns ``{"members": [each member's training summary], "missed": [before each member after
    the first, the share of real images outside the k-NN reach of the mixture's samples],
    "ensemble": path, "seconds": total}``.
    """
    from ..load import load
    from ..models import Ensemble
    from .recipes import train

    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ValueError(f"members must be an integer >= 1, got {members!r}")
    if boost is not None and not (isinstance(boost, (int, float)) and not isinstance(boost, bool)
                                  and math.isfinite(boost) and boost >= 1):
        raise ValueError(f"boost must be None (partitioned members) or a finite number >= 1 (1: no "
                         f"reweighting), got {boost!r}")
    partition = boost is None
    out = Path(out)
    ensemble_path = out / "ensemble.pt"
    if ensemble_path.exists() and not overwrite:
        raise FileExistsError(f"{ensemble_path} exists; pass overwrite=True (--overwrite) to replace it")
    common = dict(conditional=conditional, image_size=image_size, channels=channels, classes=classes,
                  device=device, progress=progress, overwrite=overwrite, **options)
    summaries, missed_shares, models = [], [], []
    if partition or (members > 1 and boost > 1):  # the real images, judged in a classifier's features
        dataset = load_dataset(data, 32 if image_size is None else image_size, 1 if channels is None else channels)
        if classes is not None:
            dataset = dataset.select_classes(classes)
        extractor = _extractor(dataset, seed)
        real_features = extractor.extract(dataset.images)
        labels = dataset.labels if dataset.num_classes and conditional else None
    if partition:
        parts = class_partition(real_features, labels, members, seed)
    for t in range(members):
        weights = None
        if partition:
            weights = (parts == t).double()
        elif t and boost > 1:
            ratios = _coverage(Ensemble(models), dataset, extractor, real_features, seed + t)
            missed_shares.append(float((ratios > 1).double().mean()))
            weights = boosted_weights(least_covered(ratios, labels, MISSED_SHARE), labels, boost)
        summary = train(kind, data, out / f"member-{t + 1}", steps, seed=seed + t, sample_weights=weights,
                        **common)
        summaries.append(summary)
        models.append(load(summary["checkpoint"]))
    names = [f"member-{t + 1}" for t in range(members)]
    Ensemble(models, names=names).save(ensemble_path, checkpoints=[s["checkpoint"] for s in summaries],
                                       boost=None if partition else float(boost), partition=partition)
    return {"members": summaries, "missed": missed_shares, "ensemble": str(ensemble_path),
            "seconds": sum(s["seconds"] for s in summaries)}


def _extractor(dataset, seed: int) -> FeatureExtractor:
    if dataset.num_classes >= 2:
        return FeatureExtractor.train_classifier(dataset.images, dataset.labels, epochs=5, seed=seed)
    return FeatureExtractor.random(dataset.channels, seed=seed)


@torch.no_grad()
def _coverage(mixture, dataset, extractor: FeatureExtractor, real_features: torch.Tensor,
              seed: int) -> torch.Tensor:
    """:func:`coverage_ratios` of the real images by the mixture, judged on as many samples as
    real images (drawn for the real labels when the members are conditional)."""
    g = torch.Generator().manual_seed(seed)
    labels = dataset.labels if mixture.num_classes else None
    n = len(dataset)
    fakes = torch.cat([mixture.sample(len(chunk), labels=None if labels is None else labels[chunk],
                                      generator=g) for chunk in torch.arange(n).split(500)])
    fake_features = extractor.extract(fakes.to(next(extractor.parameters()).device))
    return coverage_ratios(real_features.cpu(), labels, fake_features.cpu(), labels)
