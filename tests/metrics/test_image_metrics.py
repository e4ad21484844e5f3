"""PSNR and SSIM against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusegen.metrics as M

skm = pytest.importorskip("skimage.metrics", reason="the reference implementation is scikit-image's")


def noisy_pair(shape, seed, dtype=torch.float64, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(shape, generator=g, dtype=torch.float64)
    # Smooth the clean image a little so that SSIM sees structure, not only noise.
    clean = (clean + clean.roll(1, -1) + clean.roll(1, -2)) / 3
    noisy = (clean + 0.08 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return (noisy * scale).to(dtype), (clean * scale).to(dtype)


def skimage_ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    return skm.structural_similarity(x, y, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=data_range)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ssim_matches_scikit_image(device, dtype):
    x, y = noisy_pair((3, 2, 24, 31), seed=0, dtype=dtype)
    ours = M.ssim(x.to(device), y.to(device)).cpu()
    expected = [skimage_ssim(x[i].double().numpy(), y[i].double().numpy(), 1.0) for i in range(3)]
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(ours.double().numpy(), expected, rtol=tol, atol=tol)


def test_ssim_on_8bit_range_and_single_grey_image():
    x, y = noisy_pair((20, 20), seed=1, scale=255.0)
    expected = skm.structural_similarity(x.numpy(), y.numpy(), gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=255)
    ours = M.ssim(x, y, data_range=255)
    assert ours.dim() == 0 and ours.item() == pytest.approx(expected, rel=1e-10)


def test_psnr_matches_scikit_image(device):
    x, y = noisy_pair((4, 3, 16, 16), seed=2)
    ours = M.psnr(x.to(device), y.to(device)).cpu()
    expected = [skm.peak_signal_noise_ratio(y[i].numpy(), x[i].numpy(), data_range=1.0) for i in range(4)]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)


def test_identical_images_give_inf_and_one():
    x, _ = noisy_pair((2, 1, 12, 12), seed=3)
    assert torch.isinf(M.psnr(x, x)).all()
    torch.testing.assert_close(M.ssim(x, x), torch.ones(2, dtype=torch.float64))


def test_bad_images_are_named():
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="same shape"):
        M.psnr(x, torch.rand(1, 1, 16, 17))
    with pytest.raises(ValueError, match="at least 11x11"):
        M.ssim(torch.rand(1, 1, 10, 16), torch.rand(1, 1, 10, 16))
    with pytest.raises(ValueError, match="data_range must be"):
        M.psnr(x, x, data_range=0)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        M.ssim(x, x.numpy())
