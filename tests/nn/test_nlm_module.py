"""fusegen.nn.NLMDenoise: the module form of fusegen.ops.nlm_denoise."""

from __future__ import annotations

import pytest
import torch

from fusegen.nn import NLMDenoise
from fusegen.ops import nlm_denoise


def test_module_equals_the_function():
    image = torch.rand(2, 3, 20, 18, generator=torch.Generator().manual_seed(0))
    module = NLMDenoise(0.1, patch_size=5, search_size=9)
    expected = nlm_denoise(image, 0.1, patch_size=5, search_size=9)
    torch.testing.assert_close(module(image), expected, atol=0, rtol=0)
    assert list(module.parameters()) == []


def test_module_defaults_follow_the_table():
    image = (torch.rand(15, 17, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    torch.testing.assert_close(NLMDenoise(20.0)(image), nlm_denoise(image, 20.0), atol=0, rtol=0)


def test_module_colour_space():
    image = torch.rand(2, 3, 14, 13, generator=torch.Generator().manual_seed(2))
    for space in ("opponent", "rgb"):
        module = NLMDenoise(0.1, patch_size=3, search_size=7, colour_space=space)
        expected = nlm_denoise(image, 0.1, patch_size=3, search_size=7, colour_space=space)
        torch.testing.assert_close(module(image), expected, atol=0, rtol=0)
    torch.testing.assert_close(NLMDenoise(0.1)(image), nlm_denoise(image, 0.1), atol=0, rtol=0)
    assert repr(NLMDenoise(0.1, colour_space="rgb")) == "NLMDenoise(sigma=0.1, colour_space='rgb')"


def test_module_in_a_pipeline():
    pipeline = torch.nn.Sequential(NLMDenoise(0.05, h=0.04), torch.nn.Conv2d(1, 2, 3))
    assert pipeline(torch.rand(2, 1, 12, 12)).shape == (2, 2, 10, 10)


def test_repr_names_the_settings():
    assert repr(NLMDenoise(0.1, h=0.05, patch_size=5)) == "NLMDenoise(sigma=0.1, h=0.05, patch_size=5)"


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        (dict(sigma=-1.0), ValueError, "sigma"),
        (dict(sigma=0.0), ValueError, "h"),
        (dict(sigma=0.1, h=0.0), ValueError, "h"),
        (dict(sigma=0.1, patch_size=2), ValueError, "patch_size"),
        (dict(sigma=0.1, search_size=0), ValueError, "search_size"),
        (dict(sigma=0.1, patch_size=7, search_size=5), ValueError, "search_size"),
        (dict(sigma=0.1, data_range=-1.0), ValueError, "data_range"),
        (dict(sigma=0.1, colour_space="lab"), ValueError, "colour_space"),
        (dict(sigma=0.1, colour_space=1), TypeError, "colour_space"),
    ],
)
def test_bad_settings_fail_when_the_module_is_built(kwargs, error, name):
    with pytest.raises(error, match=rf"\b{name}\b"):
        NLMDenoise(**kwargs)


def test_bad_input_names_the_image():
    with pytest.raises(ValueError, match="image"):
        NLMDenoise(0.1)(torch.rand(1, 1, 1, 4, 4))
