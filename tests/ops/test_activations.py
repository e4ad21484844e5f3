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
                "tanh": torch.tanh(x), "sigmoid": torch.sigmoid(x), "silu": F.silu(x)}
    assert set(expected) == set(ACTIVATIONS)
    for name, value in expected.items():
        row = ACTIVATIONS[name]
        torch.testing.assert_close(row(x, 0.3), value)
        torch.testing.assert_close(row.make_module(0.3)(x), value)
        assert activation_of_module(row.make_module(0.3)) is row
    assert activation_of_module(None) is ACTIVATIONS["none"]
    assert activation_of_module(nn.GELU()) is None
    assert ACTIVATIONS["leaky_relu"].onednn_scalars(0.3) == [0.3]
    assert ACTIVATIONS["silu"].onednn_post_op == "swish"


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="activation must be one of"):
        activation("gelu")
    with pytest.raises(ValueError, match="activation must be one of"):
        activation_code(None)
