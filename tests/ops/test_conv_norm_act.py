"""fusegen.ops.conv_norm_act: the convolution + norm_act composite."""

import pytest
import torch

from fusegen.ops import conv_norm_act


def test_gradcheck_conv_norm_act_transposed():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)  # groups=2: (C_in, C_out/2, k, k)
    g = torch.ones(6, dtype=torch.float64, requires_grad=True)
    fn = lambda x, w, g: conv_norm_act(x, w, None, g, None, transposed=True, stride=2,  # noqa: E731
                                       padding=1, output_padding=1, groups=2, norm="batch",
                                       activation="silu")
    assert torch.autograd.gradcheck(fn, (x, w, g))


def test_bad_arguments_name_the_argument():
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="input must have 3 channels"):
        conv_norm_act(torch.randn(2, 4, 5, 5), torch.randn(6, 3, 3, 3))
    with pytest.raises(ValueError, match="norm must be one of"):
        conv_norm_act(x, torch.randn(6, 3, 3, 3), norm="group")
    with pytest.raises(ValueError, match="activation must be one of"):
        conv_norm_act(x, torch.randn(6, 3, 3, 3), activation="mish")
