"""Precision/recall and density/coverage on k-NN balls."""

from __future__ import annotations

import pytest
import torch

import fusegen.metrics as M

from .conftest import gaussian


def test_identical_sets_have_full_precision_and_recall(device):
    x = gaussian(400, 6, seed=0, device=device, dtype=torch.float32)
    assert M.precision_recall(x, x) == (1.0, 1.0)


def test_disjoint_sets_have_zero_precision_and_recall(device):
    real = gaussian(300, 4, seed=1, device=device)
    fake = gaussian(300, 4, seed=2, mean=50.0, device=device)
    assert M.precision_recall(real, fake) == (0.0, 0.0)


def test_mode_dropping_keeps_precision_but_loses_recall():
    # Real: two clusters; fake: samples of only one of them.
    real = torch.cat([gaussian(300, 4, seed=3), gaussian(300, 4, seed=4, mean=20.0)])
    fake = gaussian(300, 4, seed=5)
    precision, recall = M.precision_recall(real, fake)
    assert precision > 0.9
    assert 0.4 < recall < 0.6


def test_chunking_does_not_change_the_result():
    real, fake = gaussian(250, 5, seed=6), gaussian(230, 5, seed=7, mean=0.5)
    assert M.precision_recall(real, fake, batch_size=7) == M.precision_recall(real, fake)
    assert M.density_coverage(real, fake, batch_size=13) == M.density_coverage(real, fake)


def test_precision_recall_match_a_brute_force_count():
    real, fake, k = gaussian(80, 3, seed=8), gaussian(70, 3, seed=9, mean=0.7), 3
    rr, ff, fr = torch.cdist(real, real), torch.cdist(fake, fake), torch.cdist(fake, real)
    real_r = rr.sort(1).values[:, k]
    fake_r = ff.sort(1).values[:, k]
    precision = (fr <= real_r[None]).any(1).double().mean().item()
    recall = (fr.T <= fake_r[None]).any(1).double().mean().item()
    assert M.precision_recall(real, fake, k=k) == pytest.approx((precision, recall))


def test_same_distribution_density_and_coverage_near_their_expectations(device):
    real = gaussian(2000, 4, seed=10, device=device)
    fake = gaussian(2000, 4, seed=11, device=device)
    density, coverage = M.density_coverage(real, fake, k=5)
    assert density == pytest.approx(1.0, abs=0.1)
    assert coverage == pytest.approx(1 - 0.5**5, abs=0.03)  # Naeem et al.: 1 - 1/2^k, M = N


def test_identical_sets_are_fully_covered():
    x = gaussian(300, 4, seed=12)
    assert M.density_coverage(x, x).coverage == 1.0


def test_outliers_lower_density_not_coverage_much():
    real = gaussian(1000, 4, seed=13)
    fake = torch.cat([gaussian(900, 4, seed=14), gaussian(100, 4, seed=15, mean=30.0)])
    density, coverage = M.density_coverage(real, fake)
    assert density == pytest.approx(0.9, abs=0.1)
    assert coverage > 0.9


def test_k_must_fit_in_the_set():
    with pytest.raises(ValueError, match=r"k=5 needs more than k samples in real_feats, which has 5"):
        M.density_coverage(gaussian(5, 2, seed=0), gaussian(50, 2, seed=1))
    with pytest.raises(ValueError, match="fake_feats"):
        M.precision_recall(gaussian(50, 2, seed=0), gaussian(3, 2, seed=1))
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        M.precision_recall(gaussian(50, 2, seed=0), gaussian(50, 2, seed=1), k=0)
