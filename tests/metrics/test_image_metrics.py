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


def holes(shape, seed):
    """A bool (N, 1, H, W) region: a random box per image plus scattered pixels."""
    n, _, h, w = shape
    g = torch.Generator().manual_seed(seed)
    region = torch.rand(n, 1, h, w, generator=g) < 0.2
    region[:, :, h // 4:h // 2, w // 3:w - 2] = True
    return region


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_an_all_true_region_gives_the_whole_image_metric(device, dtype):
    x, y = noisy_pair((3, 2, 24, 31), seed=4, dtype=dtype)
    x, y = x.to(device), y.to(device)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for region in (torch.ones(3, 1, 24, 31, dtype=torch.bool), torch.ones(24, 31, dtype=torch.bool),
                   torch.ones(3, 2, 24, 31, dtype=torch.bool)):
        region = region.to(device)
        torch.testing.assert_close(M.psnr(x, y, region=region), M.psnr(x, y), rtol=tol, atol=tol)
        torch.testing.assert_close(M.ssim(x, y, region=region), M.ssim(x, y), rtol=tol, atol=tol)


def test_region_psnr_is_the_mse_over_the_selected_pixels():
    x, y = noisy_pair((3, 2, 20, 26), seed=5)
    region = holes(x.shape, seed=6)
    for r in (region, region.expand(-1, 2, -1, -1) & (torch.rand(3, 2, 20, 26) < 0.7)):  # per channel too
        selected = np.broadcast_to(r.numpy(), x.shape)
        expected = [10 * np.log10(1 / ((x[i].numpy() - y[i].numpy())[selected[i]] ** 2).mean()) for i in range(3)]
        np.testing.assert_allclose(M.psnr(x, y, region=r).numpy(), expected, rtol=1e-12)
    assert M.psnr(x * 255, y * 255, data_range=255, region=region).numpy() == pytest.approx(
        M.psnr(x, y, region=region).numpy(), rel=1e-12)


def test_region_psnr_ignores_the_pixels_outside_it():
    x, y = noisy_pair((2, 1, 16, 16), seed=7)
    region = holes(x.shape, seed=8)
    changed = torch.where(region, x, 1 - x)
    torch.testing.assert_close(M.psnr(changed, y, region=region), M.psnr(x, y, region=region))
    assert torch.isinf(M.psnr(torch.where(region, y, x), y, region=region)).all()
    assert not torch.isinf(M.psnr(torch.where(region, y, x), y)).any()


def test_region_ssim_is_the_mean_of_scikit_images_map_over_the_region():
    x, y = noisy_pair((3, 2, 24, 31), seed=9)
    region = holes(x.shape, seed=10)
    region[0, 0, :5] = True  # selected pixels in the 5-pixel border are left out
    ours = M.ssim(x, y, region=region).numpy()
    for i in range(3):
        _, full = skm.structural_similarity(x[i].numpy(), y[i].numpy(), channel_axis=0, gaussian_weights=True,
                                            sigma=1.5, use_sample_covariance=False, data_range=1.0, full=True)
        selected = np.broadcast_to(region[i].numpy(), full.shape)[:, 5:-5, 5:-5]
        assert ours[i] == pytest.approx(full[:, 5:-5, 5:-5][selected].mean(), rel=1e-10)
    single = M.ssim(x[0, 0], y[0, 0], region=region[0, 0])
    assert single.dim() == 0


def test_region_errors_are_named():
    x = torch.rand(2, 1, 16, 16)
    region = torch.ones(2, 1, 16, 16, dtype=torch.bool)
    region[1] = False
    with pytest.raises(ValueError, match="region selects no pixel in image 1 of the batch"):
        M.psnr(x, x, region=region)
    border = torch.zeros(16, 16, dtype=torch.bool)
    border[:, :5] = True
    with pytest.raises(ValueError, match="region selects no pixel at least 5 pixels inside the image"):
        M.ssim(x[0], x[0], region=border[None])
    M.psnr(x, x, region=border)  # PSNR scores the border
    with pytest.raises(ValueError, match="region must broadcast to the images' shape \\(2, 1, 16, 16\\), "
                                         "got \\(3, 1, 16, 16\\)"):
        M.ssim(x, x, region=torch.ones(3, 1, 16, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="region must broadcast"):
        M.psnr(x[0, 0], x[0, 0], region=torch.ones(1, 16, 16, dtype=torch.bool))  # more axes than the image
    with pytest.raises(TypeError, match="region must be a bool tensor .* got dtype torch.float32"):
        M.psnr(x, x, region=torch.ones(16, 16))
    with pytest.raises(TypeError, match="region must be a bool torch.Tensor or None"):
        M.ssim(x, x, region=np.ones((16, 16), dtype=bool))
