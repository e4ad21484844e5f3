"""ConvVAE: ELBO terms, reparameterization, sampling, reconstruction, conditioning."""

import pytest
import torch

from fusegen.models import ConvVAE


def test_loss_terms_and_gradients():
    torch.manual_seed(0)
    vae = ConvVAE(image_size=16, latent_dim=4, width=4, beta=2.0)
    x = torch.rand(3, 1, 16, 16)
    terms = vae.loss(x)
    torch.testing.assert_close(terms["loss"], terms["recon"] + 2.0 * terms["kl"])
    assert terms["kl"] >= 0
    terms["loss"].backward()
    assert all(p.grad is not None for p in vae.parameters())


def test_kl_matches_the_closed_form_for_known_posteriors():
    vae = ConvVAE(image_size=16, latent_dim=2, width=4)
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, torch.log(torch.tensor(4.0))]])
    logits = torch.zeros(1, 1, 16, 16)
    kl = vae.elbo_terms(logits, torch.rand(1, 1, 16, 16), mu, logvar)["kl"]
    expected = 0.5 * (1.0 + 0.0) + 0.5 * (4.0 - 1 - torch.log(torch.tensor(4.0)))
    torch.testing.assert_close(kl, expected)


@pytest.mark.parametrize("channels,size", [(1, 32), (3, 16)])
def test_sample_and_reconstruct(channels, size):
    torch.manual_seed(0)
    vae = ConvVAE(channels=channels, image_size=size, latent_dim=4, width=4).eval()
    s = vae.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, channels, size, size) and 0 <= s.min() and s.max() <= 1
    r = vae.reconstruct(torch.rand(2, channels, size, size))
    assert r.shape == (2, channels, size, size)


def test_conditional_vae_uses_and_requires_labels():
    torch.manual_seed(0)
    vae = ConvVAE(image_size=16, latent_dim=4, width=4, num_classes=3).eval()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert not torch.allclose(vae.sample(2, labels=0, generator=g()), vae.sample(2, labels=2, generator=g()))
    with pytest.raises(ValueError, match="conditional"):
        vae.loss(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="conditional"):
        vae.reconstruct(torch.rand(2, 1, 16, 16))
