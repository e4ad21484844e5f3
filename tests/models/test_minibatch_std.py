"""The minibatch standard deviation feature of the DCGAN discriminator (Karras et al. 2018)."""

from __future__ import annotations

import pytest
import torch

import fusegen
from fusegen.checkpoint import load_checkpoint, save_checkpoint, save_model
from fusegen.models import DCGAN
from fusegen.models.dcgan import DCGANDiscriminator, minibatch_stddev


def reference(h: torch.Tensor, group: int) -> torch.Tensor:
    """The extra channel, image by image: g the largest divisor of n up to ``group``; images
    i, i + n/g, ... form a group; the mean over (C, H, W) of sqrt(population variance + 1e-8)."""
    n = h.shape[0]
    g = max(d for d in range(1, group + 1) if d <= n and n % d == 0)
    stride = n // g
    spread = torch.empty(n, dtype=torch.float64)
    for i in range(stride):
        members = [i + k * stride for k in range(g)]
        y = h[members].double()
        variance = ((y - y.mean(0, keepdim=True)) ** 2).mean(0)
        spread[members] = (variance + 1e-8).sqrt().mean()
    return spread


@pytest.mark.parametrize("n,group", [(8, 4), (6, 4), (5, 4), (1, 4), (8, 2), (4, 8)])
def test_the_new_channel_matches_a_reference(n, group):
    h = torch.randn(n, 3, 4, 4, generator=torch.Generator().manual_seed(n))
    out = minibatch_stddev(h, group)
    assert out.shape == (n, 4, 4, 4) and out.dtype == h.dtype
    assert torch.equal(out[:, :3], h)
    expected = reference(h, group).float()[:, None, None].expand(n, 4, 4)
    torch.testing.assert_close(out[:, 3], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n", [5, 1])
def test_groups_of_one_image_give_the_floor(n):
    # 5 images in groups of up to 4: only 1 divides 5; each image alone has no spread.
    out = minibatch_stddev(torch.randn(n, 2, 4, 4), 4)
    torch.testing.assert_close(out[:, 2], torch.full((n, 4, 4), 1e-4), rtol=1e-4, atol=0)


def test_six_images_in_groups_of_four_form_two_groups_of_three():
    h = torch.zeros(6, 1, 4, 4)
    h[0] = 3.0  # group {0, 2, 4} spreads; group {1, 3, 5} does not
    out = minibatch_stddev(h, 4)[:, 1, 0, 0]
    torch.testing.assert_close(out[[0, 2, 4]], torch.full((3,), (2.0 + 1e-8) ** 0.5))
    torch.testing.assert_close(out[[1, 3, 5]], torch.full((3,), 1e-4))


def _tiny(**kw) -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(latent_dim=4, image_size=16, width=4, num_classes=3, **kw).eval()


def test_the_discriminator_sees_its_group_and_only_its_group():
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    y = torch.arange(8) % 3
    model = _tiny(minibatch_std=4)
    assert model.config["minibatch_std"] == 4
    assert model.discriminator.head.weight.shape[1] == 4 * 2 + 1  # one more channel
    base = model.discriminator(x, y)
    assert base.shape == (8,) and torch.isfinite(base).all()
    same_group, other_group = x.clone(), x.clone()
    same_group[4] = -same_group[4]  # groups of 8 // 4: images {0, 2, 4, 6} and {1, 3, 5, 7}
    other_group[5] = -other_group[5]
    assert model.discriminator(same_group, y)[0] != base[0]
    assert model.discriminator(other_group, y)[0] == base[0]
    plain = _tiny()  # without it (eval mode), each logit depends on its own image only
    assert plain.discriminator(same_group, y)[0] == plain.discriminator(x, y)[0]


def test_a_saved_model_keeps_the_option_and_its_outputs(tmp_path):
    model = _tiny(minibatch_std=4)
    back = fusegen.load(save_model(model, tmp_path / "gan.pt"))
    assert back.config["minibatch_std"] == 4 and back.discriminator.minibatch_std == 4
    x = torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    y = torch.arange(8) % 3
    assert torch.equal(back.discriminator(x, y), model.discriminator(x, y))


@pytest.mark.parametrize("bad", [-1, True, 2.5, "4"])
def test_bad_group_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="minibatch_std"):
        DCGAN(latent_dim=4, image_size=16, width=4, minibatch_std=bad)
    with pytest.raises(ValueError, match="minibatch_std"):
        DCGANDiscriminator(image_size=16, width=4, minibatch_std=bad)


def test_configs_and_checkpoints_from_before_the_option_still_build(tmp_path):
    config = dict(_tiny().config)
    del config["minibatch_std"]
    old = DCGAN(**config)
    assert old.config["minibatch_std"] == 0 and old.discriminator.minibatch_std == 0
    # A checkpoint written before the option: its config has no key.
    path = save_model(_tiny(), tmp_path / "new.pt")
    payload = load_checkpoint(path)
    del payload["config"]["minibatch_std"]
    save_checkpoint({k: v for k, v in payload.items() if k not in ("format", "version")}, tmp_path / "old.pt")
    back = fusegen.load(tmp_path / "old.pt")
    assert back.config["minibatch_std"] == 0
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(back.sample(4, labels=1, generator=g()), _tiny().sample(4, labels=1, generator=g()))
