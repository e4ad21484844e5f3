"""GANTask's losses (non-saturating, hinge), DiffAugment and the discriminator's own learning rate."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from fusegen.models import DCGAN
from fusegen.train import GANTask
from fusegen.train.distributed import Distributed


def _model(**kw) -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(latent_dim=4, image_size=16, width=4, num_classes=3, **kw)


def _task(**options) -> GANTask:
    task = GANTask(_model(), **options)
    task.setup(torch.device("cpu"), Distributed(), amp=False)
    return task


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(8, 1, 16, 16, generator=g), torch.randint(0, 3, (8,), generator=g)


LOGITS = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.25, 0.9, 1.0, 2.5])


def test_hinge_loss_matches_its_definition():
    task = GANTask(_model(), loss="hinge")
    torch.testing.assert_close(task._d_loss(LOGITS, real=True), F.relu(1 - LOGITS).mean())
    torch.testing.assert_close(task._d_loss(LOGITS, real=False), F.relu(1 + LOGITS).mean())
    assert float(task._d_loss(torch.tensor([1.0, 2.0]), real=True)) == 0.0  # beyond the margin


def test_non_saturating_loss_matches_its_definition():
    task = GANTask(_model(), loss="ns")
    torch.testing.assert_close(task._d_loss(LOGITS, real=True), F.softplus(-LOGITS).mean())
    torch.testing.assert_close(task._d_loss(LOGITS, real=False), F.softplus(LOGITS).mean())
    # -log sigmoid(D) on real, -log(1 - sigmoid(D)) on fake.
    torch.testing.assert_close(task._d_loss(LOGITS, real=True), -torch.log(torch.sigmoid(LOGITS)).mean())
    assert GANTask(_model()).loss == "ns"  # the default


@pytest.mark.parametrize("bad", ["wgan", "Hinge", "", None])
def test_unknown_losses_are_refused(bad):
    with pytest.raises(ValueError, match="loss must be one of"):
        GANTask(_model(), loss=bad)


@pytest.mark.parametrize("bad", [0, 0.0, -1, math.nan, math.inf])
def test_bad_discriminator_learning_rates_are_refused(bad):
    with pytest.raises(ValueError, match="d_lr"):
        GANTask(_model(), d_lr=bad)


def test_bad_augment_is_refused():
    with pytest.raises(ValueError, match="augment"):
        GANTask(_model(), augment="translation,zoom")


def test_the_discriminator_gets_its_own_learning_rate():
    task = _task(lr=1e-4, d_lr=4e-4)
    assert [g["lr"] for g in task.optimizers["generator"].param_groups] == [1e-4]
    assert [g["lr"] for g in task.optimizers["discriminator"].param_groups] == [4e-4]
    plain = _task(lr=3e-4)  # without d_lr, both at lr
    assert [g["lr"] for g in plain.optimizers["discriminator"].param_groups] == [3e-4]


COMBINATIONS = list(itertools.product(["ns", "hinge"], [None, "translation,cutout,color"]))


@pytest.mark.parametrize("loss,augment", COMBINATIONS)
def test_one_step_for_every_loss_and_augmentation(loss, augment):
    task = _task(loss=loss, augment=augment, d_lr=1e-3)
    before = {name: [p.detach().clone() for p in getattr(task.model, name).parameters()]
              for name in ("generator", "discriminator")}
    torch.manual_seed(0)
    losses = task.step(_batch())
    assert set(losses) == {"loss_d", "loss_g"} and all(math.isfinite(v) for v in losses.values())
    for name, old in before.items():  # both networks took a step
        assert any(not torch.equal(p, q) for p, q in zip(getattr(task.model, name).parameters(), old))


def test_augmentation_reaches_the_discriminator(monkeypatch):
    seen = []
    task = _task(augment="cutout")
    real_d = task.D

    def spy(x, labels):
        seen.append(x.detach().clone())
        return real_d(x, labels)

    monkeypatch.setattr(task, "D", spy)
    images, labels = _batch()
    task.step((images, labels))
    # The first call sees the real batch, with a square cut out of every image (0 in [-1, 1]).
    real_seen = seen[0]
    assert real_seen.shape == images.shape
    assert ((real_seen == 0).flatten(1).sum(1) > 0).all()
    assert not torch.equal(real_seen, images * 2 - 1)


def test_options_travel_with_the_task_state():
    saved = _task(loss="hinge", augment="translation,color", d_lr=5e-4).state_dict()
    resumed = _task()
    resumed.load_state_dict(saved)
    assert resumed.loss == "hinge" and resumed.augment == ("translation", "color") and resumed.d_lr == 5e-4
    assert [g["lr"] for g in resumed.optimizers["discriminator"].param_groups] == [5e-4]


def test_a_state_from_before_the_options_loads_as_the_old_defaults():
    saved = _task().state_dict()
    for key in ("loss", "augment", "d_lr"):
        del saved[key]
    resumed = _task(loss="hinge", augment="cutout", d_lr=1e-3)
    resumed.load_state_dict(saved)
    assert resumed.loss == "ns" and resumed.augment == () and resumed.d_lr is None
