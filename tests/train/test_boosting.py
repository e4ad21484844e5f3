"""Boosted generator ensembles (fusegen.train.boosting) and the sample weights they train with."""

from __future__ import annotations

import math

import pytest
import torch

import fusegen
from fusegen.data import ImageDataset
from fusegen.train import train, train_generator_ensemble
from fusegen.train.boosting import boosted_weights, missed_real_images
from fusegen.train.recipes import split

TINY = dict(image_size=16, width=4, latent_dim=4, batch_size=8, device="cpu", progress=False)

# ----------------------------------------------------------------------------- missed_real_images

# Two clusters of four points, unit squares at (0, 0) and (10, 0): every point's 3rd nearest
# neighbour is in its own square, at sqrt(2).
SQUARES = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0],
                        [10.0, 0.0], [10.0, 1.0], [11.0, 0.0], [11.0, 1.0]])


def test_a_real_image_is_missed_unless_a_fake_lies_within_its_knn_radius():
    fake = torch.tensor([[0.5, 0.5]])  # inside the first square's radii only
    missed = missed_real_images(SQUARES, None, fake, None, k=3)
    assert missed.tolist() == [False] * 4 + [True] * 4
    # On the radius itself counts as inside: sqrt(2) from (0, 1) and (1, 1), more from the others.
    missed = missed_real_images(SQUARES, None, torch.tensor([[1.0, -1.0]]), None, k=3)
    assert missed.tolist() == [False, True, False, True] + [True] * 4


def test_only_fakes_of_the_same_class_cover_a_real_image():
    real = torch.cat([SQUARES, SQUARES + 100])
    real_labels = torch.tensor([0] * 8 + [1] * 8)
    # A class-0 fake in class 0's first square; a class-1 fake in class 0's second square.
    fake = torch.tensor([[0.5, 0.5], [10.5, 0.5], [110.5, 100.5]])
    fake_labels = torch.tensor([0, 1, 1])
    missed = missed_real_images(real, real_labels, fake, fake_labels, k=3)
    assert missed.tolist() == [False] * 4 + [True] * 4 + [True] * 4 + [False] * 4
    # Unlabelled, the second fake covers the second square.
    assert missed_real_images(real, None, fake, None, k=3).tolist() == [False] * 8 + [True] * 4 + [False] * 4


def test_a_class_without_fakes_is_all_missed_and_a_tiny_class_with_one_is_covered():
    real = torch.cat([SQUARES, SQUARES + 50, torch.tensor([[200.0, 0.0], [201.0, 0.0]])])
    real_labels = torch.tensor([0] * 8 + [1] * 8 + [2, 2])
    fake = torch.cat([SQUARES, torch.tensor([[-500.0, 0.0]])])  # far from class 2's two images
    fake_labels = torch.tensor([0] * 8 + [2])
    missed = missed_real_images(real, real_labels, fake, fake_labels, k=3)
    assert missed.tolist() == [False] * 8 + [True] * 8 + [False, False]


def test_missed_matches_a_brute_force_count():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 3, generator=g), torch.randn(25, 3, generator=g) + 0.5
    real_labels, fake_labels = torch.arange(40) % 2, torch.arange(25) % 2
    expected = torch.zeros(40, dtype=torch.bool)
    for c in (0, 1):
        r, f = real[real_labels == c], fake[fake_labels == c]
        radii = torch.cdist(r, r).sort(1).values[:, 3]
        expected[real_labels == c] = ~(torch.cdist(f, r) <= radii[None]).any(0)
    missed = missed_real_images(real, real_labels, fake, fake_labels, k=3)
    assert torch.equal(missed, expected) and 0 < int(missed.sum()) < 40


# ----------------------------------------------------------------------------- boosted_weights

def test_missed_images_weigh_boost_times_the_covered_ones_and_classes_keep_their_share():
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    missed = torch.tensor([1, 0, 0, 0, 1, 0, 1, 1, 1, 0], dtype=torch.bool)
    w = boosted_weights(missed, labels, 4.0)
    assert w.dtype == torch.float64 and (w > 0).all()
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    for c, share in ((0, 0.6), (1, 0.3), (2, 0.1)):
        rows = labels == c
        assert float(w[rows].sum()) == pytest.approx(share, abs=1e-12)
    assert float(w[0]) == pytest.approx(4 * float(w[1]), rel=1e-12)  # class 0: missed vs covered
    assert float(w[4]) == pytest.approx(float(w[0]), rel=1e-12)
    assert torch.allclose(w[6:9], torch.full((3,), 0.1, dtype=torch.float64))  # class 1: all missed


def test_unlabelled_weights_are_boost_against_one():
    missed = torch.tensor([True, False, False, True, False])
    w = boosted_weights(missed, None, 3.0)
    expected = torch.tensor([3.0, 1, 1, 3, 1], dtype=torch.float64) / 9
    torch.testing.assert_close(w, expected, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- train_generator_ensemble

def test_train_generator_ensemble_writes_members_and_their_mixture(tmp_path):
    pytest.importorskip("sklearn")
    result = train_generator_ensemble("dcgan", "digits", tmp_path, steps=3, members=2, conditional=True,
                                      boost=4.0, classes=[0, 1, 2], **TINY)
    for name in ("member-1/last.pt", "member-2/last.pt", "ensemble.pt"):
        assert (tmp_path / name).is_file()
    assert result["ensemble"] == str(tmp_path / "ensemble.pt") and len(result["members"]) == 2
    assert len(result["missed"]) == 1 and 0.0 <= result["missed"][0] <= 1.0
    ens = fusegen.load(tmp_path / "ensemble.pt")
    assert ens.names == ["member-1", "member-2"] and ens.num_classes == 3
    torch.testing.assert_close(ens.weights, torch.full((2,), 0.5))
    images = ens.sample(5, labels=torch.tensor([0, 1, 2, 0, 1]), generator=torch.Generator().manual_seed(0))
    assert images.shape == (5, 1, 16, 16) and 0 <= float(images.min()) and float(images.max()) <= 1
    with pytest.raises(FileExistsError, match="overwrite"):
        train_generator_ensemble("dcgan", "digits", tmp_path, steps=3, members=2, conditional=True,
                                 classes=[0, 1, 2], **TINY)


@pytest.mark.parametrize("bad", [dict(members=0), dict(members=True), dict(boost=0.5), dict(boost=math.nan),
                                 dict(boost=math.inf)])
def test_train_generator_ensemble_refuses_bad_members_and_boost(tmp_path, bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        train_generator_ensemble("dcgan", "digits", tmp_path, steps=1, **{**dict(members=2), **bad}, **TINY)
    assert not (tmp_path / "member-1").exists()


# ----------------------------------------------------------------------------- sample weights in train

@pytest.mark.parametrize("weights,message", [(torch.ones(5), r"sample_weights must be \(360,\)"),
                                             (-torch.ones(360), "finite and >= 0"),
                                             ([1.0] * 360, "must be a torch.Tensor")])
def test_train_checks_sample_weights(tmp_path, weights, message):
    pytest.importorskip("sklearn")
    with pytest.raises((ValueError, TypeError), match=message):  # digits 0 and 1: 178 + 182 images
        train("dcgan", "digits", tmp_path, 1, classes=[0, 1], sample_weights=weights, **TINY)


def test_refused_sample_weights_leave_an_earlier_run_in_place(tmp_path):
    pytest.importorskip("sklearn")
    train("dcgan", "digits", tmp_path, 1, classes=[0, 1], **TINY)
    with pytest.raises(ValueError, match="sample_weights"):
        train("dcgan", "digits", tmp_path, 1, classes=[0, 1], overwrite=True, sample_weights=torch.ones(5), **TINY)
    assert (tmp_path / "last.pt").is_file()


def test_sample_weights_are_for_generators_only(tmp_path):
    with pytest.raises(ValueError, match="sample_weights apply to gan and vae, not dncnn"):
        train("dncnn", "photos", tmp_path, 1, sample_weights=torch.ones(3), device="cpu", progress=False)


def test_split_draws_the_training_part_from_the_weighted_images_only():
    n = 40
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4) / n
    dataset = ImageDataset(images, torch.arange(n) % 4)
    plain_train, plain_val = split(dataset, 0.1, seed=5)
    held_out = {int(v) for v in (plain_val.images[:, 0, 0, 0] * n).round()}
    chosen = [i for i in range(n) if i not in held_out][:3]
    w = torch.zeros(n)
    w[chosen] = 1.0
    train_part, val_part = split(dataset, 0.1, seed=5, sample_weights=w)
    seen = (train_part.images[:, 0, 0, 0] * n).round().long()
    assert len(train_part) == len(plain_train) == 36
    assert set(seen.tolist()) <= set(chosen) and len(set(seen.tolist())) > 1
    assert torch.equal(train_part.labels, seen % 4)  # labels travel with their images
    assert torch.equal(val_part.images, plain_val.images)  # validation unchanged
    w_val = torch.zeros(n)
    w_val[sorted(held_out)] = 1.0
    with pytest.raises(ValueError, match="0 on every training image"):
        split(dataset, 0.1, seed=5, sample_weights=w_val)


def test_coverage_ratios_are_nearest_sample_over_knn_radius_within_each_class():
    from fusegen.train.boosting import coverage_ratios

    g = torch.Generator().manual_seed(0)
    real = torch.randn(12, 3, generator=g, dtype=torch.float64)
    labels = torch.tensor([0] * 6 + [1] * 6)
    fake = torch.randn(10, 3, generator=g, dtype=torch.float64)
    fake_labels = torch.tensor([0] * 5 + [1] * 5)
    ratios = coverage_ratios(real, labels, fake, fake_labels, k=2)
    for i in range(12):
        same = real[labels == labels[i]]
        radius = torch.cdist(real[i:i + 1], same)[0].sort().values[2]  # [0] is itself
        nearest = torch.cdist(real[i:i + 1], fake[fake_labels == labels[i]]).min()
        assert ratios[i].item() == pytest.approx((nearest / radius).item(), rel=1e-9)


def test_a_class_without_samples_has_infinite_ratios():
    from fusegen.train.boosting import coverage_ratios

    real = torch.randn(8, 2, dtype=torch.float64)
    labels = torch.tensor([0] * 4 + [1] * 4)
    ratios = coverage_ratios(real, labels, torch.randn(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.long))
    assert torch.isinf(ratios[4:]).all() and torch.isfinite(ratios[:4]).all()


def test_least_covered_picks_the_largest_ratios_of_each_class():
    from fusegen.train.boosting import least_covered

    ratios = torch.tensor([0.1, 5.0, 0.2, 0.3, 9.0, 0.5, 0.4, 7.0, 0.6], dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    picked = least_covered(ratios, labels, 1 / 3)
    assert picked.tolist() == [False, True, False, False, True, False, False, True, False]
    assert least_covered(ratios, None, 1 / 3).nonzero().flatten().tolist() == [1, 4, 7]
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="share"):
            least_covered(ratios, labels, bad)


def test_class_partition_splits_each_class_into_its_clusters():
    from fusegen.train.boosting import class_partition

    g = torch.Generator().manual_seed(0)
    blobs = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    features = torch.cat([blobs[k] + 0.1 * torch.randn(20, 2, generator=g) for k in range(3)] * 2)
    labels = torch.tensor([0] * 60 + [1] * 60)
    parts = class_partition(features, labels, 3, seed=1)
    for c in (0, 1):
        for k in range(3):  # the 20 images of one blob of one class share one cluster, alone
            blob = parts[c * 60 + k * 20: c * 60 + (k + 1) * 20]
            assert (blob == blob[0]).all()
        assert sorted(parts[c * 60:(c + 1) * 60].unique().tolist()) == [0, 1, 2]
    assert class_partition(features, None, 3).unique().numel() == 3
    assert class_partition(features[:2], torch.tensor([0, 0]), 3).tolist() == [0, 1]  # fewer images than parts
    with pytest.raises(ValueError, match="parts"):
        class_partition(features, labels, 0)


def test_partitioned_members_train_on_their_cluster_only(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    import fusegen.train.recipes as recipes

    seen = []
    original = recipes.train

    def spy(*args, sample_weights=None, **kwargs):
        seen.append(sample_weights)
        return original(*args, sample_weights=sample_weights, **kwargs)

    monkeypatch.setattr(recipes, "train", spy)
    result = train_generator_ensemble("dcgan", "digits", tmp_path, 2, members=2, conditional=True,
                                      classes=[0, 1], image_size=16, width=4, latent_dim=4, device="cpu",
                                      progress=False)
    assert len(seen) == 2 and result["missed"] == []
    first, second = seen
    assert torch.equal(first + second, torch.ones_like(first))  # every image in exactly one member
    assert 0 < float(first.sum()) < len(first)
    assert fusegen.load(result["ensemble"]).sample(4, labels=[0, 1, 0, 1]).shape == (4, 1, 16, 16)
