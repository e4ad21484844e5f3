"""BM3DDenoiser: the BM3D operator behind the restoration interface, saved, loaded, ensembled."""

import pytest
import torch

import fusegen
from fusegen.checkpoint import save_model
from fusegen.models import (MODEL_KINDS, BM3DDenoiser, DnCNN, Ensemble, NLMDenoiser,
                            RestorationModel, build_model)
from fusegen.ops.bm3d import bm3d_denoise

SMALL = dict(search_size=9, group_size=8)  # milliseconds on 32x32 images


def _smooth(channels=1, size=32):
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    base = 0.5 + 0.3 * torch.sin(6 * x) * torch.cos(5 * y)
    return base.expand(channels, size, size).contiguous()


def _noisy(clean, seed=0):
    return clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed)) * 25 / 255


@pytest.mark.parametrize("channels", [1, 3])
def test_denoise_is_the_operator_at_sigma_over_255(channels):
    clean = _smooth(channels)
    noisy = _noisy(clean)
    model = BM3DDenoiser(sigma=25)
    assert isinstance(model, RestorationModel) and model.kind == "bm3d"
    out = model.denoise(noisy)
    torch.testing.assert_close(out, bm3d_denoise(noisy[None], 25 / 255, data_range=1.0)[0].clamp(0, 1))
    assert (out - clean).square().mean() < (noisy - clean).square().mean() / 3


def test_explicit_parameters_and_registry():
    config = {"sigma": 20, "stage": "basic", "block_size": 4, "step": 2, "search_size": 7,
              "group_size": (4, 8), "match_threshold": 2000.0, "threshold": 2.5,
              "wiener_factor": 1.2, "channels": 1}
    assert MODEL_KINDS["bm3d"] is BM3DDenoiser
    model = build_model("bm3d", config)
    x = _noisy(_smooth())[None]
    expected = bm3d_denoise(x, 20 / 255, stage="basic", block_size=4, step=2, search_size=7,
                            group_size=(4, 8), match_threshold=2000.0 / 255 ** 2, threshold=2.5,
                            wiener_factor=1.2, data_range=1.0)
    torch.testing.assert_close(model.denoise(x), expected.clamp(0, 1))
    with pytest.raises(ValueError, match="1-channel"):
        model.denoise(torch.rand(1, 3, 16, 16))
    pair = BM3DDenoiser(20, match_threshold=(3000, 500), **SMALL)
    expected = bm3d_denoise(x, 20 / 255, match_threshold=(3000 / 255 ** 2, 500 / 255 ** 2),
                            data_range=1.0, **SMALL)
    torch.testing.assert_close(pair.denoise(x), expected.clamp(0, 1))


@pytest.mark.parametrize("kwargs,name", [
    (dict(sigma=0), "sigma"),
    (dict(sigma=float("nan")), "sigma"),
    (dict(stage="all"), "stage"),
    (dict(channels=2), "channels"),
    (dict(group_size=12), "group_size"),
    (dict(search_size=10), "search_size"),
    (dict(match_threshold=(1.0, 2.0, 3.0)), "match_threshold"),
])
def test_bad_settings_fail_when_the_model_is_built(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BM3DDenoiser(**kwargs)


def test_saved_and_loaded_with_fusegen_load(tmp_path):
    model = BM3DDenoiser(30, stage="basic", channels=3, **SMALL)
    path = save_model(model, tmp_path / "bm3d.pt")
    back = fusegen.load(path)
    assert isinstance(back, BM3DDenoiser) and back.config == model.config and not back.training
    x = _noisy(_smooth(3), seed=1)
    torch.testing.assert_close(back.denoise(x), model.denoise(x), atol=0, rtol=0)
    assert "stage='basic'" in repr(back)


def test_an_ensemble_member_beside_dncnn_and_nlm(tmp_path):
    torch.manual_seed(0)
    dncnn = DnCNN(depth=3, width=4).eval()
    nlm, bm3d = NLMDenoiser(25.0, patch_size=3, search_size=7), BM3DDenoiser(25.0, **SMALL)
    ens = Ensemble([dncnn, nlm, bm3d], weights=[1, 1, 2])
    assert ens.mode == "average" and ens.names == ["dncnn", "nlm", "bm3d"]
    x = _noisy(_smooth())[None]
    expected = (0.25 * dncnn.denoise(x) + 0.25 * nlm.denoise(x) + 0.5 * bm3d.denoise(x)).clamp(0, 1)
    torch.testing.assert_close(ens.denoise(x), expected)
    back = fusegen.load(ens.save(tmp_path / "ens.pt"))
    assert isinstance(back.members[2], BM3DDenoiser) and back.members[2].config == bm3d.config
    torch.testing.assert_close(back.denoise(x), ens.denoise(x))
    # learned weights: least squares over the members' outputs on noisy/clean pairs
    clean = torch.stack([_smooth(size=24), _smooth(size=24).flip(-1)])
    ens.fit_weights(_noisy(clean, seed=2), clean)
    assert ens.weights.shape == (3,) and torch.isclose(ens.weights.sum(), torch.tensor(1.0))
