"""One call for all set metrics (and optionally the per-sample risks) of a generated set."""

from __future__ import annotations

import torch

from .features import FeatureExtractor
from .risk import classifier_two_sample_test, knn_distance, realism_score
from .set_metrics import density_coverage, frechet_distance, kid, precision_recall


def evaluate(real: torch.Tensor, fake: torch.Tensor, extractor: FeatureExtractor | None = None, *,
             k: int = 3, density_k: int = 5, kid_subsets: int = 100, kid_subset_size: int = 1000,
             risk: bool = False, seed: int = 0, batch_size: int = 256) -> dict:
    """Distance-to-real metrics of ``fake`` against ``real``.

    Args:
        real, fake: images (N, C, H, W) in [0, 1], or already-extracted features (N, D).
        extractor: turns images into features; default: ``FeatureExtractor.random`` (seed 0).
        k: neighbour for precision/recall and the realism score; density_k: for density/coverage.
        kid_subsets, kid_subset_size: KID subsets; the size is capped at the smaller set's size.
        risk: also compute the per-sample risks (realism, k-NN distance, two-sample test).
        seed: seed of the KID subsets and the two-sample test.

    Returns:
        A dict of floats: ``frechet_distance``, ``kid_mean``, ``kid_std``, ``precision``,
        ``recall``, ``density``, ``coverage`` (plus ``n_real``, ``n_fake``, ``feature_dim``); with
        ``risk``, also ``c2st_accuracy``, ``c2st_p_value`` and (n_fake,) tensors ``realism``,
        ``knn_distance`` and ``confidence_risk``.
    """
    real_feats, fake_feats = _features(real, fake, extractor, batch_size)
    size = min(kid_subset_size, real_feats.shape[0], fake_feats.shape[0])
    gen = torch.Generator(device=real_feats.device).manual_seed(seed)
    kid_mean, kid_std = kid(real_feats, fake_feats, kid_subsets, size, generator=gen)
    precision, recall = precision_recall(real_feats, fake_feats, k)
    density, coverage = density_coverage(real_feats, fake_feats, density_k)
    out = {"n_real": real_feats.shape[0], "n_fake": fake_feats.shape[0],
           "feature_dim": real_feats.shape[1],
           "frechet_distance": frechet_distance(real_feats, fake_feats),
           "kid_mean": kid_mean, "kid_std": kid_std, "precision": precision, "recall": recall,
           "density": density, "coverage": coverage}
    if risk:
        test = classifier_two_sample_test(real_feats, fake_feats, seed=seed)
        out.update(c2st_accuracy=test.accuracy, c2st_p_value=test.p_value,
                   confidence_risk=test.fake_risk,
                   realism=realism_score(real_feats, fake_feats, k),
                   knn_distance=knn_distance(real_feats, fake_feats))
    return out


def _features(real, fake, extractor, batch_size):
    for name, x in (("real", real), ("fake", fake)):
        if not isinstance(x, torch.Tensor) or x.dim() not in (2, 4):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be images (N, C, H, W) or features (N, D), got {shape}")
    if real.dim() != fake.dim():
        raise ValueError(f"real and fake must both be images or both be features, "
                         f"got shapes {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.dim() == 2:
        return real, fake
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real and fake images must have the same (C, H, W), "
                         f"got {tuple(real.shape[1:])} and {tuple(fake.shape[1:])}")
    extractor = extractor if extractor is not None else FeatureExtractor.random(real.shape[1])
    return extractor.extract(real, batch_size), extractor.extract(fake, batch_size)
