"""fusegen.nn.WeightedSum: normalizations, learnability, state_dict, errors."""

from __future__ import annotations

import pytest
import torch

from fusegen.nn import WeightedSum
from fusegen.ops import reference


@pytest.mark.parametrize("normalize", ["softmax", "sum", "none"])
def test_starts_as_the_plain_average(device, normalize):
    m = WeightedSum(4, normalize=normalize).to(device)
    xs = [torch.randn(2, 3, 5, device=device) for _ in range(4)]
    torch.testing.assert_close(m(*xs), torch.stack(xs).mean(0))
    torch.testing.assert_close(m(xs), m(torch.stack(xs)))


@pytest.mark.parametrize("normalize", ["softmax", "sum", "none"])
def test_weights_are_learned(normalize):
    torch.manual_seed(0)
    m = WeightedSum(3, normalize=normalize)
    target = torch.tensor([0.7, 0.2, 0.1])
    xs = [torch.randn(64, 8) for _ in range(3)]
    y = reference.weighted_sum(xs, target)
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        loss = (m(xs) - y).square().mean()
        loss.backward()
        opt.step()
    torch.testing.assert_close(m.weights().detach(), target, atol=2e-2, rtol=0)


def test_softmax_weights_are_a_distribution():
    m = WeightedSum(5)
    with torch.no_grad():
        m.raw_weights.copy_(torch.randn(5) * 3)
    w = m.weights()
    assert (w > 0).all()
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))


def test_fixed_weights_are_a_buffer_in_the_state_dict():
    m = WeightedSum(2, learnable=False, normalize="none")
    assert list(m.parameters()) == []
    assert "raw_weights" in m.state_dict()
    m2 = WeightedSum(2, learnable=False, normalize="none")
    m2.load_state_dict({"raw_weights": torch.tensor([0.9, 0.1])})
    x = [torch.ones(3), torch.zeros(3)]
    torch.testing.assert_close(m2(x), torch.full((3,), 0.9))


def test_state_dict_round_trip():
    m = WeightedSum(3)
    with torch.no_grad():
        m.raw_weights.copy_(torch.tensor([1.0, -1.0, 0.5]))
    m2 = WeightedSum(3)
    m2.load_state_dict(m.state_dict())
    torch.testing.assert_close(m2.weights(), m.weights())


def test_errors():
    with pytest.raises(ValueError, match="num_inputs must be a positive integer"):
        WeightedSum(0)
    with pytest.raises(ValueError, match="normalize must be one of"):
        WeightedSum(2, normalize="l2")
    with pytest.raises(ValueError, match="built for 3 inputs, got 2"):
        WeightedSum(3)(torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="module's weights are on"):
        WeightedSum(2)(torch.ones(2, device="meta"), torch.ones(2, device="meta"))
    assert "num_inputs=3" in repr(WeightedSum(3))
