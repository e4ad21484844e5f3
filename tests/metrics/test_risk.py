"""Per-sample risks: realism score, k-NN distance, classifier two-sample test."""

from __future__ import annotations

import pytest
import torch

import fusegen.metrics as M

from .conftest import gaussian


def test_realism_is_high_inside_and_low_outside_the_real_set(device):
    real = gaussian(500, 4, seed=0, device=device)
    inside = gaussian(50, 4, seed=1, std=0.3, device=device)
    outside = gaussian(50, 4, seed=2, mean=10.0, device=device)
    scores = M.realism_score(real, torch.cat([inside, outside]))
    assert scores.shape == (100,)
    assert (scores[:50] >= 1).float().mean() > 0.9   # inside some real ball
    assert (scores[50:] < 1).all()                   # outside every real ball


def test_realism_matches_the_formula_on_the_kept_balls():
    real, fake, k = gaussian(40, 3, seed=3), gaussian(10, 3, seed=4, mean=0.5), 3
    radii = torch.cdist(real, real).sort(1).values[:, k]
    keep = radii.argsort()[:20]
    expected = (radii[keep] / torch.cdist(fake, real[keep])).amax(1)
    torch.testing.assert_close(M.realism_score(real, fake, k=k, keep_fraction=0.5), expected)


def test_a_copy_of_a_real_sample_scores_finite_and_huge():
    real = gaussian(50, 3, seed=5)
    score = M.realism_score(real, real[:1], keep_fraction=1.0)
    assert torch.isfinite(score).all() and score.item() > 1e6


def test_knn_distance_is_zero_for_copies_and_matches_cdist(device):
    real, fake = gaussian(60, 5, seed=6, device=device), gaussian(30, 5, seed=7, device=device)
    assert M.knn_distance(real, real[:7]).abs().max().item() < 1e-6
    expected = torch.cdist(fake, real).sort(1).values[:, 2]
    torch.testing.assert_close(M.knn_distance(real, fake, k=3, batch_size=8), expected)


def test_two_sample_test_finds_a_shift_and_flags_the_odd_samples():
    real = gaussian(400, 8, seed=8, dtype=torch.float32)
    fake = torch.cat([gaussian(300, 8, seed=9, dtype=torch.float32),
                      gaussian(100, 8, seed=10, mean=4.0, dtype=torch.float32)])
    test = M.classifier_two_sample_test(real, fake)
    # A perfect classifier spots the shifted quarter of the fake set: balanced accuracy 0.625.
    assert 0.55 < test.accuracy <= 0.7 and test.p_value < 1e-6
    assert test.fake_risk.shape == (400,)
    assert ((test.fake_risk >= 0) & (test.fake_risk <= 1)).all()
    # The shifted quarter is what gives the fake set away: it carries the risk.
    assert test.fake_risk[300:].mean() > 0.9 > test.fake_risk[:300].mean()


def test_two_sample_test_is_near_chance_on_one_distribution():
    real = gaussian(500, 8, seed=11, dtype=torch.float32)
    fake = gaussian(500, 8, seed=12, dtype=torch.float32)
    test = M.classifier_two_sample_test(real, fake, hidden=0)
    assert abs(test.accuracy - 0.5) < 0.08
    assert test.p_value > 0.001


def test_two_sample_test_is_deterministic_for_a_seed():
    real, fake = gaussian(100, 4, seed=13), gaussian(100, 4, seed=14, mean=0.5)
    a = M.classifier_two_sample_test(real, fake, steps=50, seed=1)
    b = M.classifier_two_sample_test(real, fake, steps=50, seed=1)
    assert a.accuracy == b.accuracy and torch.equal(a.fake_risk, b.fake_risk)


def test_risk_arguments_are_named():
    real, fake = gaussian(20, 2, seed=0), gaussian(20, 2, seed=1)
    with pytest.raises(ValueError, match="folds must be >= 2"):
        M.classifier_two_sample_test(real, fake, folds=1)
    with pytest.raises(ValueError, match="keep_fraction"):
        M.realism_score(real, fake, keep_fraction=0)
    with pytest.raises(ValueError, match="k=30 is larger than real_feats"):
        M.knn_distance(real, fake, k=30)


def test_hidden_layer_catches_a_difference_that_a_linear_classifier_cannot():
    # Same mean, twice the spread: no hyperplane separates the sets, a ReLU layer can.
    real = gaussian(400, 2, seed=15, dtype=torch.float32)
    fake = gaussian(400, 2, seed=16, std=2.0, dtype=torch.float32)
    linear = M.classifier_two_sample_test(real, fake, hidden=0)
    mlp = M.classifier_two_sample_test(real, fake, hidden=16)
    assert linear.accuracy < 0.6
    assert mlp.accuracy > 0.65 and mlp.p_value < 1e-6
