"""fusegen.ops.conv_bias_act, and its oneDNN inference path (bias + activation in the
convolution's epilogue)."""

import importlib
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusegen.nn import FusedConvNormAct
from fusegen.ops import conv_bias_act

# The module (fusegen.ops.conv_bias_act the attribute is the function of the same name).
module = importlib.import_module("fusegen.ops.conv_bias_act")

pytestmark = pytest.mark.skipif(
    not module.ONEDNN_AVAILABLE,
    reason="this torch has no oneDNN pointwise convolution")

REFERENCE_ACTIVATIONS = {"none": lambda t: t, "relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.1),
                         "tanh": torch.tanh, "sigmoid": torch.sigmoid, "silu": F.silu}
# (transposed, kernel, stride, padding, dilation, groups, output_padding)
CONVS = [
    (False, 3, (1, 1), (1, 1), (1, 1), 1, (0, 0)),
    (False, 4, (2, 1), (1, 2), (1, 1), 2, (0, 0)),
    (False, 3, (1, 2), (2, 2), (2, 2), 4, (0, 0)),
    (False, 1, (1, 1), (0, 0), (1, 1), 1, (0, 0)),
    (True, 4, (2, 2), (1, 1), (1, 1), 1, (0, 0)),
    (True, 3, (2, 1), (1, 0), (2, 1), 2, (1, 0)),
    (True, 3, (3, 3), (0, 0), (1, 1), 4, (2, 1)),
]
LAYOUTS = ["contiguous", "channels_last", "strided"]


def _input(layout, n=2, c=8, h=7, w=9):
    if layout == "strided":  # every other column of a wider tensor
        return torch.randn(n, c, h, 2 * w)[..., ::2]
    x = torch.randn(n, c, h, w)
    return x.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else x


def _weights(transposed, k, groups, cin=8, cout=12, dtype=torch.float32):
    shape = (cin, cout // groups, k, k) if transposed else (cout, cin // groups, k, k)
    return torch.randn(shape, dtype=dtype) * 0.2, torch.randn(cout, dtype=dtype)


def _reference(x, w, b, cfg, activation):
    transposed, _, s, p, d, g, op = cfg
    y = (F.conv_transpose2d(x, w, b, s, p, op, g, d) if transposed
         else F.conv2d(x, w, b, s, p, d, g))
    return REFERENCE_ACTIVATIONS[activation](y)


def _fused(x, w, b, cfg, activation):
    transposed, _, s, p, d, g, op = cfg
    return conv_bias_act(x, w, b, stride=s, padding=p, dilation=d, groups=g, transposed=transposed,
                         output_padding=op, activation=activation, negative_slope=0.1)


@pytest.mark.parametrize("cfg,activation,layout",
                         list(itertools.product(CONVS, REFERENCE_ACTIVATIONS, LAYOUTS)))
def test_matches_convolution_then_activation(cfg, activation, layout):
    torch.manual_seed(0)
    x = _input(layout)
    w, b = _weights(cfg[0], cfg[1], cfg[5])
    assert module.can_use_onednn(x, w, b, cfg[3], activation)
    out = _fused(x, w, b, cfg, activation)
    expected = _reference(x, w, b, cfg, activation)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    if layout == "channels_last":  # the output keeps the input's memory format, as F.conv2d's
        assert out.is_contiguous(memory_format=torch.channels_last)
    else:
        assert out.is_contiguous()


def test_without_bias_batch_of_one_and_empty_batch():
    torch.manual_seed(0)
    cfg = CONVS[1]
    w, _ = _weights(cfg[0], cfg[1], cfg[5])
    for x in (torch.randn(1, 8, 5, 5), torch.randn(0, 8, 5, 5)):
        torch.testing.assert_close(_fused(x, w, None, cfg, "relu"), _reference(x, w, None, cfg, "relu"))


@pytest.mark.skipif(torch.bfloat16 not in module.ONEDNN_DTYPES, reason="no oneDNN bfloat16 on this CPU")
def test_bfloat16():
    torch.manual_seed(0)
    cfg = CONVS[0]
    x = torch.randn(2, 8, 9, 9)
    w, b = _weights(cfg[0], cfg[1], cfg[5])
    out = _fused(x.bfloat16(), w.bfloat16(), b.bfloat16(), cfg, "silu")
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), _reference(x, w, b, cfg, "silu"), atol=5e-2, rtol=5e-2)


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
def test_falls_back_where_onednn_does_not_apply(monkeypatch):
    calls = []
    real = module.onednn_conv_bias_act
    monkeypatch.setattr(module, "onednn_conv_bias_act", lambda *a: calls.append(1) or real(*a))
    torch.manual_seed(0)
    cfg = CONVS[0]
    x = torch.randn(2, 8, 6, 6)
    w, b = _weights(cfg[0], cfg[1], cfg[5])

    def check(x, w, b, padding=(1, 1), activation="tanh"):
        calls.clear()
        transposed, _, s, _, d, g, op = cfg
        out = conv_bias_act(x, w, b, stride=s, padding=padding, dilation=d, groups=g,
                            activation=activation)
        expected = REFERENCE_ACTIVATIONS[activation](F.conv2d(x.detach(), w.detach(), b.detach(), s, padding, d, g))
        torch.testing.assert_close(out.detach().float(), expected.float(), atol=5e-2, rtol=5e-2)
        return out, len(calls)

    assert check(x, w, b)[1] == 1
    out, n = check(x.clone().requires_grad_(), w, b)  # autograd needed: convolution + bias_act
    assert n == 0 and out.requires_grad
    assert check(x, w.clone().requires_grad_(), b)[1] == 0
    with torch.no_grad():
        assert check(x, w.clone().requires_grad_(), b)[1] == 1
    assert check(x.double(), w.double(), b.double())[1] == 0  # oneDNN has no float64
    assert check(x, w, b, padding="same")[1] == 0
    with torch.backends.mkldnn.flags(enabled=False):
        assert check(x, w, b)[1] == 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, n = check(x, w, b)
        assert n == 0 and out.dtype == torch.bfloat16  # autocast's dtype, as eager gives


def test_fused_block_uses_it_in_eval_without_autograd(monkeypatch):
    calls = []
    real = module.onednn_conv_bias_act
    monkeypatch.setattr(module, "onednn_conv_bias_act", lambda *a: calls.append(a[-2]) or real(*a))
    torch.manual_seed(0)
    ref = nn.Sequential(nn.ConvTranspose2d(8, 6, 4, 2, 1, bias=False), nn.BatchNorm2d(6),
                        nn.LeakyReLU(0.2))
    ref[1].running_mean.uniform_(-1, 1)
    ref[1].running_var.uniform_(0.5, 2)
    block = FusedConvNormAct.from_modules(*ref)
    x = torch.randn(3, 8, 5, 5)
    block(x).sum().backward()  # training: the fused norm+act operators, not the epilogue
    ref(x)
    assert calls == []
    block.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(block(x), ref(x), atol=1e-5, rtol=1e-5)
    assert calls == ["leaky_relu"]


@pytest.mark.parametrize("activation", ["relu", "gelu", "none"])
def test_small_maps_take_atens_convolution_and_the_activation_in_place(activation, eager_small_maps,
                                                                      monkeypatch):
    calls = []
    real = module.onednn_conv_bias_act
    monkeypatch.setattr(module, "onednn_conv_bias_act", lambda *a: calls.append(a[0].shape) or real(*a))
    torch.manual_seed(0)
    w, b = torch.randn(8, 4, 3, 3), torch.randn(8)
    act = {"relu": F.relu, "gelu": F.gelu, "none": lambda t: t}[activation]
    with torch.no_grad():
        small = torch.randn(2, 4, 8, 8)  # 1024 output values
        torch.testing.assert_close(conv_bias_act(small, w, b, padding=1, activation=activation),
                                   act(F.conv2d(small, w, b, padding=1)))
        assert calls == []
        large = torch.randn(4, 4, 48, 48)  # 73728 output values
        torch.testing.assert_close(conv_bias_act(large, w, b, padding=1, activation=activation),
                                   act(F.conv2d(large, w, b, padding=1)), atol=1e-5, rtol=1e-5)
        assert calls == [large.shape]


@pytest.mark.parametrize("transposed", [False, True])
def test_conv_output_numel_matches_atens_output(transposed):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 11, 9)
    for stride, padding, dilation, output_padding in [(1, 0, 1, 0), (2, 1, 1, 1), (3, 2, 2, 0)]:
        if transposed:
            w = torch.randn(4, 3, 3, 3)
            y = F.conv_transpose2d(x, w, None, stride, padding, output_padding, 1, dilation)
        else:
            w = torch.randn(6, 4, 3, 3)
            y = F.conv2d(x, w, None, stride, padding, dilation)
            output_padding = 0
        got = module.conv_output_numel(x, w, stride, padding, dilation, 1, transposed, output_padding)
        assert got == y.numel()


def test_torch_compile_of_an_inference_model():
    torch.manual_seed(0)
    model = nn.Sequential(FusedConvNormAct(3, 8, 3, padding=1, activation="silu"),
                          FusedConvNormAct(8, 4, 4, 2, 1, transposed=True, norm="none",
                                           activation="sigmoid")).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), expected,
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("transposed", [False, True])
def test_a_strided_or_expanded_bias_gives_the_right_numbers(transposed):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    w = torch.randn(4, 8, 3, 3) if transposed else torch.randn(8, 4, 3, 3)
    conv = F.conv_transpose2d if transposed else F.conv2d
    for bias in (torch.randn(16)[::2], torch.randn(1).expand(8)):
        with torch.no_grad():
            got = conv_bias_act(x, w, bias, padding=1, transposed=transposed, activation="none")
        torch.testing.assert_close(got, conv(x, w, bias.contiguous(), padding=1))


def test_an_expanded_bias_over_many_channels_does_not_crash():
    with torch.no_grad():
        y = conv_bias_act(torch.randn(1, 1, 1, 1), torch.randn(2**16, 1, 1, 1),
                          torch.randn(1).expand(2**16), activation="none")
    assert y.shape == (1, 2**16, 1, 1)


def test_bias_of_the_wrong_shape_and_negative_output_padding_are_refused():
    x, w = torch.randn(1, 4, 5, 5), torch.randn(8, 4, 3, 3)
    with torch.no_grad(), pytest.raises(ValueError, match=r"bias must have shape \(8,\)"):
        conv_bias_act(x, w, torch.randn(4))
    wt = torch.randn(4, 8, 3, 3)
    for output_padding in (-1, 2):
        with torch.no_grad(), pytest.raises(ValueError, match="output_padding must be >= 0 and smaller"):
            conv_bias_act(x, wt, None, stride=2, transposed=True, output_padding=output_padding)


@pytest.mark.parametrize("activation", list(REFERENCE_ACTIVATIONS))
def test_nan_and_inf_give_eager_pytorchs_results(activation):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 7, 7)
    x[0, 1, 3, 3], x[1, 2, 0, 6], x[1, 0, 5, 1] = float("nan"), float("inf"), -float("inf")
    w, b = torch.randn(8, 4, 3, 3), torch.randn(8)
    with torch.no_grad():
        got = conv_bias_act(x, w, b, padding=1, activation=activation, negative_slope=0.1)
    expected = REFERENCE_ACTIVATIONS[activation](F.conv2d(x, w, b, padding=1))
    torch.testing.assert_close(got, expected, equal_nan=True)
    assert torch.isnan(got).sum() == torch.isnan(expected).sum() > 0


def test_an_eval_relu_model_keeps_nan_like_eager():
    from fusegen.models import DnCNN
    from fusegen.nn import unfuse

    torch.manual_seed(0)
    model = DnCNN(depth=4, width=8).eval()
    x = torch.rand(1, 1, 16, 16)
    x[0, 0, 8, 8] = float("nan")
    with torch.no_grad():
        fused, eager = model(x), unfuse(model)(x)
    assert torch.isnan(fused).sum() == torch.isnan(eager).sum() > 0
