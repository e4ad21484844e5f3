"""Ensemble weights of conditional generators by the class-weighted conditional MMD."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fusegen.models import Ensemble
from fusegen.models.ensemble.weights import conditional_mmd_quadratic, mmd_quadratic
from tests.conftest import assert_close

# Three classes of 8 features (images (1, 2, 4)), far apart, each with spread SPREAD around its mean.
MEANS = 1.5 * torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
SPREAD = 1.0


def flatten(images: torch.Tensor) -> torch.Tensor:
    return images.flatten(1)


def real_data(counts=(300, 200, 100), seed=1):
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    feats = MEANS[labels] + SPREAD * torch.randn(len(labels), 8, generator=g)
    return feats.view(-1, 1, 2, 4), labels


class Member(nn.Module):
    """A conditional 'generator' of (n, 1, 2, 4) images: for each label, ``collapsed``: the
    class mean; ``spread``: the class mean plus the real spread; ``blind``: the same as spread
    for the labels in a shuffled order (the pooled distribution is right, each class wrong)."""

    num_classes = 3

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def sample(self, n, labels=None, generator=None):
        y = torch.randint(0, 3, (n,), generator=generator) if labels is None else torch.as_tensor(labels).long()
        if self.how == "blind":
            y = y[torch.randperm(n, generator=generator)]  # the labels' classes, shuffled
        x = MEANS[y]
        if self.how != "collapsed":
            x = x + SPREAD * torch.randn(n, 8, generator=generator)
        return x.view(n, 1, 2, 4)


class Unconditional(Member):
    num_classes = 0


# ----------------------------------------------------------------------------- the quadratic

def _kernel_mean(x, y, same):
    k = (x.double() @ y.double().T / x.shape[1] + 1) ** 3
    if same:
        n = len(x)
        return float((k.sum() - k.diagonal().sum()) / (n * (n - 1)))
    return float(k.mean())


def test_conditional_quadratic_is_the_class_weighted_sum_of_per_class_quadratics():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(40, 5, generator=g, dtype=torch.float64)
    real_labels = torch.tensor([0] * 20 + [1] * 12 + [2] * 8)
    feats = [torch.randn(30, 5, generator=g, dtype=torch.float64) + k for k in range(2)]
    labels = [torch.arange(30) % 3, torch.tensor([0] * 10 + [1] * 10 + [2] * 10)[torch.randperm(30, generator=g)]]
    A, b, c = conditional_mmd_quadratic(feats, labels, real, real_labels)

    A_ref, b_ref, c_ref = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), 0.0
    A_plain, b_plain, c_plain = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), 0.0
    for cls, share in zip(range(3), (20 / 40, 12 / 40, 8 / 40)):
        picked = [f[y == cls] for f, y in zip(feats, labels)]
        r = real[real_labels == cls]
        A_c, b_c, c_c = mmd_quadratic(picked, r)
        A_ref, b_ref, c_ref = A_ref + share * A_c, b_ref + share * b_c, c_ref + share * c_c
        # The same from the kernel's definition, in plain PyTorch.
        for j in range(2):
            for k in range(2):
                A_plain[j, k] += share * _kernel_mean(picked[j], picked[k], same=j == k)
            b_plain[j] += share * _kernel_mean(picked[j], r, same=False)
        c_plain += share * _kernel_mean(r, r, same=True)
    assert_close(A, A_ref)
    assert_close(b, b_ref)
    assert c == pytest.approx(c_ref, rel=1e-12)
    torch.testing.assert_close(A, A_plain, rtol=1e-10, atol=0)
    torch.testing.assert_close(b, b_plain, rtol=1e-10, atol=0)
    assert c == pytest.approx(c_plain, rel=1e-10)


def test_conditional_quadratic_needs_two_samples_per_class():
    real, labels = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 0, 0, 1, 1, 2])
    feats = [torch.randn(9, 3, dtype=torch.float64)]
    with pytest.raises(ValueError, match="class 2 has 1 real sample"):
        conditional_mmd_quadratic(feats, [torch.arange(9) % 3], real, labels)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="member 0 has 1 sample"):
        conditional_mmd_quadratic(feats, [torch.tensor([0] * 8 + [1])], real, labels)
    with pytest.raises(ValueError, match="member_labels must hold one tensor per member"):
        conditional_mmd_quadratic(feats, [], real, labels)


# ----------------------------------------------------------------------------- Ensemble.fit_weights

def test_with_real_labels_the_weights_go_to_the_member_that_covers_each_class():
    real, real_labels = real_data()
    ens = Ensemble([Member("collapsed"), Member("spread")], mode="mixture")
    w = ens.fit_weights(real=real, real_labels=real_labels, feature_fn=flatten, n=600,
                        generator=torch.Generator().manual_seed(3))
    assert float(w[1]) > 0.9
    assert ens.last_fit["objective"].startswith("class-weighted")
    assert ens.last_fit["after"] < ens.last_fit["before"]


def test_pooled_and_conditional_mmd_disagree_on_a_generator_that_ignores_labels():
    # 'blind' draws, for the batch of labels, the right images in a shuffled order: the pooled MMD
    # sees the data's distribution; per class it draws the wrong classes, and the collapsed member
    # (the right class, without its spread) is closer.
    real, real_labels = real_data()
    members = [Member("collapsed"), Member("blind")]
    # Pooled: both members draw for the real labels themselves (the same class proportions).
    pooled = Ensemble(members, mode="mixture").fit_weights(real=real, labels=real_labels, feature_fn=flatten,
                                                           n=len(real), generator=torch.Generator().manual_seed(4))
    conditional = Ensemble(members, mode="mixture").fit_weights(real=real, real_labels=real_labels,
                                                                feature_fn=flatten, n=len(real),
                                                                generator=torch.Generator().manual_seed(4))
    assert float(pooled[1]) > 0.9
    assert float(conditional[0]) > 0.9


def test_real_labels_errors():
    real, real_labels = real_data(counts=(5, 5, 5))
    conditional = Ensemble([Member("collapsed"), Member("spread")], mode="mixture")
    with pytest.raises(ValueError, match="unconditional"):
        Ensemble([Unconditional("spread"), Unconditional("collapsed")], mode="mixture").fit_weights(
            real=real, real_labels=real_labels, feature_fn=flatten, n=10)
    with pytest.raises(ValueError, match=r"real_labels must be \(15,\)"):
        conditional.fit_weights(real=real, real_labels=real_labels[:-1], feature_fn=flatten, n=10)
    with pytest.raises(ValueError, match=r"real_labels must be \(15,\)"):
        conditional.fit_weights(real=real, real_labels=real_labels[:, None], feature_fn=flatten, n=10)
    with pytest.raises(ValueError, match="leave labels"):
        conditional.fit_weights(real=real, real_labels=real_labels, labels=torch.zeros(10, dtype=torch.long),
                                feature_fn=flatten, n=10)
    with pytest.raises(ValueError, match="leave labels and member_features out"):
        conditional.fit_weights(real=real, real_labels=real_labels, feature_fn=flatten,
                                member_features=[flatten(real), flatten(real)])


# ----------------------------------------------------------------------------- Ensemble.report

def test_report_scores_within_class_diversity_lower_for_the_collapsed_member():
    real, real_labels = real_data(counts=(100, 80, 60))
    ens = Ensemble([Member("collapsed"), Member("spread")], mode="mixture", names=["collapsed", "spread"])
    rows = ens.report(real=real, real_labels=real_labels, feature_fn=flatten, n=200,
                      generator=torch.Generator().manual_seed(5), kid_subsets=5)
    by_name = {r["name"]: r for r in rows}
    assert list(by_name) == ["collapsed", "spread", "ensemble"]
    assert all("within_class_diversity" in r for r in rows)
    assert by_name["collapsed"]["within_class_diversity"] == 0.0
    assert by_name["spread"]["within_class_diversity"] == pytest.approx(1.0, abs=0.1)
    assert 0 < by_name["ensemble"]["within_class_diversity"] < by_name["spread"]["within_class_diversity"]
    # Without real_labels there is no such column.
    plain = ens.report(real=real, feature_fn=flatten, n=200, generator=torch.Generator().manual_seed(5),
                       kid_subsets=5)
    assert not any("within_class_diversity" in r for r in plain)


# --- coverage weights ------------------------------------------------------------------------

def _coverage_reference(members, real, w, k=5):
    """Naeem et al.'s coverage plus Kynkaeaenniemi's precision (real balls only) of the mixture
    drawing the first round(w_k n_k) samples of each member."""
    radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values
    drawn = torch.cat([f[:int(round(float(wk) * len(f)))] for f, wk in zip(members, w)])
    inside = torch.cdist(drawn, real) <= radii[None]
    return float(inside.any(dim=0).double().mean()) + float(inside.any(dim=1).double().mean())


def test_coverage_weights_maximise_the_coverage_over_the_grid():
    from fusegen.models.ensemble.weights import coverage_mixture_weights

    g = torch.Generator().manual_seed(0)
    real = torch.randn(120, 2, generator=g, dtype=torch.float64)
    left = torch.randn(150, 2, generator=g, dtype=torch.float64) * 0.3 + torch.tensor([1.0, 0.0], dtype=torch.float64)
    right = torch.randn(150, 2, generator=g, dtype=torch.float64) * 0.3 - torch.tensor([1.0, 0.0], dtype=torch.float64)
    w, score, uniform_score = coverage_mixture_weights([left, right], real, score_weights=torch.tensor([0.5, 0.5]))
    grid = [torch.tensor([i / 10, 1 - i / 10], dtype=torch.float64) for i in range(11)]
    best = max(_coverage_reference([left, right], real, v) for v in grid)
    assert score == pytest.approx(best) and score == pytest.approx(_coverage_reference([left, right], real, w))
    assert uniform_score == pytest.approx(_coverage_reference([left, right], real, grid[5]))
    assert 0 < float(w[0]) < 1  # two halves of the data: both members are kept


def test_coverage_weights_do_not_keep_a_member_that_adds_nothing():
    from fusegen.models.ensemble.weights import coverage_mixture_weights

    g = torch.Generator().manual_seed(1)
    real = torch.randn(100, 2, generator=g, dtype=torch.float64)
    everywhere = torch.randn(200, 2, generator=g, dtype=torch.float64)
    far = torch.randn(200, 2, generator=g, dtype=torch.float64) + 50  # covers no real ball
    w, score, _ = coverage_mixture_weights([far, everywhere], real)
    assert w.tolist() == [0.0, 1.0] and score > 1.6


def test_coverage_weights_are_per_class_with_labels():
    from fusegen.models.ensemble.weights import coverage_mixture_weights

    g = torch.Generator().manual_seed(2)
    real = torch.randn(80, 2, generator=g, dtype=torch.float64)
    real_labels = torch.tensor([0, 1] * 40)
    samples = torch.randn(100, 2, generator=g, dtype=torch.float64)
    right_labels, wrong_labels = torch.tensor([0, 1] * 50), torch.full((100,), 5)
    # the same points, drawn for labels the real data does not have, cover nothing
    w, score, _ = coverage_mixture_weights([samples, samples], real, [wrong_labels, right_labels], real_labels)
    assert w.tolist() == [0.0, 1.0] and score > 1.0


@pytest.mark.parametrize("kwargs,message", [
    (dict(resolution=0), "resolution"),
    (dict(member_labels=[torch.zeros(10, dtype=torch.long)]), "both member_labels and real_labels"),
])
def test_coverage_weights_reject_bad_arguments(kwargs, message):
    from fusegen.models.ensemble.weights import coverage_mixture_weights

    with pytest.raises(ValueError, match=message):
        coverage_mixture_weights([torch.randn(10, 2)], torch.randn(20, 2), **kwargs)


def test_fit_weights_by_coverage_keeps_the_member_that_covers_each_class():
    real, real_labels = real_data()
    ens = Ensemble([Member("collapsed"), Member("blind"), Member("spread")], mode="mixture")
    w = ens.fit_weights(real=real, real_labels=real_labels, feature_fn=flatten, n=600, method="coverage",
                        generator=torch.Generator().manual_seed(3))
    assert float(w[2]) >= 0.5 and ens.last_fit["method"] == "coverage"
    assert ens.last_fit["objective"].startswith("coverage + precision") and "per class" in ens.last_fit["objective"]
    assert ens.last_fit["after"] >= ens.last_fit["before"]  # the uniform start is on the grid


def test_fit_weights_rejects_an_unknown_mixture_method():
    real, real_labels = real_data()
    ens = Ensemble([Member("collapsed"), Member("spread")], mode="mixture")
    with pytest.raises(ValueError, match="'mmd' or 'coverage'"):
        ens.fit_weights(real=real, real_labels=real_labels, feature_fn=flatten, method="lstsq")
