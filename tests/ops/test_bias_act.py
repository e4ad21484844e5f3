"""fusegen.ops.bias_act (operators fusegen::bias_act, fusegen::bias_act_backward) against torch."""

import pytest
import torch

from fusegen.info import registered_operators
from fusegen.ops import bias_act
from tests.conftest import opcheck_operator

ACTIVATIONS = ["none", "relu", "leaky_relu", "tanh", "sigmoid", "silu"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bias_act(device, activation):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 5).to(device).requires_grad_()
    b = torch.randn(4).to(device).requires_grad_()
    out = bias_act(x, b, activation=activation, negative_slope=0.3)
    z = x.detach() + b.detach().view(1, -1, 1, 1)
    expected = _act(z, activation, 0.3)
    torch.testing.assert_close(out, expected)
    gx, gb = torch.autograd.grad(out.sum(), (x, b))
    zr = z.clone().requires_grad_()
    (gz,) = torch.autograd.grad(_act(zr, activation, 0.3).sum(), zr)
    torch.testing.assert_close(gx, gz)
    torch.testing.assert_close(gb, gz.sum((0, 2, 3)))


def _act(z, activation, slope):
    F = torch.nn.functional
    return {"none": lambda t: t, "relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, slope),
            "tanh": torch.tanh, "sigmoid": torch.sigmoid, "silu": F.silu}[activation](z)


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "silu"])
def test_bias_act_gradcheck_float64(device, activation):
    torch.manual_seed(0)
    f64 = dict(dtype=torch.float64, device=device)
    x = torch.randn(2, 3, 3, 4, **f64, requires_grad=True)
    b = torch.randn(3, **f64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, b: bias_act(x, b, activation=activation), (x, b))


def _opcheck_samples():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5)
    yield "bias_act", (x.detach().requires_grad_(), torch.randn(3, requires_grad=True), 4, 0.2)
    yield "bias_act_backward", (torch.randn(2, 3, 4, 5), x.detach(), torch.randn(3), 1, 0.2, True)


@pytest.mark.parametrize("case", list(range(2)))
def test_opcheck(case):
    name, args = list(_opcheck_samples())[case]
    opcheck_operator(name, args)


def test_every_operator_has_an_opcheck_case():
    ours = {"bias_act", "bias_act_backward"}
    assert ours <= {name for name, _ in _opcheck_samples()}
    registered = {n for n in registered_operators() if n.startswith("fusegen::bias_act")}
    assert registered == {f"fusegen::{n}" for n in ours}


def test_bad_arguments_name_the_argument():
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="bias must have shape"):
        torch.ops.fusegen.bias_act(x, torch.ones(2), 1, 0.0)
    with pytest.raises(ValueError, match="activation must be one of"):
        bias_act(x, activation="mish")
    with pytest.raises(ValueError, match="bias_needs_grad is true but no bias was given"):
        torch.ops.fusegen.bias_act_backward(x, x, None, 1, 0.0, True)


def test_empty_batch(device):
    x = torch.randn(0, 3, 4, 4, device=device)
    assert bias_act(x, torch.ones(3, device=device)).shape == x.shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_piecewise_activations_at_zero(device, dtype, activation):
    # The CPU kernels choose the branch on the bits of z: z == 0 (either sign) must take the
    # negative side as torch does, the smallest values of either sign their own side.
    z = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-300, -1e-300, 2.0, -2.0], dtype=dtype, device=device)
    x = z.view(1, -1, 1, 1).expand(2, -1, 3, 1).contiguous().requires_grad_()
    out = bias_act(x, None, activation=activation, negative_slope=0.25)
    xr = x.detach().clone().requires_grad_()
    expected = _act(xr, activation, 0.25)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    grad = torch.rand_like(expected) + 0.5
    (gx,) = torch.autograd.grad(out, x, grad)
    (gr,) = torch.autograd.grad(expected, xr, grad)
    torch.testing.assert_close(gx, gr, rtol=0, atol=0)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "silu"])
def test_nan_and_inf_propagate_like_torch(device, activation):
    x = torch.tensor([float("nan"), -float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.5, -2.0],
                     device=device).view(1, 2, 2, 2)
    act = {
        "relu": torch.relu,
        "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "silu": torch.nn.functional.silu,
    }[activation]
    got = bias_act(x, None, activation=activation)
    torch.testing.assert_close(got, act(x), equal_nan=True)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "silu"])
def test_gradients_at_nan_and_inf_like_torch(device, activation):
    # bias_act's backward has no normalization term: an infinite input must not meet a 0 * inf.
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.5, -2.0, 100.0],
                     device=device).view(1, 2, 2, 2)
    xf, xt = x.clone().requires_grad_(), x.clone().requires_grad_()
    (got,) = torch.autograd.grad(bias_act(xf, None, activation=activation).sum(), xf)
    (expected,) = torch.autograd.grad(_act(xt, activation, 0.2).sum(), xt)
    torch.testing.assert_close(got, expected, equal_nan=True)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "silu"])
def test_smooth_activations_over_the_float32_range(device, activation, layout):
    # The CPU loops use their own vectorizable exp/tanh polynomials: sweep the whole range where
    # they change behaviour (underflow, the tanh switch at 0.625, overflow), both loop layouts.
    sweep = torch.cat([torch.linspace(-120, 120, 48_001), torch.linspace(-1, 1, 8_001),
                       torch.tensor([-104.5, -87.5, 88.5, 89.5, 0.625, -0.625, 1e-30, -1e-30])])
    x = sweep[: len(sweep) // 8 * 8].view(2, 4, -1, 1).to(device)
    if layout == "channels_last":
        x = x.to(memory_format=torch.channels_last)
    xf, xt = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = bias_act(xf, None, activation=activation)
    expected = _act(xt, activation, 0.2)
    torch.testing.assert_close(out, expected, rtol=4e-7, atol=1e-7)
    g = torch.randn_like(x)
    (got,) = torch.autograd.grad(out, xf, g)
    (ref,) = torch.autograd.grad(expected, xt, g)
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)
