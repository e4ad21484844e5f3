"""The one activation table (fusegen.ops.activations) against the C++ enum and torch."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fusegen import _C
from fusegen.ops import bias_act
from fusegen.ops.activations import ACTIVATIONS, activation, activation_code, activation_of_module


def test_codes_match_the_cpp_enum():
    assert {name: row.code for name, row in ACTIVATIONS.items()} == _C.activation_codes()


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_code_runs_its_activation_in_the_operator(name):
    # The operator given the table's code computes the table's eager function.
    row = ACTIVATIONS[name]
    x = torch.linspace(-4, 4, 2 * 3 * 5, dtype=torch.float64).view(2, 3, 5, 1)
    out = torch.ops.fusegen.bias_act(x, None, row.code, 0.3)
    torch.testing.assert_close(out, row(x, 0.3))
    torch.testing.assert_close(bias_act(x, None, activation=name, negative_slope=0.3), row(x, 0.3))


def test_rows_agree_with_torch():
    x = torch.randn(50)
    expected = {"none": x, "relu": F.relu(x), "leaky_relu": F.leaky_relu(x, 0.3),
                "tanh": torch.tanh(x), "sigmoid": torch.sigmoid(x), "silu": F.silu(x),
                "relu6": F.relu6(x), "hardswish": F.hardswish(x), "gelu": F.gelu(x),
                "elu": F.elu(x, 0.3)}
    assert set(expected) == set(ACTIVATIONS)
    for name, value in expected.items():
        row = ACTIVATIONS[name]
        torch.testing.assert_close(row(x, 0.3), value)
        torch.testing.assert_close(row.make_module(0.3)(x), value)
        assert activation_of_module(row.make_module(0.3)) is row
    assert activation_of_module(None) is ACTIVATIONS["none"]
    assert activation_of_module(nn.GELU(approximate="tanh")) is None
    assert activation_of_module(nn.Mish()) is None
    assert ACTIVATIONS["elu"].slope_of(nn.ELU(0.7)) == pytest.approx(0.7)
    assert ACTIVATIONS["leaky_relu"].onednn_scalars(0.3) == [0.3]
    assert ACTIVATIONS["silu"].onednn_post_op == "swish"


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="activation must be one of"):
        activation("mish")
    with pytest.raises(ValueError, match="activation must be one of"):
        activation_code(None)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_special_values_and_gradients_follow_torch(name, dtype):
    # Every CPU form (the float ones are vectorizable rewrites) on the values where activations
    # differ: signs of zero, the kinks (0, +-3, 6), both infinities and NaN, and far tails.
    row = ACTIVATIONS[name]
    values = [0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0, 6.0, 2.9, 6.1, -2.9, -3.1, 20.0, -20.0, -90.0,
              88.0, float("inf"), float("-inf"), float("nan")]
    x = torch.tensor(values + list(torch.linspace(-8, 8, 46).tolist()), dtype=dtype)
    x4 = x.view(1, -1, 1, 1)
    # torch's float64 results as the reference: its float32 vector loops disagree with its own
    # scalar ones at a few special values (GELU(+inf) is NaN in the former, +inf in the latter).
    out = torch.ops.fusegen.bias_act(x4, None, row.code, 0.3).flatten()
    torch.testing.assert_close(out, row(x.double(), 0.3).to(dtype), equal_nan=True, atol=2e-6,
                               rtol=1e-5)
    # Infinite upstream gradients where the derivative is exactly 0 or 1 (torch masks: 0 at
    # ReLU's z <= 0, not inf * 0 = NaN), finite ones elsewhere.
    xr = x.double().requires_grad_()
    (derivative,) = torch.autograd.grad(row(xr, 0.3).sum(), xr)
    masked = ((derivative == 0) | (derivative == 1)) & ~torch.isnan(x)
    grad = torch.where(masked, float("inf"), torch.tensor([1.0, -2.0], dtype=torch.float64).repeat(32))
    assert masked.any()
    row(xr, 0.3).backward(grad)
    grad = grad.to(dtype)
    ours, _ = torch.ops.fusegen.bias_act_backward(grad.view(1, -1, 1, 1), x4, None, row.code, 0.3,
                                                  False)
    torch.testing.assert_close(ours.flatten(), xr.grad.to(dtype), equal_nan=True, atol=2e-6,
                               rtol=1e-5)
