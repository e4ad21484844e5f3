"""fusegen.models.Ensemble: mixtures, averages and soups, learned weights, persistence, errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import fusegen
from fusegen.models import (DCGAN, ConvVAE, DnCNN, Ensemble, NLMDenoiser, RestorationModel,
                            format_report, least_squares_weights, mmd_mixture_weights, soup)
from fusegen.models.ensemble import simplex_qp
from fusegen.models.ensemble.weights import _simplex_qp_projected, mmd_quadratic
from tests.conftest import assert_close


# ----------------------------------------------------------------------------- stand-in members

class Constant(nn.Module):
    """A 'generator' whose every sample is the image filled with ``value`` (row index in pixel 0)."""

    def __init__(self, value: float, size: int = 4) -> None:
        super().__init__()
        self.value, self.size = value, size

    def sample(self, n, labels=None, generator=None):
        images = torch.full((n, 1, self.size, self.size), float(self.value))
        images[:, 0, 0, 0] = torch.arange(n, dtype=torch.float32)
        return images


class Gaussian(nn.Module):
    """A 'generator' of (n, 1, 2, 4) images whose 8 pixels are N(mean, 1): features = pixels."""

    def __init__(self, mean: torch.Tensor) -> None:
        super().__init__()
        self.mean = mean

    def sample(self, n, labels=None, generator=None):
        return (torch.randn(n, 8, generator=generator) + self.mean).view(n, 1, 2, 4)


class Pointwise(RestorationModel):
    """A 'denoiser' applying a fixed pointwise function."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn, self.channels = fn, 1

    def restore(self, batch):
        return self.fn(batch)


def tiny_dncnn(seed: int, **kw) -> DnCNN:
    torch.manual_seed(seed)
    return DnCNN(depth=kw.pop("depth", 3), width=kw.pop("width", 4), **kw).eval()


def tiny_gan(seed: int, num_classes: int = 0) -> DCGAN:
    torch.manual_seed(seed)
    return DCGAN(latent_dim=8, image_size=16, width=4, num_classes=num_classes).eval()


# ----------------------------------------------------------------------------- mixture

def test_mixture_picks_members_with_the_weights_frequencies():
    ens = Ensemble([Constant(0), Constant(1), Constant(2)], weights=[2, 5, 3], mode="mixture")
    images, index = ens.sample_with_members(6000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(index, minlength=3).double()
    expected = 6000 * torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 13.8  # the 0.999 quantile of chi-square with 2 degrees of freedom
    # Each sample is its member's image: the member's value everywhere but pixel 0.
    assert torch.equal(images[:, 0, 1:, :].flatten(1).amax(1), index.float())


def test_mixture_is_reproducible_with_a_generator():
    ens = Ensemble([tiny_gan(0), tiny_gan(1)], weights=[0.3, 0.7])
    a = ens.sample(12, generator=torch.Generator().manual_seed(5))
    b = ens.sample(12, generator=torch.Generator().manual_seed(5))
    c = ens.sample(12, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("conditional", [False, True])
def test_each_sample_is_exactly_its_members_sample(conditional):
    members = [tiny_gan(k, num_classes=10 if conditional else 0) for k in range(3)]
    ens = Ensemble(members, weights=[0.5, 0.2, 0.3], mode="mixture")
    labels = torch.arange(20) % 10 if conditional else None
    images, index = ens.sample_with_members(20, labels=labels, generator=torch.Generator().manual_seed(3))
    # The documented draw order: member indices, then each member's samples in turn.
    g = torch.Generator().manual_seed(3)
    expected_index = torch.multinomial(ens.weights, 20, replacement=True, generator=g)
    assert torch.equal(index, expected_index)
    expected = torch.empty_like(images)
    for k, m in enumerate(members):
        rows = (index == k).nonzero().flatten()
        if len(rows):
            expected[rows] = m.sample(len(rows), labels=None if labels is None else labels[rows], generator=g)
    assert torch.equal(images, expected)
    assert len(set(index.tolist())) == 3  # every member took part


def test_a_zero_weight_member_never_samples_and_one_label_serves_all():
    never = Constant(9.0, size=16)
    never.num_classes = 10
    ens = Ensemble([tiny_gan(0, 10), never], weights=[1, 0], mode="mixture")
    images, index = ens.sample_with_members(50, labels=7, generator=torch.Generator().manual_seed(0))
    assert (index == 0).all() and images.max() <= 1
    with pytest.raises(ValueError, match="labels must be one int or 5"):
        ens.sample(5, labels=[1, 2])


# ----------------------------------------------------------------------------- average

def test_average_is_the_weighted_sum_of_the_members_outputs():
    dncnn, nlm = tiny_dncnn(0), NLMDenoiser(25.0, patch_size=3, search_size=7)
    ens = Ensemble([dncnn, nlm], weights=[3, 1])
    assert ens.mode == "average" and ens.restores
    x = torch.rand(2, 1, 20, 20)
    expected = (0.75 * dncnn.denoise(x) + 0.25 * nlm.denoise(x)).clamp(0, 1)
    assert_close(ens.denoise(x), expected)
    assert_close(ens.denoise(x[0]), expected[0])  # one (C, H, W) image
    assert_close(ens(x), expected)  # forward: the same, differentiable
    turned = (0.75 * dncnn.denoise(x, self_ensemble=True) + 0.25 * nlm.denoise(x, self_ensemble=True))
    assert_close(ens.denoise(x, self_ensemble=True), turned.clamp(0, 1))


def test_gradients_reach_learnable_weights_as_through_a_plain_sum():
    members = [Pointwise(lambda x: x), Pointwise(lambda x: x.square()), Pointwise(torch.sqrt)]
    ens = Ensemble(members, weights=[0.2, 0.3, 0.5], learnable=True)
    x, r = torch.rand(3, 1, 5, 5), torch.randn(3, 1, 5, 5)
    (ens(x) * r).sum().backward()
    logits = ens.logits.detach().clone().requires_grad_(True)
    outputs = torch.stack([m.restore(x).clamp(0, 1) for m in members])
    reference = (torch.softmax(logits, 0)[:, None, None, None, None] * outputs).sum(0)
    (reference * r).sum().backward()
    assert ens.logits.grad.abs().sum() > 0
    assert_close(ens.logits.grad, logits.grad)


def test_least_squares_recovers_known_weights():
    members = [Pointwise(lambda x: x), Pointwise(lambda x: x.square()), Pointwise(torch.sqrt)]
    ens = Ensemble(members)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    target = 0.2 * x + 0.5 * x.square() + 0.3 * x.sqrt()
    w = ens.fit_weights(x, target)
    torch.testing.assert_close(w, torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64), atol=1e-5, rtol=0)
    assert ens.last_fit["after"] > ens.last_fit["before"] + 10 and ens.last_fit["after"] > 60


def test_psnr_descent_improves_on_uniform_and_nears_least_squares():
    members = [Pointwise(lambda x: x), Pointwise(lambda x: x.square()), Pointwise(torch.sqrt)]
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    noise = 0.02 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    target = (0.1 * x + 0.7 * x.square() + 0.2 * x.sqrt() + noise).clamp(0, 1)
    lstsq = Ensemble(members).fit_weights(x, target)
    ens = Ensemble(members, learnable=True)
    w = ens.fit_weights(x, target, method="psnr", steps=300, lr=0.05)
    assert ens.last_fit["after"] > ens.last_fit["before"] + 3
    assert (w - lstsq).abs().max() < 0.1


def test_simplex_qp_is_exact_on_the_boundary_too():
    g = torch.Generator().manual_seed(0)
    steps = 60  # a grid of the whole 3-simplex, by 1/60
    grid = torch.tensor([[i, j, steps - i - j] for i in range(steps + 1) for j in range(steps + 1 - i)],
                        dtype=torch.float64) / steps
    for K in (2, 3, 5):
        for _ in range(3):
            M = torch.randn(K + 2, K, generator=g, dtype=torch.float64)
            A, b = M.T @ M, torch.randn(K, generator=g, dtype=torch.float64) * 3
            w = simplex_qp(A, b)
            assert w.min() >= 0 and abs(float(w.sum()) - 1) < 1e-12
            torch.testing.assert_close(w, _simplex_qp_projected(A, b, 2000), atol=1e-5, rtol=0)
            if K == 3:
                on_grid = ((grid @ A) * grid).sum(1) - 2 * grid @ b
                assert float(w @ A @ w - 2 * b @ w) <= float(on_grid.min()) + 1e-12
    vertex = simplex_qp(torch.eye(3), torch.tensor([5.0, -5.0, 0.0]))
    assert torch.equal(vertex, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))


def test_least_squares_weights_never_lose_to_the_best_member():
    g = torch.Generator().manual_seed(2)
    target = torch.rand(50, generator=g)
    outputs = [target + 0.3 * torch.randn(50, generator=g) for _ in range(3)]
    w = least_squares_weights(outputs, target)
    combined = sum(float(wk) * o for wk, o in zip(w, outputs))
    assert (combined - target).square().mean() <= min((o - target).square().mean() for o in outputs)


# ----------------------------------------------------------------------------- learning a mixture

def test_mmd_recovers_a_known_mixture_proportion():
    g = torch.Generator().manual_seed(0)
    means = [torch.zeros(8), torch.full((8,), 1.5), torch.full((8,), -1.5)]
    members = [torch.randn(1500, 8, generator=g) + m for m in means]
    # Real data: 30% from the first member's distribution, 70% from the second's, none from the third.
    real = torch.cat([torch.randn(600, 8, generator=g) + means[0],
                      torch.randn(1400, 8, generator=g) + means[1]])
    w = mmd_mixture_weights(members, real)
    torch.testing.assert_close(w, torch.tensor([0.3, 0.7, 0.0], dtype=torch.float64), atol=0.04, rtol=0)
    A, b, c = mmd_quadratic(members, real)
    at = lambda v: float(v @ A @ v - 2 * b @ v + c)  # noqa: E731
    assert at(w) < at(torch.full((3,), 1 / 3, dtype=torch.float64)) / 5


def test_fit_weights_of_a_mixture_samples_the_members_and_learns_the_proportion():
    means = [torch.zeros(8), torch.full((8,), 2.0)]
    ens = Ensemble([Gaussian(means[0]), Gaussian(means[1])], mode="mixture")
    g = torch.Generator().manual_seed(1)
    real = torch.cat([torch.randn(1200, 8, generator=g) + means[0],
                      torch.randn(800, 8, generator=g) + means[1]])
    w = ens.fit_weights(real=real.view(-1, 1, 2, 4), feature_fn=lambda x: x.flatten(1), n=1500,
                        generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(w, torch.tensor([0.6, 0.4], dtype=torch.float64), atol=0.04, rtol=0)
    assert torch.equal(ens.weights.double(), w.float().double())
    assert ens.last_fit["method"] == "mmd" and ens.last_fit["after"] < ens.last_fit["before"]


# ----------------------------------------------------------------------------- soup

def test_soup_is_the_weighted_average_of_parameters_and_buffers():
    a, b = tiny_dncnn(0), tiny_dncnn(1)
    state_a, state_b = a.state_dict(), b.state_dict()
    for key in state_a:  # distinct buffers too
        if state_a[key].is_floating_point():
            state_a[key].add_(0.1)
        else:
            state_a[key].fill_(10)
            state_b[key].fill_(2)
    souped = soup([a, b], [1, 3])
    assert isinstance(souped, DnCNN) and souped is not a
    for key, value in souped.state_dict().items():
        if value.is_floating_point():
            assert_close(value, 0.25 * state_a[key] + 0.75 * state_b[key])
        else:
            assert int(value) == 4  # round(0.25 * 10 + 0.75 * 2)
    ens = Ensemble([a, b], weights=[1, 3], mode="soup")
    x = torch.rand(2, 1, 12, 12)
    assert torch.equal(ens.denoise(x), souped.denoise(x))
    assert_close(ens(x), souped(x))  # forward: the soup's forward (predicted noise)
    assert ens.soup_model() is ens.soup_model()  # cached while nothing changes
    ens.set_weights([1, 1])
    mean = (state_a["layers.0.weight"] + state_b["layers.0.weight"]) / 2
    assert_close(ens.soup_model().layers[0].weight, mean)


def test_soup_weights_get_gradients_and_learn_from_validation_pairs():
    good = tiny_dncnn(0)
    with torch.no_grad():  # last layer 0: predicts no noise, so denoise(x) = x
        good.layers[-1].weight.zero_()
    bad = tiny_dncnn(0)
    with torch.no_grad():
        bad.layers[-1].weight.mul_(50)
    ens = Ensemble([bad, good], mode="soup", learnable=True)
    x = torch.rand(2, 1, 10, 10)
    ens(x).square().sum().backward()
    assert ens.logits.grad is not None and ens.logits.grad.abs().sum() > 0
    clean = torch.rand(16, 1, 12, 12, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    noisy = clean + 0.02 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    w = ens.fit_weights(noisy, clean, steps=15, lr=0.3, batch_size=8)
    assert w[1] > 0.8 and ens.last_fit["after"] > ens.last_fit["before"] + 3


def test_soup_names_the_first_mismatch():
    with pytest.raises(ValueError, match="width=8.*width=4"):
        soup([tiny_dncnn(0), tiny_dncnn(1, width=8)])
    with pytest.raises(ValueError, match="one architecture.*DCGAN"):
        soup([tiny_dncnn(0), tiny_gan(0)])
    a, b = tiny_dncnn(0), tiny_dncnn(1)
    b.config = dict(a.config)
    b.layers[0] = type(b.layers[0])(1, 5, 3, 1, 1, norm="none", activation="relu")
    with pytest.raises(ValueError, match=r"members\[1\]\['layers.0.weight'\] has shape \(5, 1, 3, 3\)"):
        Ensemble([a, b], mode="soup")
    with pytest.raises(ValueError, match="has none"):
        soup([NLMDenoiser(), NLMDenoiser()])


# ----------------------------------------------------------------------------- VAEs

def test_average_of_vae_reconstructions():
    torch.manual_seed(0)
    vaes = [ConvVAE(image_size=16, width=4, latent_dim=4).eval() for _ in range(2)]
    ens = Ensemble(vaes, weights=[0.4, 0.6], mode="average")
    x = torch.rand(3, 1, 16, 16)
    assert_close(ens.reconstruct(x), 0.4 * vaes[0].reconstruct(x) + 0.6 * vaes[1].reconstruct(x))
    w = ens.fit_weights(x)  # targets default to the inputs
    assert abs(float(w.sum()) - 1) < 1e-6
    with pytest.raises(ValueError, match="does not sample"):
        ens.sample(2)


# ----------------------------------------------------------------------------- report, save, load

def test_report_puts_the_ensemble_beside_each_member():
    members = [Pointwise(lambda x: x), Pointwise(lambda x: x.square())]
    ens = Ensemble(members, weights=[0.2, 0.8], names=["identity", "square"])
    clean = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    rows = ens.report(noisy, clean, baselines={"uniform": None})
    assert [r["name"] for r in rows] == ["noisy", "identity", "square", "ensemble (uniform)", "ensemble"]
    psnr = lambda x: float((-10 * torch.log10((x - clean).square().flatten(1).mean(1))).mean())  # noqa: E731
    assert rows[2]["psnr"] == pytest.approx(psnr(noisy.square()), abs=1e-4)
    assert rows[4]["psnr"] == pytest.approx(psnr(0.2 * noisy + 0.8 * noisy.square()), abs=1e-4)
    assert rows[3]["weights"] == [0.5, 0.5] and rows[1]["weights"] == pytest.approx(0.2)
    assert torch.allclose(ens.weights, torch.tensor([0.2, 0.8]))  # weights put back
    table = format_report(rows)
    assert "ensemble (uniform)" in table and "0.50/0.50" in table and "PSNR" in table
    # Images of different sizes: each scored alone, then averaged.
    listed = ens.report([noisy[0], noisy[1, :, :12]], [clean[0], clean[1, :, :12]])
    assert [r["name"] for r in listed] == ["noisy", "identity", "square", "ensemble"]


def test_report_of_generators_scores_members_and_ensemble_on_one_feature_set():
    near, far = Gaussian(torch.zeros(8)), Gaussian(torch.full((8,), 3.0))
    ens = Ensemble([near, far], weights=[0.9, 0.1], names=["near", "far"])
    real = torch.randn(300, 8, generator=torch.Generator().manual_seed(0)).view(-1, 1, 2, 4)
    rows = ens.report(real=real, feature_fn=lambda x: x.flatten(1), n=300,
                      generator=torch.Generator().manual_seed(1), kid_subsets=5)
    by_name = {r["name"]: r for r in rows}
    assert list(by_name) == ["near", "far", "ensemble"]
    assert by_name["near"]["kid_mean"] < by_name["ensemble"]["kid_mean"] < by_name["far"]["kid_mean"]
    assert "Fréchet" in format_report(rows, markdown=True)


def test_save_and_load_round_trip(tmp_path):
    ens = Ensemble([tiny_dncnn(0), NLMDenoiser(25.0, patch_size=3, search_size=7)], weights=[0.3, 0.7],
                   learnable=True, names=["cnn", "nlm"])
    ens.save(tmp_path / "avg.pt")
    back = fusegen.load(tmp_path / "avg.pt")
    assert isinstance(back, Ensemble) and back.names == ["cnn", "nlm"] and back.learnable
    assert_close(back.weights, ens.weights)
    x = torch.rand(1, 1, 12, 12)
    assert torch.equal(back.denoise(x), ens.denoise(x))

    mix = Ensemble([tiny_gan(0, 10), tiny_gan(1, 10)], weights=[0.25, 0.75])
    mix.save(tmp_path / "mix.pt")
    back = fusegen.load(tmp_path / "mix.pt")
    assert back.mode == "mixture" and back.num_classes == 10
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    assert torch.equal(back.sample(6, labels=3, generator=g()), mix.sample(6, labels=3, generator=g()))

    soupy = Ensemble([tiny_dncnn(0), tiny_dncnn(1)], mode="soup", weights=[1, 2])
    soupy.save(tmp_path / "soup.pt")
    assert torch.equal(fusegen.load(tmp_path / "soup.pt").denoise(x), soupy.denoise(x))


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("weights,message", [
    ([1.0], r"one weight per member \(2\), got 1"),
    ([1.0, -0.5], ">= 0"),
    ([1.0, math.nan], "finite"),
    ([0.0, 0.0], "not all be 0"),
    ("0.5,0.5", "sequence of 2 numbers"),
    (["a", 1], "must be numbers"),
    (torch.ones(2, 2), r"shape \(2,\)"),
])
def test_bad_weights_name_the_argument(weights, message):
    with pytest.raises((ValueError, TypeError), match=f"weights.*{message}|{message}") as info:
        Ensemble([tiny_dncnn(0), tiny_dncnn(1)], weights=weights)
    assert "weights" in str(info.value)


def test_bad_members_and_modes_give_clear_errors():
    with pytest.raises(ValueError, match="at least one model"):
        Ensemble([])
    with pytest.raises(TypeError, match=r"members\[1\] must be a torch.nn.Module, got str"):
        Ensemble([tiny_dncnn(0), "model.pt"])
    with pytest.raises(ValueError, match="mode must be one of"):
        Ensemble([tiny_dncnn(0)], mode="blend")
    with pytest.raises(ValueError, match=r"members\[0\] \(DnCNN\) has no sample"):
        Ensemble([tiny_dncnn(0), tiny_gan(0)], mode="mixture")
    with pytest.raises(ValueError, match=r"members\[0\] \(DCGAN\) is a generator.*blurs"):
        Ensemble([tiny_gan(0), tiny_gan(1)], mode="average")
    with pytest.raises(ValueError, match="cannot tell"):
        Ensemble([tiny_dncnn(0), tiny_gan(0)])
    with pytest.raises(ValueError, match="conditioning"):
        Ensemble([tiny_gan(0), tiny_gan(1, num_classes=10)])
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="image_size"):
        Ensemble([tiny_gan(0), DCGAN(latent_dim=8, image_size=32, width=4)])
    with pytest.raises(ValueError, match="names must have one name per member"):
        Ensemble([tiny_dncnn(0), tiny_dncnn(1)], names=["a"])
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        Ensemble([tiny_gan(0)]).sample(0)
    with pytest.raises(ValueError, match="does not denoise"):
        Ensemble([tiny_gan(0)]).denoise(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="needs real="):
        Ensemble([tiny_gan(0)]).fit_weights()
    with pytest.raises(ValueError, match="inputs and targets must have one shape"):
        Ensemble([tiny_dncnn(0)]).fit_weights(torch.rand(2, 1, 8, 8), torch.rand(3, 1, 8, 8))
    with pytest.raises(ValueError, match="method must be 'lstsq' or 'psnr'"):
        Ensemble([tiny_dncnn(0)]).fit_weights(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), method="mmd")
    with pytest.raises(TypeError, match="cannot be saved|has no 'kind'"):
        Ensemble([Constant(0), Constant(1)]).save("never-written.pt")


def test_auto_mode_and_names():
    assert Ensemble([tiny_gan(0), tiny_gan(1)]).mode == "mixture"
    ens = Ensemble([tiny_dncnn(0), tiny_dncnn(1), NLMDenoiser()])
    assert ens.mode == "average" and ens.names == ["dncnn[0]", "dncnn[1]", "nlm"]
    assert torch.allclose(ens.weights, torch.full((3,), 1 / 3))
    assert "weights={dncnn[0]: 0.333" in repr(ens)
    nested = Ensemble([ens, NLMDenoiser()], weights=[2, 1])
    assert nested.mode == "average" and nested.denoise(torch.rand(1, 1, 9, 9)).shape == (1, 1, 9, 9)


def test_ensemble_outputs_stay_on_the_simplex_for_every_weight_vector():
    members = [Pointwise(lambda x: x), Pointwise(lambda x: 1 - x)]
    x = torch.rand(1, 1, 4, 4)
    for a, b in itertools.product([0, 1, 3], [1, 2]):
        out = Ensemble(members, weights=[a, b]).denoise(x)
        assert_close(out, (a * x + b * (1 - x)) / (a + b))
