"""fusegen.bench.bm3d_cases: the photos, the noise, the denoisers and their scores (no timing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("skimage", reason="the photos come from scikit-image")

from fusegen.bench import bm3d_cases  # noqa: E402
from fusegen.bench.bm3d_cases import BM3DCase, as_image, cases, denoisers, psnr_db  # noqa: E402
from fusegen.ops import nlm_denoise  # noqa: E402
from fusegen.ops.bm3d import bm3d_denoise  # noqa: E402


def test_cases_are_the_grey_camera_and_the_colour_astronaut():
    grey, colour = cases(32)
    assert (grey.photo, grey.channels, colour.photo, colour.channels) == ("camera", 1, "astronaut", 3)
    assert grey.name == "camera 32x32 grey, sigma 25" and colour.name == "astronaut 32x32 colour, sigma 25"
    assert [c.size for c in cases()] == [bm3d_cases.DEFAULT_SIZE] * 2


def test_images_are_a_centre_crop_with_seeded_unclipped_noise():
    from fusegen.data import photo

    case = BM3DCase("astronaut", 3, size=64)
    clean, noisy = case.images()
    assert clean.shape == noisy.shape == (3, 64, 64) and clean.dtype == noisy.dtype == torch.float32
    torch.testing.assert_close(clean, photo("astronaut", 3)[:, 224:288, 224:288])
    assert abs(float((noisy - clean).std()) - 25 / 255) < 0.01
    assert not torch.equal(noisy, noisy.clamp(0, 1))  # not clipped: the noise both BM3Ds assume
    torch.testing.assert_close(case.images()[1], noisy, atol=0, rtol=0)  # the same draw every time
    assert not torch.equal(BM3DCase("astronaut", 3, size=64, seed=1).images()[1], noisy)
    with pytest.raises(ValueError, match=r"size must be in \[1, 512\].*got 600"):
        BM3DCase("camera", 1, size=600).images()


def test_denoisers_are_fusegen_bm3d_and_nlm_at_their_defaults():
    case = BM3DCase("camera", 1, size=32)
    clean, noisy = case.images()
    fns = denoisers(case, noisy, reference=False)
    assert list(fns) == ["fusegen", "fusegen NLM"]
    torch.testing.assert_close(fns["fusegen"](), bm3d_denoise(noisy, 25 / 255), atol=0, rtol=0)
    torch.testing.assert_close(fns["fusegen NLM"](), nlm_denoise(noisy, 25 / 255), atol=0, rtol=0)
    assert psnr_db(fns["fusegen"](), clean) > psnr_db(noisy, clean) + 3


def test_results_of_any_layout_are_scored_alike():
    clean = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    hwc = clean.permute(1, 2, 0).double().numpy()
    assert as_image(hwc, 3).shape == (3, 8, 8) and torch.equal(as_image(hwc, 3), clean.double())
    assert torch.equal(as_image(clean[0].numpy(), 1), clean[:1].double())
    assert psnr_db(hwc, clean) == float("inf")
    # results are clipped to [0, 1] before scoring
    assert psnr_db(clean + 2.0, clean) == psnr_db(torch.ones_like(clean), clean)


def test_the_reference_package_on_a_small_grey_image():
    pytest.importorskip("bm3d", reason="the reference is optional (pip install bm3d)")
    case = BM3DCase("camera", 1, size=32)
    clean, noisy = case.images()
    reference = denoisers(case, noisy)[bm3d_cases.REFERENCE]  # about a second, even this small
    result = reference()
    assert np.asarray(result).shape == (32, 32)
    assert psnr_db(result, clean) > psnr_db(noisy, clean) + 3


def test_the_reference_takes_grey_or_rgb_only():
    pytest.importorskip("bm3d", reason="the reference is optional (pip install bm3d)")
    with pytest.raises(ValueError, match="1 or 3 channels, got 2"):
        bm3d_cases.reference_denoiser(torch.rand(2, 16, 16), 0.1)
