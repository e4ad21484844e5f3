"""The evaluate helper and the ``fusegen evaluate`` command."""

from __future__ import annotations

import pytest
import torch

import fusegen.metrics as M

from .conftest import gaussian

METRICS = ("frechet_distance", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")


def test_evaluate_on_features_equals_the_separate_calls():
    real, fake = gaussian(200, 4, seed=0), gaussian(150, 4, seed=1, mean=0.5)
    out = M.evaluate(real, fake, kid_subsets=5, kid_subset_size=100, seed=2)
    assert out["frechet_distance"] == M.frechet_distance(real, fake)
    assert (out["kid_mean"], out["kid_std"]) == M.kid(real, fake, 5, 100, generator=torch.Generator().manual_seed(2))
    assert (out["precision"], out["recall"]) == M.precision_recall(real, fake)
    assert (out["density"], out["coverage"]) == M.density_coverage(real, fake)
    assert "confidence_risk" not in out


def test_evaluate_on_images_with_risks():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(40, 1, 8, 8, generator=g), torch.rand(30, 1, 8, 8, generator=g) ** 3
    extractor = M.FeatureExtractor.random(1, feature_dim=8)
    out = M.evaluate(real, fake, extractor, kid_subsets=3, risk=True)
    assert out["feature_dim"] == 8 and out["n_fake"] == 30
    for key in ("confidence_risk", "realism", "knn_distance"):
        assert out[key].shape == (30,)
    assert 0 <= out["c2st_accuracy"] <= 1


def test_digits_held_out_real_is_closer_than_noisy_digits():
    """End to end on scikit-learn's digits: trained features rank a corrupted set as further away."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    images = torch.tensor(digits.images[:600], dtype=torch.float32)[:, None] / 16
    labels = torch.tensor(digits.target[:600])
    train, held_out = images[:300], images[300:]
    noisy = (held_out + 0.4 * torch.randn(held_out.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    extractor = M.FeatureExtractor.train_classifier(train, labels[:300], feature_dim=16, width=8, epochs=8)
    clean = M.evaluate(train, held_out, extractor, kid_subsets=10, kid_subset_size=200)
    corrupted = M.evaluate(train, noisy, extractor, kid_subsets=10, kid_subset_size=200)
    assert clean["frechet_distance"] < corrupted["frechet_distance"]
    assert clean["kid_mean"] < corrupted["kid_mean"]
    assert clean["precision"] > corrupted["precision"]
