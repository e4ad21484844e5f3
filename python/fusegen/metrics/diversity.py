"""Within-class diversity: how much of each class's variety a conditional generator draws."""

from __future__ import annotations

import torch

from . import _checks


def mean_pairwise_distance(feats: torch.Tensor) -> float:
    """The mean Euclidean distance between two distinct rows of ``feats`` (n, d), n >= 2."""
    x = _checks.features(feats, "feats", min_samples=2).double()
    n = x.shape[0]
    total = 0.0
    for start in range(0, n, 2048):  # blocks keep the distance matrix small for large n
        # Not the matrix-product form: it gives equal rows distances of ~1e-7 instead of 0.
        total += float(torch.cdist(x[start:start + 2048], x, compute_mode="donot_use_mm_for_euclid_dist").sum())
    return total / (n * (n - 1))


def within_class_diversity(real_feats: torch.Tensor, real_labels: torch.Tensor,
                           fake_feats: torch.Tensor, fake_labels: torch.Tensor) -> float:
    """The generated samples' within-class spread as a share of the real data's, averaged over
    classes (**higher is better**, up to about 1).

    For each class present in both sets (at least 2 samples each), the mean pairwise distance
    between generated samples of that class over the same for real samples of that class; the
    mean of these ratios. A conditional generator that draws one image per class scores 0; one
    that draws each class as varied as the real data, about 1. Unlike recall, it does not depend
    on the set sizes or a neighbour count; it does not measure realism (pair it with precision or
    label accuracy: noise is diverse).

    Args:
        real_feats, fake_feats: (n, d) features from one extractor.
        real_labels, fake_labels: (n,) integer class labels of the rows (for generated samples,
            the labels they were drawn for).
    """
    real, fake = _checks.pair(real_feats, fake_feats, min_samples=2)
    real_labels = _labels(real_labels, real.shape[0], "real_labels")
    fake_labels = _labels(fake_labels, fake.shape[0], "fake_labels")
    ratios = []
    for c in torch.unique(real_labels).tolist():
        r, f = real[real_labels == c], fake[fake_labels.to(fake.device) == c]
        if len(r) >= 2 and len(f) >= 2:
            spread = mean_pairwise_distance(r)
            if spread > 0:
                ratios.append(mean_pairwise_distance(f) / spread)
    if not ratios:
        raise ValueError("within_class_diversity needs a class with >= 2 real and >= 2 generated "
                         "samples (and distinct real samples); none has")
    return sum(ratios) / len(ratios)


def _labels(labels: object, n: int, name: str) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of {n} integer labels, got {type(labels).__name__}")
    if labels.shape != (n,) or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"{name} must be ({n},) integer labels (one per feature row), got "
                         f"{labels.dtype} of shape {tuple(labels.shape)}")
    return labels.to(torch.long)
