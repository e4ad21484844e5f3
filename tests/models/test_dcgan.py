"""DCGAN generator/discriminator: shapes, conditioning, fused blocks, init, sampling."""

import pytest
import torch

from fusegen.models import DCGAN, DCGANDiscriminator, DCGANGenerator
from fusegen.nn import FusedConvNormAct


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_for_every_size_and_channel_count(size, channels):
    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, channels=channels, image_size=size, width=4)
    d = DCGANDiscriminator(channels=channels, image_size=size, width=4)
    x = g(torch.randn(2, 8))
    assert x.shape == (2, channels, size, size)
    assert x.abs().max() <= 1  # Tanh output
    assert d(x).shape == (2,)


def test_every_conv_is_a_fused_block_with_the_paper_activations():
    m = DCGAN(latent_dim=8, image_size=32, width=4)
    gen = [b for b in m.generator.modules() if isinstance(b, FusedConvNormAct)]
    disc = [b for b in m.discriminator.modules() if isinstance(b, FusedConvNormAct)]
    assert [b.activation for b in gen] == ["relu"] * (len(gen) - 1) + ["tanh"]
    assert all(b.transposed for b in gen)
    assert [b.norm for b in gen] == ["batch"] * (len(gen) - 1) + ["none"]
    assert disc[0].norm == "none" and all(b.norm == "batch" for b in disc[1:-1])
    assert all(b.activation == "leaky_relu" and b.negative_slope == 0.2 for b in disc[:-1])
    assert not any(isinstance(b, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for b in m.modules())


def test_weights_start_as_normal_0_002():
    torch.manual_seed(0)
    g = DCGANGenerator(image_size=64)
    w = torch.cat([b.weight.flatten() for b in g.modules() if isinstance(b, FusedConvNormAct)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3


def test_conditional_generator_depends_on_labels_and_requires_them():
    torch.manual_seed(0)
    g = DCGANGenerator(latent_dim=8, image_size=16, width=4, num_classes=10).eval()
    z = torch.randn(2, 8)
    a, b = g(z, torch.tensor([0, 0])), g(z, torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="conditional"):
        g(z)


def test_projection_discriminator_and_spectral_norm():
    torch.manual_seed(0)
    d = DCGANDiscriminator(image_size=16, width=4, num_classes=3, spectral_norm=True)
    x = torch.randn(2, 1, 16, 16)
    assert not torch.allclose(d(x, torch.tensor([0, 0])), d(x, torch.tensor([2, 2])))
    first = d.features[0]
    assert torch.nn.utils.parametrize.is_parametrized(first, "weight")
    sigma = torch.linalg.matrix_norm(first.weight.flatten(1), ord=2)
    assert sigma.item() < 1.5  # one power iteration per forward: near 1, not exact


def test_sample_range_shape_labels_and_reproducibility():
    torch.manual_seed(0)
    m = DCGAN(latent_dim=8, image_size=16, width=4, num_classes=10).eval()
    a = m.sample(5, labels=3, generator=torch.Generator().manual_seed(1))
    b = m.sample(5, labels=[3] * 5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (5, 1, 16, 16) and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        m.sample(2, labels=[0, 10])
    with pytest.raises(ValueError, match="unconditional"):
        DCGAN(latent_dim=8, image_size=16, width=4).sample(2, labels=[0, 1])


@pytest.mark.parametrize("bad", [dict(image_size=28), dict(channels=2)])
def test_bad_shapes_are_rejected(bad):
    with pytest.raises(ValueError):
        DCGAN(**bad)
