"""EMA of weights: both update methods follow ema = d * ema + (1 - d) * p."""

import pytest
import torch
from torch import nn

from fusegen.train import EMA


def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


@pytest.mark.parametrize("method", ["weighted_sum", "foreach"])
def test_update_follows_the_formula_and_copies_buffers(method):
    torch.manual_seed(0)
    model = _model()
    ema = EMA(model, decay=0.9, method=method)
    start = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(5.0)
    d = ema.current_decay()
    assert d == pytest.approx(0.1)  # the warm-up: min(0.9, 1 / 10)
    ema.update(model)
    for e, s, p in zip(ema.module.parameters(), start, model.parameters()):
        torch.testing.assert_close(e, d * s + (1 - d) * p)
    torch.testing.assert_close(ema.module[1].running_mean, torch.full((4,), 5.0))
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_methods_agree_and_state_round_trips():
    torch.manual_seed(0)
    model = _model()
    a, b = EMA(model, 0.99, "weighted_sum"), EMA(model, 0.99, "foreach")
    for _ in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        a.update(model), b.update(model)
    for x, y in zip(a.module.parameters(), b.module.parameters()):
        torch.testing.assert_close(x, y)
    c = EMA(_model(), 0.5)
    c.load_state_dict(a.state_dict())
    assert c.updates == 30 and c.decay == 0.99
    for x, y in zip(a.module.parameters(), c.module.parameters()):
        torch.testing.assert_close(x, y)
    with pytest.raises(ValueError):
        EMA(model, decay=1.0)
