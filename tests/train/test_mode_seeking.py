"""The GAN task's mode-seeking term (Mao et al. 2019)."""

import copy

import pytest
import torch

from fusegen.models import DCGAN
from fusegen.train import GANTask
from fusegen.train.distributed import Distributed


def _task(weight, model):
    task = GANTask(copy.deepcopy(model), mode_seeking=weight)
    task.setup(torch.device("cpu"), Distributed(), amp=False)
    return task


def _step(task, seed=0):
    g = torch.Generator().manual_seed(1)
    batch = (torch.rand(8, 1, 16, 16, generator=g), torch.randint(0, 3, (8,), generator=g))
    torch.manual_seed(seed)
    return task.step(batch)


def test_fake_labels_come_in_pairs_that_share_a_label(monkeypatch):
    torch.manual_seed(0)
    task = _task(0.5, DCGAN(latent_dim=4, image_size=16, width=4, num_classes=3))
    seen = []
    real_generator = task.G

    def spy(z, labels):
        seen.append(labels.clone())
        return real_generator(z, labels)

    monkeypatch.setattr(task, "G", spy)
    _step(task)
    (labels,) = seen
    assert torch.equal(labels[:4], labels[4:])


def test_the_term_reaches_the_generator_and_grows_with_its_weight():
    torch.manual_seed(0)
    model = DCGAN(latent_dim=4, image_size=16, width=4, num_classes=3)
    moved = {}
    for weight in (1e-8, 1.0):  # a vanishing weight pairs labels the same way, without the term
        task = _task(weight, model)
        before = [p.detach().clone() for p in task.model.generator.parameters()]
        losses = _step(task)
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
        moved[weight] = [p.detach() - b for p, b in zip(task.model.generator.parameters(), before)]
    # Same data, labels and noise: only the term differs, and it changes the generator's update.
    assert any(not torch.allclose(a, b, atol=1e-7) for a, b in zip(moved[1e-8], moved[1.0]))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_weight_is_refused(bad):
    with pytest.raises(ValueError, match="mode_seeking"):
        GANTask(DCGAN(latent_dim=4, image_size=16, width=4), mode_seeking=bad)


def test_the_weight_travels_with_the_checkpoint():
    torch.manual_seed(0)
    model = DCGAN(latent_dim=4, image_size=16, width=4, num_classes=3)
    saved = _task(0.3, model).state_dict()
    resumed = _task(0.0, model)
    resumed.load_state_dict(saved)
    assert resumed.mode_seeking == 0.3
