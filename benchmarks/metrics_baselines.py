"""Straightforward NumPy / SciPy / scikit-learn formulations of fusegen.metrics, as benchmark anchors.

Each is what one writes from the paper: whole distance matrices, scipy.linalg.sqrtm, a Python loop
over KID subsets. The scikit-learn ones follow the reference `prdc` code of Naeem et al.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.metrics import pairwise_distances


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0):
    rng = np.random.default_rng(seed)
    d, m = real.shape[1], subset_size
    values = []
    for _ in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)].astype(np.float64)
        y = fake[rng.choice(len(fake), m, replace=False)].astype(np.float64)
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        values.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def _radii(x: np.ndarray, k: int) -> np.ndarray:
    d = pairwise_distances(x, x)
    return np.partition(d, k, axis=1)[:, k]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3):
    real_r, fake_r = _radii(real, k), _radii(fake, k)
    d = pairwise_distances(real, fake)
    return float((d < real_r[:, None]).any(0).mean()), float((d < fake_r[None]).any(1).mean())


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5):
    real_r = _radii(real, k)
    d = pairwise_distances(real, fake)
    density = (d < real_r[:, None]).sum(0).mean() / k
    coverage = (d.min(1) < real_r).mean()
    return float(density), float(coverage)


def knn_distance(real: np.ndarray, fake: np.ndarray, k: int = 1) -> np.ndarray:
    d = pairwise_distances(fake, real)
    return np.partition(d, k - 1, axis=1)[:, k - 1]
