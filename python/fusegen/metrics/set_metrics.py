"""Distances between a set of real and a set of generated samples, on (n, d) feature tensors.

All four compare feature distributions: extract features first (:class:`FeatureExtractor`), then
call these on the two (n, d) tensors. They run on whatever device the features are on.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from . import _checks
from ._distances import distance_chunks, kth_neighbour_radii


class KID(NamedTuple):
    mean: float
    std: float


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


class DensityCoverage(NamedTuple):
    density: float
    coverage: float


# ----------------------------------------------------------------------------- Fréchet distance

def feature_statistics(feats: torch.Tensor, name: str = "feats", batch_size: int = 4096
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (d,) and covariance (d, d) of (n, d) features in float64, accumulated in row chunks.

    Two passes (mean, then centred products) rather than sum-of-squares minus squared mean:
    the latter cancels catastrophically when the features have a large common offset.
    """
    feats = _checks.features(feats, name, min_samples=2)
    n, d = feats.shape
    mean = torch.zeros(d, dtype=torch.float64, device=feats.device)
    for start in range(0, n, batch_size):
        mean += feats[start:start + batch_size].double().sum(0)
    mean /= n
    cov = torch.zeros(d, d, dtype=torch.float64, device=feats.device)
    for start in range(0, n, batch_size):
        centred = feats[start:start + batch_size].double() - mean
        cov.addmm_(centred.T, centred)
    cov /= n - 1
    return mean, cov


def frechet_distance_from_statistics(mu1: torch.Tensor, sigma1: torch.Tensor,
                                     mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); see :func:`frechet_distance`.

    Lets you cache the real set's statistics once and compare many generated sets against them.
    """
    mu1, sigma1, mu2, sigma2 = (t.double() for t in (mu1, sigma1, mu2, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (*mu1.shape, *mu1.shape):
        raise ValueError(f"statistics do not match: mu1 {tuple(mu1.shape)}, sigma1 {tuple(sigma1.shape)}, "
                         f"mu2 {tuple(mu2.shape)}, sigma2 {tuple(sigma2.shape)}")
    # tr(sqrt(S1 S2)) = tr(sqrt(A)) with A = sqrt(S1) S2 sqrt(S1), which is symmetric positive
    # semi-definite: a symmetric eigen-decomposition is stable where sqrtm of the non-symmetric
    # S1 S2 returns complex noise. Tiny negative eigenvalues are rounding and are clamped to 0.
    sqrt_sigma1 = _sqrt_psd(sigma1)
    product = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    product = (product + product.T) / 2
    trace_sqrt = torch.linalg.eigvalsh(product).clamp_min(0).sqrt().sum()
    diff = mu1 - mu2
    fd = diff.dot(diff) + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return max(float(fd), 0.0)


def _sqrt_psd(m: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((m + m.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(real_feats: torch.Tensor, fake_feats: torch.Tensor) -> float:
    """Fréchet distance (the "FID" when the features are Inception's) between two feature sets.

    Fits a Gaussian to each set and returns ``|mu_r - mu_f|^2 + tr(S_r + S_f - 2 sqrt(S_r S_f))``,
    the squared 2-Wasserstein distance between the two Gaussians. Range [0, inf); 0 for identical
    statistics; **lower is better**. Values depend on the feature extractor: compare only numbers
    computed with the same one and the same number of samples (the estimate is biased upwards for
    small sets).

    Statistics are accumulated in float64. Each set needs more samples than feature dimensions
    (n > d), otherwise its covariance is singular and the distance meaningless.

    Args:
        real_feats: (n_real, d) features of real samples.
        fake_feats: (n_fake, d) features of generated samples.
    """
    real, fake = _checks.pair(real_feats, fake_feats, min_samples=2)
    d = real.shape[1]
    for name, x in (("real_feats", real), ("fake_feats", fake)):
        if x.shape[0] <= d:
            raise ValueError(f"{name} has {x.shape[0]} samples of {d} features; the Fréchet distance "
                             f"needs more samples than feature dimensions (at least {d + 1}) for a "
                             f"full-rank covariance: pass more samples or use fewer features")
    return frechet_distance_from_statistics(*feature_statistics(real, "real_feats"),
                                            *feature_statistics(fake, "fake_feats"))


# ----------------------------------------------------------------------------- KID

def kid(real_feats: torch.Tensor, fake_feats: torch.Tensor, subsets: int = 100,
        subset_size: int = 1000, generator: torch.Generator | None = None,
        batch_subsets: int = 4) -> KID:
    """Kernel Inception Distance: unbiased MMD² with the kernel k(x, y) = (x·y / d + 1)³.

    Draws ``subsets`` random subsets of ``subset_size`` samples (without replacement) from each
    set and returns the mean and standard deviation of the unbiased squared MMD over them.
    Unlike the Fréchet distance it has no bias from the set size: its expected value is exactly 0
    when both sets come from one distribution, so a single estimate can be slightly negative.
    Range (-small, inf); **lower is better**. Computed in float64.

    Args:
        real_feats, fake_feats: (n, d) feature tensors; each needs at least ``subset_size`` rows.
        subsets: number of random subsets.
        subset_size: samples per subset from each set (at least 2).
        generator: torch.Generator on the features' device for reproducible subsets.
        batch_subsets: subsets evaluated together (memory: batch_subsets * subset_size² floats).

    Returns:
        ``KID(mean, std)``; std is 0 for a single subset.
    """
    real, fake = _checks.pair(real_feats, fake_feats)
    subsets = _checks.positive_int(subsets, "subsets")
    subset_size = _checks.positive_int(subset_size, "subset_size")
    batch_subsets = _checks.positive_int(batch_subsets, "batch_subsets")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2 for the unbiased estimate, got {subset_size}")
    for name, x in (("real_feats", real), ("fake_feats", fake)):
        if x.shape[0] < subset_size:
            raise ValueError(f"subset_size={subset_size} is larger than the {x.shape[0]} samples of {name}: "
                             f"pass subset_size <= {x.shape[0]}")
    d, m = real.shape[1], subset_size
    # All subsets drawn first, so that batch_subsets changes the memory use, not the result.
    real_idx = _random_subsets(real.shape[0], subsets, m, generator, real.device)
    fake_idx = _random_subsets(fake.shape[0], subsets, m, generator, fake.device)
    values = []
    for start in range(0, subsets, batch_subsets):
        x = real[real_idx[start:start + batch_subsets]].double()  # (b, m, d)
        y = fake[fake_idx[start:start + batch_subsets]].double()
        kxx, kyy, kxy = _cubic_kernel(x, x), _cubic_kernel(y, y), _cubic_kernel(x, y)
        # Unbiased: drop the diagonal k(x_i, x_i) terms of the within-set sums.
        within = (kxx.sum((1, 2)) - kxx.diagonal(dim1=1, dim2=2).sum(1)
                  + kyy.sum((1, 2)) - kyy.diagonal(dim1=1, dim2=2).sum(1)) / (m * (m - 1))
        values.append(within - 2 * kxy.sum((1, 2)) / (m * m))
    mmd = torch.cat(values)
    std = float(mmd.std()) if subsets > 1 else 0.0
    return KID(float(mmd.mean()), std)


def _cubic_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(x y^T / d + 1)^3 for batches (b, m, d), with one fused product and in-place powers."""
    ones = torch.ones((), dtype=x.dtype, device=x.device).expand(x.shape[0], x.shape[1], y.shape[1])
    return torch.baddbmm(ones, x, y.transpose(1, 2), alpha=1 / x.shape[2]).pow_(3)


def _random_subsets(n: int, count: int, size: int, generator, device) -> torch.Tensor:
    """(count, size) indices: each row a random subset of range(n) without replacement."""
    gen_device = generator.device if generator is not None else torch.device("cpu")
    rows = [torch.randperm(n, generator=generator, device=gen_device)[:size] for _ in range(count)]
    return torch.stack(rows).to(device)


# ----------------------------------------------------------------------------- k-NN manifolds

def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3,
                     batch_size: int | None = None) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    Each sample gets a ball whose radius is the distance to its k-th nearest neighbour within its
    own set. **Precision** is the fraction of generated samples inside at least one real ball
    (how much of what is generated looks real: fidelity); **recall** is the fraction of real
    samples inside at least one generated ball (how much of the real variety is generated:
    diversity). Both in [0, 1]; **higher is better**.

    Args:
        real_feats, fake_feats: (n, d) feature tensors, each with more than k rows.
        k: neighbour that sets the ball radius (3 in the paper).
        batch_size: rows per block of distances (default: about 32 M distances per block).
    """
    real, fake = _checks.pair(real_feats, fake_feats)
    k = _checks.neighbours(k, real.shape[0], "real_feats")
    _checks.neighbours(k, fake.shape[0], "fake_feats")
    real_radii = kth_neighbour_radii(real, k, batch_size)
    fake_radii = kth_neighbour_radii(fake, k, batch_size)
    fake_inside = torch.zeros(fake.shape[0], dtype=torch.bool, device=fake.device)
    real_inside = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    # One pass over the fake-to-real distances serves both directions.
    for start, d in distance_chunks(fake, real, batch_size):
        rows = slice(start, start + d.shape[0])
        fake_inside[rows] = (d <= real_radii).any(dim=1)
        real_inside |= (d <= fake_radii[rows, None]).any(dim=0)
    return PrecisionRecall(float(fake_inside.double().mean()), float(real_inside.double().mean()))


def density_coverage(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 5,
                     batch_size: int | None = None) -> DensityCoverage:
    """Density and coverage (Naeem et al., 2020), robust variants of precision and recall.

    Only real samples get balls (radius: distance to the k-th nearest real neighbour).
    **Density** counts how many real balls each generated sample falls in, divided by k and
    averaged: about 1 when both sets come from one distribution, above 1 when generated samples
    crowd into dense real regions, below 1 when they stray; range [0, n_real / k], **higher is
    better** up to about 1. **Coverage** is the fraction of real balls that hold at least one
    generated sample: range [0, 1], **higher is better**; for one distribution and equal set
    sizes it tends to 1 - 1/2^k (0.97 for k = 5).

    Args:
        real_feats, fake_feats: (n, d) feature tensors; real_feats needs more than k rows.
        k: neighbour that sets the ball radius (5 in the paper).
        batch_size: rows per block of distances (default: about 32 M distances per block).
    """
    real, fake = _checks.pair(real_feats, fake_feats)
    k = _checks.neighbours(k, real.shape[0], "real_feats")
    real_radii = kth_neighbour_radii(real, k, batch_size)
    hits = torch.zeros((), dtype=torch.float64, device=real.device)
    covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for _, d in distance_chunks(fake, real, batch_size):
        inside = d <= real_radii
        hits += inside.sum()
        covered |= inside.any(dim=0)
    density = float(hits) / (k * fake.shape[0])
    return DensityCoverage(density, float(covered.double().mean()))
