"""KID: unbiased MMD² with the cubic polynomial kernel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusegen.metrics as M

from .conftest import gaussian


def numpy_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² written out with explicit off-diagonal masks."""
    d, m = x.shape[1], x.shape[0]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    off = ~np.eye(m, dtype=bool)
    return k(x, x)[off].mean() + k(y, y)[off].mean() - 2 * k(x, y).mean()


def test_one_full_subset_equals_the_formula():
    real, fake = gaussian(60, 5, seed=0), gaussian(60, 5, seed=1, mean=0.4)
    result = M.kid(real, fake, subsets=1, subset_size=60)
    # A subset of all rows is a permutation; MMD² does not depend on the order.
    assert result.mean == pytest.approx(numpy_mmd2(real.numpy(), fake.numpy()), rel=1e-10)
    assert result.std == 0.0


def test_same_distribution_is_near_zero(device):
    real, fake = gaussian(2000, 8, seed=2, device=device), gaussian(2000, 8, seed=3, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    mean, std = M.kid(real, fake, subsets=20, subset_size=500, generator=gen)
    assert abs(mean) < 4 * std / 20**0.5 + 1e-3


def test_identical_sets_are_near_zero():
    x = gaussian(2000, 8, seed=4)
    mean, _ = M.kid(x, x, subsets=20, subset_size=500, generator=torch.Generator().manual_seed(0))
    # Not exactly 0: the two subsets can share rows, which only the cross term counts.
    assert abs(mean) < 0.02


def test_different_distributions_are_positive(device):
    real = gaussian(1000, 8, seed=5, device=device)
    fake = gaussian(1000, 8, seed=6, mean=1.0, device=device)
    mean, std = M.kid(real, fake, subsets=10, subset_size=300)
    assert mean > 10 * std > 0


def test_generator_makes_it_reproducible():
    real, fake = gaussian(500, 4, seed=7), gaussian(500, 4, seed=8, mean=0.2)
    runs = [M.kid(real, fake, 5, 100, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert runs[0] == runs[1]
    other = M.kid(real, fake, 5, 100, generator=torch.Generator().manual_seed(4))
    assert other != runs[0]


def test_subset_batching_does_not_change_the_result():
    real, fake = gaussian(300, 4, seed=9), gaussian(300, 4, seed=10, mean=0.3)
    a = M.kid(real, fake, 7, 50, generator=torch.Generator().manual_seed(0), batch_subsets=1)
    b = M.kid(real, fake, 7, 50, generator=torch.Generator().manual_seed(0), batch_subsets=3)
    assert a.mean == pytest.approx(b.mean, rel=1e-12) and a.std == pytest.approx(b.std, rel=1e-12)


def test_subset_size_larger_than_a_set_is_named():
    with pytest.raises(ValueError, match=r"subset_size=1000 is larger than the 200 samples of fake_feats"):
        M.kid(gaussian(2000, 4, seed=0), gaussian(200, 4, seed=1))
    with pytest.raises(ValueError, match="subsets must be an integer >= 1"):
        M.kid(gaussian(20, 4, seed=0), gaussian(20, 4, seed=1), subsets=0, subset_size=10)
