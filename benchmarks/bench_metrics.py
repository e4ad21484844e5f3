"""pytest-benchmark suite: fusegen.metrics against straightforward NumPy / SciPy / scikit-learn.

    python -m pytest benchmarks/bench_metrics.py --benchmark-group-by=group
    python -m pytest benchmarks/bench_metrics.py -m "not slow"     # only the 5k x 64 features

Feature sets of n real and n generated samples (float32, fake = shifted and rescaled real-like
Gaussians); KID with its defaults (100 subsets of 1000). Each benchmark stores
``samples_per_s`` = (n_real + n_fake) / mean time in extra_info. The 10k x 2048 cases run once
(they take seconds to a minute each on a laptop CPU) and are marked slow.
PSNR/SSIM run on 16 colour 256x256 images against scikit-image's per-image functions.
"""

from __future__ import annotations

import functools

import pytest
import torch
from skimage import metrics as skm

import fusegen.metrics as M
import metrics_baselines as base

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
    "frechet_distance": base.frechet_distance,
    "kid": base.kid,
    "precision_recall": base.precision_recall,
    "density_coverage": base.density_coverage,
    "knn_distance": base.knn_distance,
}


def run(benchmark, fn, args, n_samples, big):
    rounds = 1 if big else 3
    result = benchmark.pedantic(fn, args=args, rounds=rounds, iterations=1, warmup_rounds=0 if big else 1)
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
