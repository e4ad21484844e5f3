"""Fréchet distance against closed forms for Gaussians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import linalg

import fusegen.metrics as M

from .conftest import gaussian


def test_identical_sets_give_zero(device):
    x = gaussian(500, 8, seed=0, device=device)
    assert M.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_shifted_gaussians_give_squared_shift(device):
    # N(0, I) vs N(mu, I): FD = |mu|². The sample means err by sqrt(2/n) per axis, so the
    # estimate has a standard deviation of about 2 |mu| sqrt(2/n) = 0.046 here: allow 4 of them.
    mu = torch.tensor([1.0, -2.0, 0.5, 0.0])
    real = gaussian(20000, 4, seed=1, device=device)
    fake = gaussian(20000, 4, seed=2, mean=mu, device=device)
    assert M.frechet_distance(real, fake) == pytest.approx(float(mu.dot(mu)), abs=0.2)


def test_diagonal_covariances_closed_form(device):
    # N(0, diag(a²)) vs N(0, diag(b²)): FD = sum (a - b)².
    a = torch.tensor([1.0, 2.0, 0.5])
    b = torch.tensor([3.0, 1.0, 0.5])
    real = gaussian(40000, 3, seed=3, std=a, device=device)
    fake = gaussian(40000, 3, seed=4, std=b, device=device)
    expected = float(((a - b) ** 2).sum())
    assert M.frechet_distance(real, fake) == pytest.approx(expected, rel=0.03)


def test_matches_scipy_sqrtm_formulation():
    real = gaussian(300, 10, seed=5)
    fake = gaussian(300, 10, seed=6, mean=0.3, std=torch.linspace(0.5, 2, 10)) @ torch.eye(10, dtype=torch.float64).roll(1, 0)
    r, f = real.numpy(), fake.numpy()
    s1, s2 = np.cov(r, rowvar=False), np.cov(f, rowvar=False)
    expected = (np.sum((r.mean(0) - f.mean(0)) ** 2) + np.trace(s1) + np.trace(s2)
                - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))
    assert M.frechet_distance(real, fake) == pytest.approx(expected, rel=1e-8)


def test_statistics_route_equals_direct_call():
    real, fake = gaussian(100, 5, seed=7), gaussian(120, 5, seed=8, mean=1.0)
    direct = M.frechet_distance(real, fake)
    via = M.frechet_distance_from_statistics(*M.feature_statistics(real), *M.feature_statistics(fake))
    assert via == pytest.approx(direct, rel=1e-12)


def test_float32_features_with_large_offset_stay_accurate():
    # A common offset of 1000 would wreck a one-pass E[x²] - E[x]² covariance in float32.
    real = gaussian(5000, 4, seed=9, dtype=torch.float32) + 1000
    fake = gaussian(5000, 4, seed=10, dtype=torch.float32) + 1001
    assert M.frechet_distance(real, fake) == pytest.approx(4.0, abs=0.1)


def test_too_few_samples_names_the_argument():
    with pytest.raises(ValueError, match=r"fake_feats has 10 samples of 16 features.*at least 17"):
        M.frechet_distance(gaussian(100, 16, seed=0), gaussian(10, 16, seed=1))
    with pytest.raises(ValueError, match="real_feats"):
        M.frechet_distance(gaussian(16, 16, seed=0), gaussian(100, 16, seed=1))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same feature dimension"):
        M.frechet_distance(gaussian(50, 3, seed=0), gaussian(50, 4, seed=1))
    with pytest.raises(ValueError, match=r"real_feats must have shape \(n, d\)"):
        M.frechet_distance(torch.zeros(10), gaussian(50, 4, seed=1))
    with pytest.raises(TypeError, match="fake_feats must be a floating-point"):
        M.frechet_distance(gaussian(50, 3, seed=0), torch.zeros(50, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="fake_feats contains NaN"):
        M.frechet_distance(gaussian(50, 3, seed=0), torch.full((50, 3), math.nan))
