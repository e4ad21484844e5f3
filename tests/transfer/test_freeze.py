"""Freezing the first N blocks: no gradient, no update, batch-norm statistics kept, clear errors."""

import copy

import pytest
import torch

from fusegen.models import DCGAN, ConvVAE, DnCNN
from fusegen.transfer import blocks, freeze, frozen, param_groups, unfreeze


def test_blocks_of_each_model():
    gan = DCGAN(image_size=32, width=4, latent_dim=8, num_classes=3)
    assert [n for n, _ in blocks(gan)] == ["discriminator.features.0", "discriminator.features.1",
                                           "discriminator.features.2", "discriminator.head"]
    assert [n for n, _ in blocks(gan, "generator")] == [f"generator.blocks.{i}" for i in range(4)]
    vae = ConvVAE(image_size=16, width=4)
    assert [n for n, _ in blocks(vae)] == ["encoder.0", "encoder.1", "to_stats"]
    assert [n for n, _ in blocks(vae, "decoder")] == ["from_latent", "decoder.0", "decoder.1"]
    assert [n for n, _ in blocks(DnCNN(depth=4, width=4))] == [f"layers.{i}" for i in range(4)]
    assert [n for n, _ in blocks(gan.discriminator)][0] == "features.0"
    with pytest.raises(ValueError, match="no part 'encoder'.*discriminator, generator"):
        blocks(gan, "encoder")
    with pytest.raises(TypeError, match="no known blocks"):
        blocks(torch.nn.Linear(2, 2))


def _train_step(model, opt, x):
    opt.zero_grad()
    model(x).square().mean().backward()
    opt.step()


def test_frozen_blocks_do_not_change_and_keep_their_batch_norm_statistics():
    torch.manual_seed(0)
    model = DnCNN(depth=5, width=4)
    with torch.no_grad():  # make the running statistics non-trivial first
        model.train()(torch.rand(4, 1, 12, 12))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert freeze(model, 3) == ["layers.0", "layers.1", "layers.2"]
    assert frozen(model) == ["layers.0", "layers.1", "layers.2"]
    model.train()  # what the trainer does after validating: frozen blocks stay in eval mode
    assert [m.training for m in model.layers] == [False, False, False, True, True]
    for name, p in model.named_parameters():
        assert p.requires_grad == (not name.startswith(("layers.0.", "layers.1.", "layers.2."))), name
    opt = torch.optim.Adam(param_groups(model, 1e-2), 1e-2)
    for _ in range(2):
        _train_step(model, opt, torch.rand(4, 1, 12, 12))
    after = model.state_dict()
    for key, value in after.items():
        unchanged = torch.equal(value, before[key])
        if key.startswith(("layers.0.", "layers.1.", "layers.2.")):
            assert unchanged, key  # weights, running mean/var and counters of frozen blocks
        else:
            assert not unchanged, key  # layers.3 (BN block) and layers.4 trained and tracked


def test_freeze_survives_a_deep_copy_and_unfreeze_undoes_it():
    model = DnCNN(depth=4, width=4)
    freeze(model, 2)
    twin = copy.deepcopy(model).train()  # the EMA and exported models are deep copies
    assert not twin.layers[1].training and not twin.layers[1].weight.requires_grad
    assert twin.layers[2].training
    assert unfreeze(model) == ["layers.0", "layers.1"]
    model.train()
    assert all(m.training for m in model.layers) and all(p.requires_grad for p in model.parameters())
    assert frozen(model) == [] and frozen(twin) == ["layers.0", "layers.1"]


def test_freezed_freezes_the_discriminator_only():
    gan = DCGAN(image_size=16, width=4, latent_dim=8, num_classes=3)
    assert freeze(gan, 2) == ["discriminator.features.0", "discriminator.features.1"]
    gan.train()
    assert not gan.discriminator.features[1].training and gan.discriminator.head.training
    assert all(p.requires_grad for p in gan.generator.parameters())
    assert gan.discriminator.project.weight.requires_grad  # the class projection stays trainable
    assert freeze(ConvVAE(image_size=16, width=4), 1, "decoder") == ["from_latent"]


@pytest.mark.parametrize("n,match", [(4, r"cannot freeze 4 blocks: this DCGAN's discriminator has 3 \(.*discriminator.head\)"),
                                     (-1, ">= 0"), (1.5, ">= 0"), (True, ">= 0")])
def test_bad_block_counts(n, match):
    gan = DCGAN(image_size=16, width=4, latent_dim=8)
    with pytest.raises(ValueError, match=match):
        freeze(gan, n)
    assert frozen(gan) == []


def test_parameter_groups_have_the_right_learning_rates():
    gan = DCGAN(image_size=16, width=4, latent_dim=8, num_classes=3)
    freeze(gan, 1)
    pretrained = [n for n, _ in gan.discriminator.named_parameters() if n != "project.weight"]
    groups = param_groups(gan.discriminator, 1e-3, 1e-5, pretrained)
    assert [(g["name"], g["lr"]) for g in groups] == [("new", 1e-3), ("pretrained", 1e-5)]
    assert groups[0]["params"] == [gan.discriminator.project.weight]
    in_groups = {id(p) for g in groups for p in g["params"]}
    frozen_weight = gan.discriminator.features[0].weight
    assert id(frozen_weight) not in in_groups
    assert len(in_groups) == sum(1 for p in gan.discriminator.parameters() if p.requires_grad)
    opt = torch.optim.Adam(groups, 1e-3)
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-5]
    assert [g["name"] for g in param_groups(gan.discriminator, 1e-3)] == ["new"]  # nothing pretrained
    everything = DnCNN(depth=3, width=4)
    freeze(everything, 3)
    with pytest.raises(ValueError, match="nothing left to train"):
        param_groups(everything, 1e-3)


def test_frozen_spectral_norm_blocks_keep_their_power_iteration_vectors():
    torch.manual_seed(0)
    gan = DCGAN(image_size=16, width=4, latent_dim=8, spectral_norm=True)
    freeze(gan, 2)
    d = gan.discriminator.train()
    before = {k: v.clone() for k, v in d.state_dict().items()}
    opt = torch.optim.Adam(param_groups(d, 1e-2), 1e-2)
    for _ in range(2):
        opt.zero_grad()
        d(torch.randn(4, 1, 16, 16)).sum().backward()
        opt.step()
    after = d.state_dict()
    for key, value in before.items():
        if key.startswith(("features.0.", "features.1.")):
            assert torch.equal(after[key], value), key  # weights and the u/v vectors
    assert not torch.equal(after["head.parametrizations.weight.original"],
                           before["head.parametrizations.weight.original"])
