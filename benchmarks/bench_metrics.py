"""pytest-benchmark suite: fusegen.metrics against straightforward NumPy / SciPy / scikit-learn.

    python -m pytest benchmarks/bench_metrics.py --benchmark-group-by=group
    python -m pytest benchmarks/bench_metrics.py -m "not slow"     # only the 5k x 64 features

Feature sets of n real and n generated samples (float32, fake = shifted and rescaled real-like
Gaussians); KID with its defaults (100 subsets of 1000). Each benchmark stores
``samples_per_s`` = (n_real + n_fake) / mean time in extra_info. The 10k x 2048 cases run once
(they take seconds to a minute each on a laptop CPU) and are marked slow.
PSNR/SSIM run on 16 colour 256x256 images against scikit-image's per-image functions.

The anchors (below) are what one writes from the papers: whole distance matrices,
``scipy.linalg.sqrtm``, a Python loop over KID subsets; the scikit-learn ones follow the reference
``prdc`` code of Naeem et al. They are timing anchors, not a second set of metrics: the project's
metrics are :mod:`fusegen.metrics`. ``test_anchors_agree`` checks, untimed, that each anchor
computes the same quantity as fusegen on a small feature set, so the timings compare like with
like. Needs SciPy, scikit-learn and scikit-image (each test is skipped without them).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import fusegen.metrics as M

linalg = pytest.importorskip("scipy.linalg", reason="the metric anchors need SciPy")
pairwise_distances = pytest.importorskip(
    "sklearn.metrics", reason="the metric anchors need scikit-learn").pairwise_distances
skm = pytest.importorskip("skimage.metrics", reason="the PSNR/SSIM anchors need scikit-image")


# --- anchors: straightforward NumPy / SciPy / scikit-learn formulations ------------------------

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


SIZES = {
    "5k x 64": pytest.param((5000, 64), id="5k x 64"),
    "10k x 2048": pytest.param((10000, 2048), id="10k x 2048", marks=pytest.mark.slow),
}
CUDA = torch.cuda.is_available()


@functools.lru_cache(maxsize=2)
def feature_sets(n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(n, d, generator=g)
    fake = 1.1 * torch.randn(n, d, generator=g) + 0.1
    return real, fake


FUSEGEN = {
    "frechet_distance": M.frechet_distance,
    "kid": M.kid,
    "precision_recall": M.precision_recall,
    "density_coverage": M.density_coverage,
    "knn_distance": M.knn_distance,
    "realism_score": M.realism_score,
    "classifier_two_sample_test": M.classifier_two_sample_test,
}
BASELINE = {
    "frechet_distance": frechet_distance,
    "kid": kid,
    "precision_recall": precision_recall,
    "density_coverage": density_coverage,
    "knn_distance": knn_distance,
}


def run(benchmark, fn, args, n_samples, big):
    rounds = 1 if big else 3
    result = benchmark.pedantic(fn, args=args, rounds=rounds, iterations=1, warmup_rounds=0 if big else 1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["samples_per_s"] = n_samples / benchmark.stats.stats.mean
    return result


@pytest.mark.parametrize("size", SIZES.values())
@pytest.mark.parametrize("metric", list(FUSEGEN))
@pytest.mark.parametrize("impl", ["fusegen-cpu", "fusegen-cuda", "baseline"])
def test_metric(benchmark, impl, metric, size):
    n, d = size
    if impl == "baseline" and metric not in BASELINE:
        pytest.skip(f"no straightforward anchor for {metric}")
    if impl == "fusegen-cuda" and not CUDA:
        pytest.skip("needs a CUDA GPU")
    benchmark.group = f"{metric} {n // 1000}k x {d}"
    real, fake = feature_sets(n, d)
    if impl == "baseline":
        run(benchmark, BASELINE[metric], (real.numpy(), fake.numpy()), 2 * n, d > 64)
        return
    if impl == "fusegen-cuda":
        real, fake = real.cuda(), fake.cuda()

    def call():
        out = FUSEGEN[metric](real, fake)
        if CUDA:
            torch.cuda.synchronize()
        return out

    run(benchmark, call, (), 2 * n, d > 64)


@functools.lru_cache(maxsize=1)
def image_pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(16, 3, 256, 256, generator=g)
    return (clean + 0.05 * torch.randn(clean.shape, generator=g)).clamp(0, 1), clean


@pytest.mark.parametrize("metric", ["psnr", "ssim"])
@pytest.mark.parametrize("impl", ["fusegen-cpu", "scikit-image"])
def test_image_metric(benchmark, impl, metric):
    benchmark.group = f"{metric} 16 x 3 x 256 x 256"
    x, y = image_pair()
    if impl == "fusegen-cpu":
        fn = getattr(M, metric)
        run(benchmark, fn, (x, y), x.shape[0], False)
        return
    xs, ys = x.numpy(), y.numpy()
    if metric == "psnr":
        def fn():
            return [skm.peak_signal_noise_ratio(b, a, data_range=1.0) for a, b in zip(xs, ys)]
    else:
        def fn():
            return [skm.structural_similarity(a, b, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False, data_range=1.0)
                    for a, b in zip(xs, ys)]
    run(benchmark, fn, (), x.shape[0], False)


def test_anchors_agree():
    """Untimed: every anchor computes fusegen's quantity (KID on subsets of every sample, so that
    both draw the same subsets)."""
    g = torch.Generator().manual_seed(1)
    real = torch.randn(400, 8, generator=g, dtype=torch.float64)
    fake = 1.1 * torch.randn(400, 8, generator=g, dtype=torch.float64) + 0.1
    r, f = real.numpy(), fake.numpy()
    assert M.frechet_distance(real, fake) == pytest.approx(frechet_distance(r, f), rel=1e-6)
    assert tuple(M.precision_recall(real, fake)) == pytest.approx(precision_recall(r, f), abs=1e-9)
    assert tuple(M.density_coverage(real, fake)) == pytest.approx(density_coverage(r, f), abs=1e-9)
    assert M.knn_distance(real, fake).numpy() == pytest.approx(knn_distance(r, f), rel=1e-6)
    ours = M.kid(real, fake, subsets=2, subset_size=len(real)).mean
    assert ours == pytest.approx(kid(r, f, subsets=2, subset_size=len(r))[0], rel=1e-9)
