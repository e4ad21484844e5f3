"""Within-class diversity and the mean pairwise distance it is made of."""

from __future__ import annotations

import itertools

import pytest
import torch

import fusegen.metrics as M

from .conftest import gaussian


def _classes(sizes, d=4, seed=0, spacing=10.0):
    """Features of len(sizes) Gaussian classes, class c around c * spacing, with their labels."""
    feats = torch.cat([gaussian(n, d, seed=seed + c, mean=c * spacing) for c, n in enumerate(sizes)])
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(sizes)])
    return feats, labels


def _scaled_about_class_means(feats, labels, scale):
    out = feats.clone()
    for c in labels.unique():
        rows = labels == c
        mean = feats[rows].mean(0)
        out[rows] = mean + scale * (feats[rows] - mean)
    return out


def test_mean_pairwise_distance_matches_a_double_loop():
    x = gaussian(13, 3, seed=1)
    total = sum(float(torch.linalg.norm(x[i] - x[j])) for i, j in itertools.permutations(range(13), 2))
    assert M.mean_pairwise_distance(x) == pytest.approx(total / (13 * 12), rel=1e-8)
    assert M.mean_pairwise_distance(x[:2]) == pytest.approx(float(torch.linalg.norm(x[0] - x[1])), rel=1e-8)


def test_mean_pairwise_distance_needs_two_rows():
    with pytest.raises(ValueError, match="feats"):
        M.mean_pairwise_distance(gaussian(1, 3, seed=0))


def test_identical_sets_score_one():
    feats, labels = _classes([20, 30, 25])
    assert M.within_class_diversity(feats, labels, feats, labels) == pytest.approx(1.0, rel=1e-8)


def test_halving_the_spread_about_each_class_mean_scores_one_half():
    feats, labels = _classes([20, 30])
    fake = _scaled_about_class_means(feats, labels, 0.5)
    assert M.within_class_diversity(feats, labels, fake, labels) == pytest.approx(0.5, rel=1e-8)


def test_one_image_per_class_scores_zero():
    feats, labels = _classes([20, 30])
    fake = _scaled_about_class_means(feats, labels, 0.0)[[0, 1, 2, 25, 26]]
    assert M.within_class_diversity(feats, labels, fake, labels[[0, 1, 2, 25, 26]]) == 0.0


def test_the_ratio_is_averaged_over_classes_not_pooled():
    # Class 0 (10 samples): the real spread; class 1 (40 samples): half of it. Mean of ratios: 0.75.
    feats, labels = _classes([10, 40])
    fake = torch.where((labels == 1)[:, None], _scaled_about_class_means(feats, labels, 0.5), feats)
    assert M.within_class_diversity(feats, labels, fake, labels) == pytest.approx(0.75, rel=1e-8)


def test_fake_sets_of_other_sizes_and_orders_are_compared_per_class():
    real, real_labels = _classes([30, 30], seed=3)
    fake, fake_labels = _classes([50, 20], seed=10)  # other samples of the same distributions
    order = torch.randperm(70, generator=torch.Generator().manual_seed(0))
    ratios = [M.mean_pairwise_distance(fake[fake_labels == c]) / M.mean_pairwise_distance(real[real_labels == c])
              for c in (0, 1)]
    expected = sum(ratios) / 2
    score = M.within_class_diversity(real, real_labels, fake[order], fake_labels[order])
    assert score == pytest.approx(expected, rel=1e-8)
    assert 0.8 < score < 1.2


def test_classes_missing_or_too_small_are_skipped():
    real, real_labels = _classes([20, 20, 20, 1])
    scaled = _scaled_about_class_means(real, real_labels, 0.5)
    # Class 0: in both sets (ratio 0.5). Class 1: one generated sample. Class 2: none generated.
    # Class 3: one real sample (three generated). Class 7: generated only.
    fake = torch.cat([scaled[:20], scaled[20:21], gaussian(3, 4, seed=8, mean=30.0), gaussian(2, 4, seed=9)])
    fake_labels = torch.tensor([0] * 20 + [1] + [3] * 3 + [7] * 2)
    assert M.within_class_diversity(real, real_labels, fake, fake_labels) == pytest.approx(0.5, rel=1e-8)


def test_classes_whose_real_samples_are_all_equal_are_skipped():
    real, labels = _classes([10, 10])
    real[:10] = real[0]  # class 0 has no real spread to compare with
    fake = _scaled_about_class_means(real, labels, 0.25)
    assert M.within_class_diversity(real, labels, fake, labels) == pytest.approx(0.25, rel=1e-8)


def test_no_usable_class_is_an_error():
    real, labels = _classes([10, 10])
    with pytest.raises(ValueError, match="within_class_diversity needs a class"):
        M.within_class_diversity(real, labels, real[[0, 10]], labels[[0, 10]])  # one sample per class
    with pytest.raises(ValueError, match="within_class_diversity needs a class"):
        M.within_class_diversity(real, labels, real[:5], torch.full((5,), 4))  # no shared class


@pytest.mark.parametrize("bad,error,message", [
    (torch.zeros(19, dtype=torch.long), ValueError, r"real_labels must be \(20,\)"),
    (torch.zeros(20, 1, dtype=torch.long), ValueError, r"real_labels must be \(20,\)"),
    (torch.zeros(20), ValueError, "integer labels"),
    ([0] * 20, TypeError, "real_labels must be a torch.Tensor"),
])
def test_bad_labels_name_the_argument(bad, error, message):
    real, labels = _classes([10, 10])
    with pytest.raises(error, match=message):
        M.within_class_diversity(real, bad, real, labels)
    with pytest.raises(error, match=message.replace("real_labels", "fake_labels")):
        M.within_class_diversity(real, labels, real, bad)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_features_are_refused(value):
    real, labels = _classes([10, 10])
    broken = real.clone()
    broken[3, 1] = value
    with pytest.raises(ValueError, match="real_feats contains NaN"):
        M.within_class_diversity(broken, labels, real, labels)
    with pytest.raises(ValueError, match="fake_feats contains NaN"):
        M.within_class_diversity(real, labels, broken, labels)
    with pytest.raises(ValueError, match="NaN"):
        M.mean_pairwise_distance(broken)


def test_a_class_of_more_than_25_identical_real_samples_is_skipped():
    g = torch.Generator().manual_seed(0)
    same = (torch.randn(1, 64, generator=g, dtype=torch.float64) * 3.7 + 1.3).expand(30, 64)
    other = torch.randn(30, 64, generator=g, dtype=torch.float64)
    real, labels = torch.cat([same, other]), torch.tensor([0] * 30 + [1] * 30)
    fake = torch.cat([same + 0.1 * torch.randn(30, 64, generator=g, dtype=torch.float64), other])
    # Class 0 has no real spread and is skipped (as it is with 25 rows or fewer); class 1: ratio 1.
    assert M.within_class_diversity(real, labels, fake, labels) == pytest.approx(1.0, rel=1e-8)
