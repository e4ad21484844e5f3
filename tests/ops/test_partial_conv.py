"""fusegen::partial_bias_act (the partial convolution's fused rescale + bias + activation) and the
PartialConvNormAct block, against their plain-PyTorch twins in fusegen.ops.reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fusegen.nn import PartialConvNormAct
from fusegen.ops import keep_valid, mask_counts, partial_bias_act, reference
from tests.conftest import DEVICES, TOLERANCES, opcheck_operator

ACTIVATIONS = ["none", "relu", "leaky_relu", "tanh", "sigmoid", "silu", "gelu", "elu"]


def _case(shape, per_channel, dtype=torch.float32, device="cpu", seed=0, hole_fraction=0.3):
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    y = torch.randn(shape, generator=g, dtype=torch.float64)
    count_shape = (n, c if per_channel else 1, h, w)
    count = torch.randint(1, 10, count_shape, generator=g).double()
    count[torch.rand(count_shape, generator=g) < hole_fraction] = 0
    bias = torch.randn(c, generator=g, dtype=torch.float64)
    return y.to(device, dtype), count.to(device), bias.to(device, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_matches_the_reference_forward_and_backward(device, activation, per_channel, dtype):
    y, count, bias = _case((2, 5, 7, 9), per_channel, dtype, device)
    y.requires_grad_()
    bias.requires_grad_()
    got = partial_bias_act(y, count, bias, window=9.0, activation=activation, negative_slope=0.1)
    grad = torch.randn_like(got)
    got_grads = torch.autograd.grad(got, (y, bias), grad)
    # the reference in float64 from the same stored values
    y64, b64 = y.detach().double().requires_grad_(), bias.detach().double().requires_grad_()
    want = reference.partial_bias_act(y64, count.double(), b64, window=9.0, activation=activation,
                                      negative_slope=0.1)
    want_grads = torch.autograd.grad(want, (y64, b64), grad.double())
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(got.double(), want, rtol=rtol, atol=atol)
    torch.testing.assert_close(got_grads[0].double(), want_grads[0], rtol=rtol, atol=atol)
    torch.testing.assert_close(got_grads[1].double(), want_grads[1], rtol=rtol * 10, atol=atol * 10)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 6), h=st.integers(1, 9), w=st.integers(1, 9),
       per_channel=st.booleans(), with_bias=st.booleans(), window=st.floats(1, 100),
       activation=st.sampled_from(ACTIVATIONS), seed=st.integers(0, 1000))
def test_any_shape_matches_the_reference(n, c, h, w, per_channel, with_bias, window, activation, seed):
    y, count, bias = _case((n, c, h, w), per_channel, torch.float64, seed=seed)
    bias = bias if with_bias else None
    got = partial_bias_act(y, count, bias, window=window, activation=activation)
    want = reference.partial_bias_act(y, count, bias, window=window, activation=activation, negative_slope=0.2)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_the_hole_is_zero_whatever_the_input_holds():
    y = torch.tensor([[[[float("nan"), float("inf"), 1.0, 2.0]]]])
    count = torch.tensor([[[[0.0, 0.0, 2.0, 4.0]]]])
    out = partial_bias_act(y, count, torch.tensor([0.5]), window=4.0, activation="none")
    torch.testing.assert_close(out, torch.tensor([[[[0.0, 0.0, 2.5, 2.5]]]]))
    sig = partial_bias_act(y, count, None, window=4.0, activation="sigmoid")
    assert sig[0, 0, 0, 0] == 0.5  # act(0) in the hole, as the eager formulation gives


def test_channels_last_and_strided_inputs():
    y, count, bias = _case((2, 6, 5, 7), False)
    want = partial_bias_act(y, count, bias, window=9.0)
    torch.testing.assert_close(partial_bias_act(y.to(memory_format=torch.channels_last), count, bias, window=9.0), want)
    wide = torch.randn(2, 6, 5, 14)
    wide[..., ::2] = y
    torch.testing.assert_close(partial_bias_act(wide[..., ::2], count, bias, window=9.0), want)


def test_gradcheck_in_float64():
    y, count, bias = _case((2, 3, 4, 5), True, torch.float64)
    for activation in ("leaky_relu", "silu", "tanh"):
        torch.autograd.gradcheck(
            lambda y, b: partial_bias_act(y, count, b, window=5.0, activation=activation),
            (y.requires_grad_(), bias.requires_grad_()))


def test_opcheck():
    y, count, bias = _case((2, 3, 4, 5), False)
    opcheck_operator("partial_bias_act", (y.requires_grad_(), count, bias.requires_grad_(), 9.0, 2, 0.2))
    opcheck_operator("partial_bias_act", (y, count, None, 9.0, 0, 0.0))
    grad = torch.randn_like(y)
    opcheck_operator("partial_bias_act_backward", (grad, y.detach(), count, bias.detach(), 9.0, 2, 0.2, True))


def test_torch_compile():
    y, count, bias = _case((2, 3, 4, 5), False)
    compiled = torch.compile(lambda y, c, b: partial_bias_act(y, c, b, window=9.0) * 2, fullgraph=True)
    torch.testing.assert_close(compiled(y, count, bias), partial_bias_act(y, count, bias, window=9.0) * 2)


def test_empty_batch():
    y = torch.empty(0, 3, 4, 4, requires_grad=True)
    out = partial_bias_act(y, torch.empty(0, 1, 4, 4), torch.zeros(3, requires_grad=True), window=9.0)
    assert out.shape == y.shape
    out.sum().backward()
    assert y.grad.shape == y.shape


def test_errors_name_the_argument():
    y, count, bias = _case((2, 3, 4, 5), False)
    op = torch.ops.fusegen.partial_bias_act
    cases = [
        (lambda: partial_bias_act(y, count[:, :, :3], bias, window=9.0), ValueError, "count must have shape"),
        (lambda: partial_bias_act(y, count, bias[:2], window=9.0), ValueError, "bias must have shape"),
        (lambda: partial_bias_act(y, count, bias, window=0.0), ValueError, "window must be a finite number"),
        (lambda: partial_bias_act(y, count, bias, window=float("nan")), ValueError, "window must be"),
        (lambda: partial_bias_act(y[0], count, bias, window=9.0), ValueError, r"input must have shape \(N, C, H, W\)"),
        (lambda: partial_bias_act(y.long(), count, bias, window=9.0), TypeError, "input must have dtype"),
        (lambda: partial_bias_act(y, count.long(), bias, window=9.0), TypeError, "count must have dtype"),
        (lambda: partial_bias_act(y, count, bias, window=9.0, activation="mish"), ValueError, "activation"),
        (lambda: op(y, count.to("meta"), bias, 9.0, 1, 0.0), ValueError, "count must be on"),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind, match=message):
            call()


# ---- mask counts and the block ------------------------------------------------------------


def test_mask_counts_are_exact_valid_inputs_per_window():
    mask = torch.zeros(1, 1, 5, 5, dtype=torch.bool)
    mask[0, 0, 2, 2] = True
    count, window = mask_counts(mask, 3, padding=1)
    assert window == 9.0
    assert count[0, 0, 1:4, 1:4].eq(1).all() and count.sum() == 9
    count, window = mask_counts(torch.ones(2, 3, 6, 6), (3, 5), stride=2)
    assert window == 45.0 and count.eq(45).all() and count.shape == (2, 1, 2, 1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("mask_channels", [1, 3])
def test_keep_valid_is_where_bit_for_bit(device, dtype, mask_channels):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 7, generator=g).to(device, dtype)
    x[0, 0, 0, :4] = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0])
    valid = (torch.rand(2, mask_channels, 5, 7, generator=g) > 0.4).to(device)
    valid[0, 0, 0, :3] = False  # NaN and inf in holes
    expected = torch.where(valid, x, torch.zeros((), dtype=dtype, device=device))
    out = keep_valid(x, valid)
    assert out.dtype == dtype and out.shape == x.shape
    assert torch.equal(out, expected) and torch.equal(out.signbit(), expected.signbit())
    # the gradient is the mask too, NaN and inf in the incoming gradient included
    x.requires_grad_()
    grad = torch.randn(x.shape, generator=g).to(device, dtype)
    grad[0, 0, 0, :2] = float("inf")
    keep_valid(x, valid).backward(grad)
    assert torch.equal(x.grad, torch.where(valid, grad, torch.zeros((), dtype=dtype, device=device)))


def test_keep_valid_layouts_gradcheck_compile_and_errors():
    valid = torch.rand(2, 1, 4, 5) > 0.3
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda a: keep_valid(a, valid), (x,))
    last = torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)
    assert torch.equal(keep_valid(last, valid), torch.where(valid, last, 0.0))
    strided = torch.randn(2, 3, 4, 10)[..., ::2]
    assert torch.equal(keep_valid(strided, valid), torch.where(valid, strided, 0.0))
    compiled = torch.compile(lambda a: keep_valid(a, valid) * 2, fullgraph=True)
    torch.testing.assert_close(compiled(x.detach()), torch.where(valid, x.detach(), 0.0) * 2)
    with pytest.raises(TypeError, match="valid must be a bool tensor"):
        keep_valid(x, valid.float())
    with pytest.raises(TypeError, match="input"):
        keep_valid(torch.ones(2, 3, 4, 5, dtype=torch.int32), valid)


@pytest.mark.parametrize("size", [(3, 5), (4, 4), (16, 17), (33, 31)])
def test_bias_gradient_over_planes_of_any_length(size):
    # the CPU kernel sums each plane in 16 lanes and a tail: every split of a plane
    y, count, bias = _case((2, 3) + size, False, torch.float64, seed=3)
    y.requires_grad_(), bias.requires_grad_()
    grad = torch.randn_like(y)
    partial_bias_act(y, count, bias, window=9.0, activation="leaky_relu").backward(grad)
    y2, b2 = y.detach().clone().requires_grad_(), bias.detach().clone().requires_grad_()
    reference.partial_bias_act(y2, count, b2, window=9.0, activation="leaky_relu", negative_slope=0.2).backward(grad)
    torch.testing.assert_close(bias.grad, b2.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y.grad, y2.grad, rtol=1e-12, atol=1e-12)


def _pair(norm, activation, cin=3, cout=5, kernel=3, stride=1, padding=1, seed=0):
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=norm == "none")
    norm_module = {"batch": nn.BatchNorm2d(cout), "instance": nn.InstanceNorm2d(cout, affine=True),
                   "none": None}[norm]
    act_module = {"relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(0.2), "none": None}[activation]
    block = PartialConvNormAct(cin, cout, kernel, stride, padding, norm=norm, activation=activation,
                               bias=norm == "none")
    with torch.no_grad():
        block.weight.copy_(conv.weight)
        if conv.bias is not None:
            block.bias.copy_(conv.bias)
    return block, conv, norm_module, act_module


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "none"])
@pytest.mark.parametrize("mask_channels", [1, 3])
@pytest.mark.parametrize("stride", [1, 2])
def test_block_matches_the_eager_formulation(device, norm, activation, mask_channels, stride):
    block, conv, norm_module, act_module = _pair(norm, activation, stride=stride)
    block, conv = block.to(device), conv.to(device)
    norm_module = norm_module.to(device) if norm_module is not None else None
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 11, 10, generator=g).to(device)
    mask = (torch.rand(4, mask_channels, 11, 10, generator=g) > 0.6).to(device)
    mask[0] = False  # a sample with no valid pixel at all
    x[~mask.expand_as(x)] = float("nan")  # what the holes hold must not matter
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, new_mask = block(xa, mask)
    want, want_mask = reference.partial_conv_norm_act(xb, mask, conv, norm_module, act_module)
    assert new_mask.dtype == torch.bool and new_mask.shape == (4, 1) + out.shape[2:]
    torch.testing.assert_close(new_mask, want_mask.bool())
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
    grad = torch.randn_like(out)
    out.backward(grad)
    want.backward(grad)
    torch.testing.assert_close(xa.grad.nan_to_num(), xb.grad.nan_to_num(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(block.weight.grad, conv.weight.grad, rtol=1e-3, atol=1e-3)
    if norm_module is not None and norm_module.affine:
        torch.testing.assert_close(block.norm_weight.grad, norm_module.weight.grad, rtol=1e-3, atol=1e-3)
    if norm == "batch":
        torch.testing.assert_close(block.running_mean, norm_module.running_mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(block.running_var, norm_module.running_var, rtol=1e-4, atol=1e-5)


def test_block_float_masks_and_eval_mode():
    block, conv, norm_module, act_module = _pair("batch", "relu")
    x = torch.randn(2, 3, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    block.train()(x, mask)
    norm_module.train()(reference.partial_conv_norm_act(x, mask, conv, None, None)[0])
    block.eval()
    norm_module.eval()
    with torch.no_grad():
        out, new_mask = block(x, mask)
        want, want_mask = reference.partial_conv_norm_act(x, mask, conv, norm_module, act_module)
    assert new_mask.dtype == torch.float32
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-5)


def test_block_errors_name_the_argument():
    block = PartialConvNormAct(3, 4, 3, padding=1)
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 1, 8, 8\) or \(2, 3, 8, 8\)"):
        block(x, torch.ones(2, 2, 8, 8))
    with pytest.raises(TypeError, match="mask must be a torch.Tensor"):
        block(x, None)
    with pytest.raises(TypeError, match="mask must be bool, uint8 or float"):
        block(x, torch.ones(2, 1, 8, 8, dtype=torch.int32))
    with pytest.raises(ValueError, match="transposed must be False"):
        PartialConvNormAct(3, 4, 3, transposed=True)
    with pytest.raises(ValueError, match="groups must be 1"):
        PartialConvNormAct(4, 4, 3, groups=2)
