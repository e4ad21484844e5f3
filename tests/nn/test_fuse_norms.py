"""fuse() on every normalization setting of torch's BatchNorm2d and InstanceNorm2d, and its report."""

import pytest
import torch
from torch import nn

from fusegen.nn import FusedConvNormAct, FuseReport, fuse, unfuse

NORMS = {
    "instance, running stats (CycleGAN default)": lambda c: nn.InstanceNorm2d(c, track_running_stats=True),
    "instance, affine, running stats": lambda c: nn.InstanceNorm2d(c, affine=True, track_running_stats=True),
    "instance, running stats, momentum None": lambda c: nn.InstanceNorm2d(c, track_running_stats=True, momentum=None),
    "instance, affine": lambda c: nn.InstanceNorm2d(c, affine=True),
    "instance": lambda c: nn.InstanceNorm2d(c),
    "batch": lambda c: nn.BatchNorm2d(c),
    "batch, momentum None": lambda c: nn.BatchNorm2d(c, momentum=None),
    "batch, no running stats": lambda c: nn.BatchNorm2d(c, track_running_stats=False),
    "batch, not affine": lambda c: nn.BatchNorm2d(c, affine=False, momentum=0.3),
}
ACTIVATIONS = {
    "ReLU(inplace)": lambda: nn.ReLU(inplace=True),
    "LeakyReLU(0.2, inplace)": lambda: nn.LeakyReLU(0.2, inplace=True),
    "none": lambda: None,
}


def _model(norm, act, transposed=False):
    conv = (nn.ConvTranspose2d(3, 6, 3, 2, 1, output_padding=1, bias=True) if transposed
            else nn.Conv2d(3, 6, 3, padding=1, bias=True))
    activation = ACTIVATIONS[act]()
    layers = [conv, NORMS[norm](6)] + ([activation] if activation is not None else [])
    return nn.Sequential(*layers).double()


def _grads(model, x):
    x = x.clone().requires_grad_()
    out = model(x)
    grads = torch.autograd.grad(out.square().sum(), [x, *model.parameters()])
    return out.detach(), grads


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv-transpose"])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("norm", NORMS)
def test_fused_equals_eager_in_train_then_eval(norm, act, transposed):
    torch.manual_seed(0)
    model = _model(norm, act, transposed)
    fused, report = fuse(model, report=True)
    assert report.norms_left == 0 and report.norms_fused == 1
    assert isinstance(fused[0], FusedConvNormAct)
    for _ in range(3):  # running statistics move with each training step
        x = torch.randn(4, 3, 7, 5, dtype=torch.float64)
        out, grads = _grads(model, x)
        out_f, grads_f = _grads(fused, x)
        torch.testing.assert_close(out_f, out, atol=1e-9, rtol=1e-9)
        for g_f, g in zip(grads_f, grads):
            torch.testing.assert_close(g_f, g, atol=1e-9, rtol=1e-9)
    # Every buffer (running statistics, num_batches_tracked) holds torch's values, and the
    # unfused copy is the original model again.
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        expected = getattr(model[1], name)
        got = getattr(fused[0], name)
        assert (got is None) == (expected is None), name
        if expected is not None:
            torch.testing.assert_close(got, expected, atol=1e-12, rtol=1e-12)
    original = model.state_dict()
    roundtrip = unfuse(fused)[0]
    eager_keys = {f"{i}.{k}" for i, m in enumerate(roundtrip) for k in m.state_dict()}
    assert eager_keys == set(original)
    model.eval()
    fused.eval()
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64)
    with torch.no_grad():  # the folded path when the norm has running statistics
        torch.testing.assert_close(fused(x), model(x), atol=1e-9, rtol=1e-9)
    out, grads = _grads(model, x)  # eval mode with autograd
    out_f, grads_f = _grads(fused, x)
    torch.testing.assert_close(out_f, out, atol=1e-9, rtol=1e-9)
    for g_f, g in zip(grads_f, grads):
        torch.testing.assert_close(g_f, g, atol=1e-9, rtol=1e-9)


def test_eval_float32_matches_within_1e_4():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1),
                          nn.InstanceNorm2d(16, track_running_stats=True), nn.ReLU(True))
    model(torch.randn(8, 3, 16, 16))  # move the running statistics
    model.eval()
    fused = fuse(model)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), atol=1e-4, rtol=1e-4)


def test_instance_norm_with_running_stats_needs_more_than_one_value_when_training():
    block = FusedConvNormAct(3, 4, 1, norm="instance", track_running_stats=True)
    with pytest.raises(ValueError, match="more than 1 value"):
        block(torch.randn(2, 3, 1, 1))


def test_track_running_stats_defaults_follow_torch():
    assert FusedConvNormAct(3, 4, 3, norm="batch").running_mean is not None
    assert FusedConvNormAct(3, 4, 3, norm="instance").running_mean is None
    block = FusedConvNormAct(3, 4, 3, norm="instance", track_running_stats=True)
    assert block.running_var is not None and "track_running_stats=True" in repr(block)


class _Custom(nn.Module):
    """Layers of every kind that fuse() must leave, each for a reason the report names."""

    def __init__(self):
        super().__init__()
        self.reflect = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
                                     nn.BatchNorm2d(4), nn.ReLU())
        self.gelu = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.GELU())
        self.group = nn.Sequential(nn.Conv2d(4, 4, 1), nn.GroupNorm(2, 4), nn.ReLU())
        self.preact = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1))

    def forward(self, x):
        return self.preact(self.group(self.gelu(self.reflect(x))))


def test_report_names_what_was_left_and_why():
    torch.manual_seed(0)
    model = _Custom()
    fused, report = fuse(model, report=True)
    assert isinstance(report, FuseReport)
    assert [(r.path, r.layers) for r in report.fused] == [("gelu.0", ("Conv2d", "BatchNorm2d"))]
    reasons = {entry.path: entry.reason for entry in report.left}
    assert "padding_mode='reflect'" in reasons["reflect.1"]
    assert "no fused kernel for GELU" in reasons["gelu.2"]
    assert "no fused kernel for GroupNorm" in reasons["group.1"]
    assert "first layer" in reasons["preact.0"]
    assert report.norms_fused == 1 and report.norms_left == 3
    text = str(report)
    assert "1 of 4 normalization layers fused" in text and "GroupNorm" in text
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(fused(x), model(x), atol=1e-5, rtol=1e-5)


class _Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)

    def forward(self, x):
        if x.sum() > 0:  # control flow on a tensor value: torch.fx cannot trace it
            x = -x
        return self.norm(self.conv(x))


def test_report_says_when_the_forward_could_not_be_traced():
    _, report = fuse(_Untraceable(), report=True)
    assert report.trace_error is not None
    assert [entry.reason for entry in report.left] == ["called from a forward that torch.fx cannot trace"]
    assert "could not trace" in str(report)


def test_norm_over_other_channels_is_left():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.InstanceNorm2d(5), nn.ReLU())
    fused, report = fuse(model, report=True)
    assert "num_features=5" in report.left[0].reason


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("norm", [n for n in NORMS if n.startswith("batch")])
def test_small_maps_take_atens_batch_norm_with_the_same_numbers(norm, act, eager_small_maps,
                                                                monkeypatch):
    from fusegen.nn import conv_norm_act

    torch.manual_seed(0)
    model = _model(norm, act)
    fused = fuse(model)
    fused_calls = []
    monkeypatch.setattr(conv_norm_act, "norm_act", lambda *a, **k: fused_calls.append(1))
    for _ in range(2):
        x = torch.randn(4, 3, 7, 5, dtype=torch.float64)
        out, grads = _grads(model, x)
        out_f, grads_f = _grads(fused, x)
        torch.testing.assert_close(out_f, out, atol=1e-12, rtol=1e-12)
        for g_f, g in zip(grads_f, grads):
            torch.testing.assert_close(g_f, g, atol=1e-12, rtol=1e-12)
    assert not fused_calls
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        expected = getattr(model[1], name)
        if expected is not None:
            torch.testing.assert_close(getattr(fused[0], name), expected)


def test_large_maps_and_instance_norm_take_the_fused_passes(eager_small_maps, monkeypatch):
    from fusegen.nn import conv_norm_act

    calls = []
    real = conv_norm_act.norm_act
    monkeypatch.setattr(conv_norm_act, "norm_act", lambda *a, **k: calls.append(1) or real(*a, **k))
    FusedConvNormAct(3, 8, 3, padding=1, activation="relu")(torch.randn(2, 3, 64, 64))  # 2^16
    FusedConvNormAct(3, 8, 3, padding=1, norm="instance")(torch.randn(1, 3, 4, 4))
    assert len(calls) == 2
