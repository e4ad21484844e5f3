"""ConvVAE's decoder likelihoods: Bernoulli, continuous Bernoulli and the calibrated Gaussian."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import ContinuousBernoulli

import fusegen
from fusegen.checkpoint import save_model
from fusegen.models import ConvVAE
from fusegen.models.vae import LIKELIHOODS
from fusegen.train.recipes import train

TINY = dict(image_size=16, width=4, latent_dim=2, batch_size=8, device="cpu", progress=False)


def _vae(likelihood="bernoulli", beta=1.0) -> ConvVAE:
    torch.manual_seed(0)
    return ConvVAE(image_size=16, width=4, latent_dim=2, beta=beta, likelihood=likelihood).eval()


def _terms_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 1, 16, 16, generator=g, dtype=torch.float64) * 3
    x = torch.rand(3, 1, 16, 16, generator=g, dtype=torch.float64)
    mu, logvar = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    return logits, x, mu, logvar


def _reference_recon(likelihood, logits, x):
    n = len(x)
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    if likelihood == "continuous_bernoulli":
        return -ContinuousBernoulli(logits=logits).log_prob(x).sum() / n
    mse = (torch.sigmoid(logits) - x).square().mean()
    return 0.5 * (16 * 16) * torch.log(mse + 1e-8)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_reconstruction_term_matches_a_reference(likelihood):
    assert set(LIKELIHOODS) == {"bernoulli", "continuous_bernoulli", "gaussian"}
    logits, x, mu, logvar = _terms_inputs()
    terms = _vae(likelihood, beta=0.5).elbo_terms(logits, x, mu, logvar)
    expected = _reference_recon(likelihood, logits, x).float()  # the terms are computed in float32
    torch.testing.assert_close(terms["recon"], expected, rtol=2e-5, atol=2e-4)
    kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum() / 3
    torch.testing.assert_close(terms["kl"], kl)
    torch.testing.assert_close(terms["loss"], terms["recon"] + 0.5 * terms["kl"])


def test_the_likelihoods_differ_and_reward_better_reconstructions():
    logits, x, mu, logvar = _terms_inputs(1)
    good = torch.logit(x.clamp(0.01, 0.99))  # decodes to (about) x itself
    recon = {}
    for likelihood in LIKELIHOODS:
        vae = _vae(likelihood)
        bad_term = vae.elbo_terms(logits, x, mu, logvar)["recon"]
        good_term = vae.elbo_terms(good, x, mu, logvar)["recon"]
        assert float(good_term) < float(bad_term)
        recon[likelihood] = float(bad_term)
    assert len({round(v, 3) for v in recon.values()}) == 3


def _continuous_bernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    """The mean of a continuous Bernoulli of natural parameter (logit) l != 0, in float64:
    1 / (1 - exp(-l)) - 1 / l (Loaiza-Ganem & Cunningham 2019)."""
    l = logits.double()
    return 1 / (-torch.expm1(-l)) - 1 / l


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_mean_image_is_the_likelihoods_mean_in_the_unit_interval(likelihood):
    vae = _vae(likelihood)
    logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 3
    if likelihood == "continuous_bernoulli":
        # Float32 loses about 3 digits to cancellation near logit 0: a tolerance of 5e-4.
        expected, atol = _continuous_bernoulli_mean(logits).float(), 5e-4
    else:
        expected, atol = torch.sigmoid(logits.double()).float(), 1e-6
    torch.testing.assert_close(vae.mean_image(logits), expected, rtol=0, atol=atol)
    extreme = torch.tensor([-1e4, -100.0, -1e-6, 0.0, 1e-6, 100.0, 1e4]).view(1, 1, 1, 7)
    mean = vae.mean_image(extreme)
    assert torch.isfinite(mean).all() and float(mean.min()) >= 0 and float(mean.max()) <= 1
    assert float(mean[0, 0, 0, 3]) == pytest.approx(0.5, abs=1e-6)  # logit 0: no 0/0
    assert (mean.flatten().diff() >= 0).all()  # increasing in the logit
    assert float(mean[0, 0, 0, 0]) < 0.1 and float(mean[0, 0, 0, -1]) > 0.9


def test_continuous_bernoulli_mean_image_follows_large_logits():
    vae = _vae("continuous_bernoulli")
    logits = torch.tensor([-1e4, -100.0, -40.0, -20.0, 20.0, 40.0, 100.0, 1e4])
    torch.testing.assert_close(vae.mean_image(logits), _continuous_bernoulli_mean(logits).float(),
                               rtol=0, atol=1e-3)


@pytest.mark.parametrize("likelihood", ["continuous_bernoulli", "gaussian"])
def test_the_likelihood_travels_with_the_checkpoint(tmp_path, likelihood):
    vae = _vae(likelihood)
    back = fusegen.load(save_model(vae, tmp_path / "vae.pt"))
    assert back.config["likelihood"] == likelihood
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(back.reconstruct(x), vae.reconstruct(x))
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(back.sample(3, generator=g()), vae.sample(3, generator=g()))


@pytest.mark.parametrize("bad", ["poisson", "Gaussian", None, ""])
def test_unknown_likelihoods_are_refused(bad):
    with pytest.raises(ValueError, match="likelihood"):
        ConvVAE(image_size=16, width=4, latent_dim=2, likelihood=bad)


def test_a_config_from_before_the_option_builds_a_bernoulli_vae():
    config = dict(_vae("gaussian").config)
    del config["likelihood"]
    assert ConvVAE(**config).config["likelihood"] == "bernoulli"


# ----------------------------------------------------------------------------- training

def test_train_a_vae_with_the_gaussian_likelihood(tmp_path):
    pytest.importorskip("sklearn")
    summary = train("vae", "digits", tmp_path, 2, classes=[0, 1], likelihood="gaussian", **TINY)
    vae = fusegen.load(summary["checkpoint"])
    assert isinstance(vae, ConvVAE) and vae.config["likelihood"] == "gaussian"
    images = vae.sample(4, generator=torch.Generator().manual_seed(0))
    assert images.shape == (4, 1, 16, 16) and torch.isfinite(images).all()


def test_likelihood_is_for_vaes_only(tmp_path):
    with pytest.raises(ValueError, match="likelihood applies to vae, not dcgan"):
        train("dcgan", "digits", tmp_path, 1, likelihood="gaussian", **TINY)


@pytest.mark.parametrize("option", [dict(gan_loss="hinge"), dict(augment="cutout"), dict(minibatch_std=4),
                                    dict(d_lr=1e-3)])
def test_gan_options_are_refused_for_a_vae(tmp_path, option):
    with pytest.raises(ValueError, match=f"{next(iter(option))} apply to gan"):
        train("vae", "digits", tmp_path, 1, **option, **TINY)


def test_a_bad_likelihood_in_train_is_refused_before_training(tmp_path):
    pytest.importorskip("sklearn")
    with pytest.raises(ValueError, match="likelihood must be one of"):
        train("vae", "digits", tmp_path, 1, classes=[0, 1], likelihood="laplace", **TINY)
    assert not (tmp_path / "last.pt").exists()
