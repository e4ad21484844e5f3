"""Generator ensembles whose members complement each other: boosting in the manner of AdaGAN
(Tolstikhin et al. 2017).

Members trained independently collapse onto the same modes, so their mixture draws nothing the
best member does not. Here member t trains on the data reweighted toward the real images that
the mixture of members 1..t-1 misses: an image counts as missed when no sample of the mixture
(of its class, for conditional members) lies within its k-nearest-neighbour radius among the
real images, in the features of a classifier trained on the data (the precision/recall
manifolds of Kynkäänniemi et al.). The mixture weights are AdaGAN's 1/t rule, which for members
of equal training length is uniform.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..data import load_dataset
from ..metrics import FeatureExtractor
from ..metrics._distances import distance_chunks, kth_neighbour_radii


# The weight of a missed real image against a covered one (experiments/generation).
BOOST_DEFAULT = 4.0


def missed_real_images(real_features: torch.Tensor, real_labels: torch.Tensor | None,
                       fake_features: torch.Tensor, fake_labels: torch.Tensor | None,
                       k: int = 3) -> torch.Tensor:
    """(N,) bool: real image i is missed when no generated sample (of its class, when labels are
    given) lies within the distance from image i to its k-th nearest real neighbour (of its
    class). Classes with no more than k real images count as covered when they have a sample."""
    missed = torch.zeros(len(real_features), dtype=torch.bool)
    groups = [None] if real_labels is None else torch.unique(real_labels).tolist()
    for c in groups:
        rows = torch.ones(len(real_features), dtype=torch.bool) if c is None else real_labels == c
        fakes = fake_features if c is None else fake_features[fake_labels == c]
        if len(fakes) == 0:
            missed[rows] = True
            continue
        real = real_features[rows]
        if len(real) <= k:
            continue
        radii = kth_neighbour_radii(real, k)
        inside = torch.zeros(len(real), dtype=torch.bool)
        for _, d in distance_chunks(fakes, real):
            inside |= (d <= radii[None, :]).any(dim=0).cpu()
        missed[rows.nonzero().flatten()] = ~inside
    return missed


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


def train_boosted(kind: str, data: str | os.PathLike, out: str | os.PathLike, steps: int = 1000, *,
                  members: int = 3, boost: float = BOOST_DEFAULT, seed: int = 0, conditional: bool = False,
                  image_size: int | None = None, channels: int | None = None, classes=None,
                  device: str = "auto", progress: bool = True, overwrite: bool = False,
                  **options: Any) -> dict[str, Any]:
    """Train ``members`` generators (``"dcgan"`` or ``"vae"``) of ``steps`` steps each into
    ``out/member-1`` .. ``out/member-K``, member t on ``data`` reweighted toward what members
    1..t-1 miss (:func:`missed_real_images`, weight ``boost`` against 1; ``boost=1``: plain
    independent training with seeds ``seed``, ``seed + 1``, ...), and write their uniform mixture
    to ``out/ensemble.pt`` (``fusegen.load`` reads it; ``fusegen ensemble --learn`` refits the
    weights). ``options`` go to :func:`fusegen.train.train` for every member.

    Returns ``{"members": [each member's training summary], "missed": [share of real images
    missed before each member], "ensemble": path, "seconds": total}``.
    """
    from ..load import load
    from ..models import Ensemble
    from .recipes import train

    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ValueError(f"members must be an integer >= 1, got {members!r}")
    if not (isinstance(boost, (int, float)) and boost >= 1 and boost == boost and boost != float("inf")):
        raise ValueError(f"boost must be a finite number >= 1 (1: no reweighting), got {boost!r}")
    out = Path(out)
    ensemble_path = out / "ensemble.pt"
    if ensemble_path.exists() and not overwrite:
        raise FileExistsError(f"{ensemble_path} exists; pass overwrite=True (--overwrite) to replace it")
    common = dict(conditional=conditional, image_size=image_size, channels=channels, classes=classes,
                  device=device, progress=progress, overwrite=overwrite, **options)
    summaries, missed_shares, models = [], [], []
    dataset = extractor = real_features = None
    for t in range(members):
        weights = None
        if t and boost > 1:
            if dataset is None:
                first = models[0].config
                dataset = load_dataset(data, first["image_size"], first["channels"])
                if classes is not None:
                    dataset = dataset.select_classes(classes)
                extractor = _extractor(dataset, seed)
                real_features = extractor.extract(dataset.images)
            missed = _missed(Ensemble(models), dataset, extractor, real_features, seed + t)
            missed_shares.append(float(missed.double().mean()))
            weights = boosted_weights(missed, dataset.labels if dataset.num_classes and conditional else None,
                                      boost)
        summary = train(kind, data, out / f"member-{t + 1}", steps, seed=seed + t, sample_weights=weights,
                        **common)
        summaries.append(summary)
        models.append(load(summary["checkpoint"]))
    names = [f"member-{t + 1}" for t in range(members)]
    Ensemble(models, names=names).save(ensemble_path, checkpoints=[s["checkpoint"] for s in summaries],
                                       boost=float(boost))
    return {"members": summaries, "missed": missed_shares, "ensemble": str(ensemble_path),
            "seconds": sum(s["seconds"] for s in summaries)}


def _extractor(dataset, seed: int) -> FeatureExtractor:
    if dataset.num_classes >= 2:
        return FeatureExtractor.train_classifier(dataset.images, dataset.labels, epochs=5, seed=seed)
    return FeatureExtractor.random(dataset.channels, seed=seed)


@torch.no_grad()
def _missed(mixture, dataset, extractor: FeatureExtractor, real_features: torch.Tensor,
            seed: int) -> torch.Tensor:
    """Which real images the mixture misses, judged on as many samples as real images (drawn for
    the real labels when the members are conditional)."""
    g = torch.Generator().manual_seed(seed)
    labels = dataset.labels if mixture.num_classes else None
    n = len(dataset)
    fakes = torch.cat([mixture.sample(len(chunk), labels=None if labels is None else labels[chunk],
                                      generator=g) for chunk in torch.arange(n).split(500)])
    fake_features = extractor.extract(fakes.to(next(extractor.parameters()).device))
    return missed_real_images(real_features.cpu(), labels, fake_features.cpu(), labels)
