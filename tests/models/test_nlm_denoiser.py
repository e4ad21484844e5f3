"""NLMDenoiser: the NLM operator behind the restoration interface."""

import pytest
import torch

from fusegen.models import NLMDenoiser, RestorationModel, build_model
from fusegen.ops import nlm_denoise


def _smooth(channels=1, size=32):
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(6 * x) * torch.cos(5 * y)
    return base.expand(channels, size, size).contiguous()


@pytest.mark.parametrize("channels", [1, 3])
def test_denoise_is_the_operator_at_sigma_over_255(channels):
    clean = _smooth(channels)
    noisy = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)) * 25 / 255
    model = NLMDenoiser(sigma=25)
    assert isinstance(model, RestorationModel)
    out = model.denoise(noisy)
    torch.testing.assert_close(out, nlm_denoise(noisy[None], 25 / 255, data_range=1.0)[0].clamp(0, 1))
    assert (out - clean).square().mean() < (noisy - clean).square().mean() / 3


def test_explicit_parameters_and_registry():
    model = build_model("nlm", {"sigma": 20, "h": 10, "patch_size": 3, "search_size": 7, "channels": 1})
    x = _smooth()[None]
    expected = nlm_denoise(x, 20 / 255, h=10 / 255, patch_size=3, search_size=7, data_range=1.0)
    torch.testing.assert_close(model.denoise(x), expected.clamp(0, 1))
    with pytest.raises(ValueError, match="1-channel"):
        model.denoise(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="sigma"):
        NLMDenoiser(sigma=0)
