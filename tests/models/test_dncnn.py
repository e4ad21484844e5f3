"""DnCNN: residual learning, fused body, the restoration interface."""

import pytest
import torch

from fusegen.models import DnCNN, RestorationModel
from fusegen.nn import FusedConvNormAct


def test_architecture_is_conv_relu_then_conv_bn_relu_then_conv():
    m = DnCNN(channels=3, depth=6, width=8)
    blocks = [b for b in m.modules() if isinstance(b, FusedConvNormAct)]
    assert len(blocks) == 6
    assert (blocks[0].norm, blocks[0].activation) == ("none", "relu")
    assert all((b.norm, b.activation) == ("batch", "relu") for b in blocks[1:-1])
    assert (blocks[-1].norm, blocks[-1].activation, blocks[-1].out_channels) == ("none", "none", 3)


def test_denoise_subtracts_the_predicted_noise():
    torch.manual_seed(0)
    m = DnCNN(depth=4, width=8).eval()
    assert isinstance(m, RestorationModel)
    x = torch.rand(2, 1, 12, 12) * 0.5 + 0.25
    with torch.no_grad():
        expected = (x - m(x)).clamp(0, 1)
    torch.testing.assert_close(m.denoise(x), expected)
    single = m.denoise(x[0])  # one (C, H, W) image
    torch.testing.assert_close(single, expected[0])


def test_denoise_rejects_bad_inputs():
    m = DnCNN(depth=3, width=4).eval()
    with pytest.raises(ValueError, match="1-channel"):
        m.denoise(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        m.denoise(torch.rand(8, 8))
    with pytest.raises(TypeError):
        m.denoise(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError):
        DnCNN(depth=2)


def test_self_ensemble_averages_the_turned_results():
    torch.manual_seed(0)
    m = DnCNN(depth=4, width=8).eval()
    x = torch.rand(2, 1, 10, 14) * 0.5 + 0.25
    from fusegen.data.symmetry import SYMMETRIES, turn, unturn

    with torch.no_grad():
        expected = torch.stack([unturn(turn(x, k) - m(turn(x, k)), k) for k in SYMMETRIES]).mean(0)
    out = m.denoise(x, self_ensemble=True)
    torch.testing.assert_close(out, expected.clamp(0, 1))
    assert not torch.allclose(out, m.denoise(x))  # the network is not equivariant by itself
    torch.testing.assert_close(m.denoise(x[0], self_ensemble=True), out[0])
