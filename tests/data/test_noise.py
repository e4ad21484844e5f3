"""fusegen.data.add_noise: the one way fusegen adds Gaussian noise (0-255 scale)."""

import math

import pytest
import torch

from fusegen.data import NoisyPairs, add_noise


def test_float_images_get_unclipped_noise_of_sigma_over_255():
    clean = torch.full((4, 1, 64, 64), 0.5)
    noisy = add_noise(clean, 25.0, torch.Generator().manual_seed(0))
    noise = noisy - clean
    assert noisy.dtype == torch.float32 and noisy.shape == clean.shape
    assert abs(noise.std().item() - 25 / 255) < 0.003 and abs(noise.mean().item()) < 0.003
    assert torch.equal(noisy, add_noise(clean, 25.0, torch.Generator().manual_seed(0)))  # seeded


def test_uint8_images_are_rounded_and_saturated_like_a_capture():
    clean = torch.tensor([[0, 128, 255] * 100], dtype=torch.uint8)
    noisy = add_noise(clean, 40.0, torch.Generator().manual_seed(1))
    assert noisy.dtype == torch.uint8
    expected = clean.float() + torch.randn(clean.shape, generator=torch.Generator().manual_seed(1)) * 40
    assert torch.equal(noisy, expected.round().clamp(0, 255).to(torch.uint8))
    assert noisy[0, ::3].min() == 0 and noisy[0, 2::3].max() == 255  # saturated, never wrapped


def test_per_image_sigma_and_zero_sigma():
    clean = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    assert torch.equal(add_noise(clean, 0.0), clean)
    sigma = torch.tensor([0.0, 10.0, 50.0]).view(3, 1, 1, 1)
    noisy = add_noise(clean, sigma, torch.Generator().manual_seed(2))
    assert noisy.dtype == torch.float64 and torch.equal(noisy[0], clean[0])
    assert (noisy[2] - clean[2]).std() > (noisy[1] - clean[1]).std()


def test_noisy_pairs_use_add_noise():
    clean = torch.rand(2, 1, 8, 8)
    noisy, _ = NoisyPairs(clean, sigma=15.0, seed=3)[1]
    g = torch.Generator().manual_seed(3 * 1_000_003 + 1)
    torch.rand(1, 1, 1, 1, generator=g)  # the pair's sigma draw (a fixed sigma: unused)
    assert torch.equal(noisy, add_noise(clean[1:2], 15.0, g)[0])


@pytest.mark.parametrize("sigma", [-1.0, math.nan, math.inf, "25"])
def test_bad_sigma_is_refused(sigma):
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        add_noise(torch.zeros(2, 2), sigma)


def test_bad_images_are_refused():
    with pytest.raises(TypeError, match="images must be floats in \\[0, 1\\] or uint8"):
        add_noise(torch.zeros(2, 2, dtype=torch.int64), 5.0)
    with pytest.raises(TypeError, match="images must be a torch.Tensor"):
        add_noise([[0.0]], 5.0)
