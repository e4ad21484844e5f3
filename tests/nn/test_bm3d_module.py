"""fusegen.nn.BM3DDenoise: the module form of fusegen.ops.bm3d.bm3d_denoise."""

from __future__ import annotations

import pytest
import torch

from fusegen.nn import BM3DDenoise
from fusegen.ops.bm3d import bm3d_denoise

# Small windows keep each call to milliseconds on 32x32 images.
SMALL = dict(search_size=9, group_size=8)


def test_module_equals_the_function():
    image = torch.rand(2, 3, 32, 28, generator=torch.Generator().manual_seed(0))
    module = BM3DDenoise(0.1, step=(3, 2), **SMALL)
    expected = bm3d_denoise(image, 0.1, step=(3, 2), **SMALL)
    torch.testing.assert_close(module(image), expected, atol=0, rtol=0)
    assert list(module.parameters()) == [] and list(module.buffers()) == []


def test_basic_stage_and_every_override_reach_the_function():
    image = torch.rand(1, 24, 24, generator=torch.Generator().manual_seed(1))
    settings = dict(block_size=(4, 8), step=2, search_size=(7, 9), group_size=(4, 8),
                    match_threshold=(0.05, 0.01), threshold=2.5, wiener_factor=0.9, data_range=1.0)
    for stage in ("basic", "final"):
        expected = bm3d_denoise(image, 0.08, stage=stage, **settings)
        torch.testing.assert_close(BM3DDenoise(0.08, stage=stage, **settings)(image), expected,
                                   atol=0, rtol=0)
    basic = BM3DDenoise(0.08, stage="basic", **SMALL)(image)
    assert not torch.equal(basic, BM3DDenoise(0.08, **SMALL)(image))


def test_module_defaults_are_the_function_defaults():
    image = (torch.rand(20, 22, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8)
    out = BM3DDenoise(20.0)(image)
    assert out.dtype == torch.uint8 and out.shape == image.shape
    torch.testing.assert_close(out, bm3d_denoise(image, 20.0), atol=0, rtol=0)


def test_module_in_a_pipeline_denoises():
    y, x = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    clean = (0.5 + 0.3 * torch.sin(6 * x) * torch.cos(5 * y)).expand(2, 1, 32, 32)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    pipeline = torch.nn.Sequential(BM3DDenoise(0.1, **SMALL), torch.nn.Conv2d(1, 2, 3))
    assert pipeline(noisy).shape == (2, 2, 30, 30)
    restored = pipeline[0](noisy)
    assert (restored - clean).square().mean() < (noisy - clean).square().mean() / 3


def test_repr_names_the_settings():
    assert repr(BM3DDenoise(0.1, stage="basic", search_size=9, threshold=2.5)) == \
        "BM3DDenoise(sigma=0.1, stage='basic', search_size=9, threshold=2.5)"
    assert repr(BM3DDenoise(25)) == "BM3DDenoise(sigma=25, stage='final')"


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        (dict(sigma=0.0), ValueError, "sigma"),
        (dict(sigma=-1.0), ValueError, "sigma"),
        (dict(sigma="0.1"), TypeError, "sigma"),
        (dict(sigma=0.1, stage="both"), ValueError, "stage"),
        (dict(sigma=0.1, block_size=17), ValueError, "block_size"),
        (dict(sigma=0.1, step=0), ValueError, "step"),
        (dict(sigma=0.1, search_size=8), ValueError, "search_size"),
        (dict(sigma=0.1, group_size=(16, 24)), ValueError, "group_size"),
        (dict(sigma=0.1, match_threshold=-1.0), ValueError, "match_threshold"),
        (dict(sigma=0.1, threshold=-2.7), ValueError, "threshold"),
        (dict(sigma=0.1, wiener_factor=float("inf")), ValueError, "wiener_factor"),
        (dict(sigma=0.1, data_range=0.0), ValueError, "data_range"),
        (dict(sigma=0.1, step=(1, 2, 3)), ValueError, "step"),
    ],
)
def test_bad_settings_fail_when_the_module_is_built(kwargs, error, name):
    with pytest.raises(error, match=rf"\b{name}\b"):
        BM3DDenoise(**kwargs)


def test_bad_input_names_the_image():
    module = BM3DDenoise(0.1)
    with pytest.raises(ValueError, match="image"):
        module(torch.rand(1, 1, 1, 16, 16))
    with pytest.raises(ValueError, match="block"):  # smaller than one block
        module(torch.rand(1, 4, 4))


def test_no_gradient():
    x = torch.rand(1, 16, 16, requires_grad=True)
    with pytest.raises(RuntimeError, match="no gradient"):
        BM3DDenoise(0.1, **SMALL)(x).sum().backward()
