"""fuse() on every normalization setting of torch's BatchNorm2d and InstanceNorm2d, and its report."""

import pytest
import torch
from torch import nn

from fusegen.nn import FusedConvNormAct, FusedNormAct, FuseReport, fuse, unfuse

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


def _assert_same_steps(model, fused, shape, steps, tol=1e-9):
    """``steps`` forward + backward passes on fresh inputs give the same outputs and gradients."""
    for _ in range(steps):
        x = torch.randn(shape, dtype=torch.float64)
        out, grads = _grads(model, x)
        out_f, grads_f = _grads(fused, x)
        torch.testing.assert_close(out_f, out, atol=tol, rtol=tol)
        for g_f, g in zip(grads_f, grads):
            torch.testing.assert_close(g_f, g, atol=tol, rtol=tol)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv-transpose"])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("norm", NORMS)
def test_fused_equals_eager_in_train_then_eval(norm, act, transposed):
    torch.manual_seed(0)
    model = _model(norm, act, transposed)
    fused, report = fuse(model, report=True)
    assert report.norms_left == 0 and report.norms_fused == 1
    assert isinstance(fused[0], FusedConvNormAct)
    _assert_same_steps(model, fused, (4, 3, 7, 5), steps=3)  # running statistics move each step
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
                                     nn.BatchNorm2d(4), nn.Mish())
        self.mish = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Mish())
        self.group = nn.Sequential(nn.Conv2d(4, 4, 1), nn.GroupNorm(2, 4), nn.ReLU())
        self.preact = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1))

    def forward(self, x):
        return self.preact(self.group(self.mish(self.reflect(x))))


def test_report_names_what_was_left_and_why():
    torch.manual_seed(0)
    model = _Custom()
    fused, report = fuse(model, report=True)
    assert isinstance(report, FuseReport)
    assert [(r.path, r.layers) for r in report.fused] == [
        ("mish.0", ("Conv2d", "BatchNorm2d")), ("preact.0", ("BatchNorm2d", "ReLU"))]
    assert isinstance(fused.preact[0], FusedNormAct) and isinstance(fused.preact[1], nn.Identity)
    reasons = {entry.path: entry.reason for entry in report.left}
    assert sorted(reasons) == ["group.1", "mish.2", "reflect.1"]
    assert "padding_mode='reflect'" in reasons["reflect.1"]
    assert "no fused kernel for Mish" in reasons["mish.2"]
    assert "no fused kernel for GroupNorm" in reasons["group.1"]
    assert report.norms_fused == 2 and report.norms_left == 2
    text = str(report)
    assert "2 of 4 normalization layers fused" in text and "GroupNorm" in text
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
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.InstanceNorm2d(5), nn.Mish())
    fused, report = fuse(model, report=True)
    assert "num_features=5" in report.left[0].reason


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("norm", [n for n in NORMS if n.startswith("batch")])
def test_small_maps_take_atens_batch_norm_with_the_same_numbers(norm, act, eager_small_maps,
                                                                monkeypatch):
    from fusegen.nn import norm_act

    torch.manual_seed(0)
    model = _model(norm, act)
    fused = fuse(model)
    fused_calls = []
    monkeypatch.setattr(norm_act, "norm_act", lambda *a, **k: fused_calls.append(1))
    _assert_same_steps(model, fused, (4, 3, 7, 5), steps=2, tol=1e-12)
    assert not fused_calls
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        expected = getattr(model[1], name)
        if expected is not None:
            torch.testing.assert_close(getattr(fused[0], name), expected)


def test_large_maps_and_instance_norm_take_the_fused_passes(eager_small_maps, monkeypatch):
    from fusegen.nn import norm_act

    calls = []
    real = norm_act.norm_act
    monkeypatch.setattr(norm_act, "norm_act", lambda *a, **k: calls.append(1) or real(*a, **k))
    FusedConvNormAct(3, 8, 3, padding=1, activation="relu")(torch.randn(2, 3, 64, 64))  # 2^16
    FusedConvNormAct(3, 8, 3, padding=1, norm="instance")(torch.randn(1, 3, 4, 4))
    assert len(calls) == 2


class _PreActBlock(nn.Module):
    """A pre-activation residual block with module activations (BN -> ReLU -> Conv, twice)."""

    def __init__(self, channels, norm):
        super().__init__()
        self.bn1, self.relu1 = NORMS[norm](channels), nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2, self.relu2 = NORMS[norm](channels), nn.LeakyReLU(0.1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(self.relu1(self.bn1(x)))
        return x + self.conv2(self.relu2(self.bn2(out)))


@pytest.mark.parametrize("norm", NORMS)
def test_norm_act_without_convolution_before_is_fused(norm):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), _PreActBlock(6, norm),
                          nn.Sequential(NORMS[norm](6), nn.SiLU())).double()
    fused, report = fuse(model, report=True)
    # bn2 follows conv1 directly (Conv -> Norm -> Act), bn1 and the last pair are Norm -> Act.
    norm_type = type(model[1].bn1).__name__
    assert [(run.path, run.layers) for run in report.fused] == [
        ("2.0", (norm_type, "SiLU")), ("1.conv1", ("Conv2d", norm_type, "LeakyReLU")),
        ("1.bn1", (norm_type, "ReLU"))]
    assert report.norms_left == 0
    assert isinstance(fused[1].bn1, FusedNormAct) and isinstance(fused[2][0], FusedNormAct)
    assert set(fused.state_dict()) >= {k for k in model.state_dict() if ".bn2." not in k}
    _assert_same_steps(model, fused, (3, 3, 6, 5), steps=2)
    model.eval()
    fused.eval()
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), atol=1e-9, rtol=1e-9)
    # a state_dict of the original loads into the fused model
    fused.load_state_dict(model.state_dict())


def test_fused_norm_act_from_modules_checks_its_arguments():
    with pytest.raises(TypeError, match="norm must be an nn.BatchNorm2d or nn.InstanceNorm2d"):
        FusedNormAct.from_modules(nn.GroupNorm(2, 4), nn.ReLU())
    with pytest.raises(TypeError, match="act must be"):
        FusedNormAct.from_modules(nn.BatchNorm2d(4), nn.Mish())
    with pytest.raises(ValueError, match="input must have shape \\(N, C, H, W\\)"):
        FusedNormAct(4)(torch.randn(2, 4, 5))
    block = FusedNormAct.from_modules(nn.InstanceNorm2d(4, affine=True), nn.LeakyReLU(0.3))
    assert "InstanceNorm2d(4" in repr(block) and "negative_slope=0.3" in repr(block)
    assert "negative_slope=0.7" in repr(FusedNormAct.from_modules(nn.BatchNorm2d(4), nn.ELU(0.7)))
    assert "negative_slope=0.7" in repr(FusedConvNormAct(3, 4, 3, activation="elu", negative_slope=0.7))


@pytest.mark.parametrize("norm", ["batch", "instance, affine, running stats"])
def test_unfuse_restores_norm_act_pairs(norm):
    torch.manual_seed(0)
    model = nn.Sequential(NORMS[norm](4), nn.LeakyReLU(0.3)).double()
    model(torch.randn(3, 4, 5, 5, dtype=torch.float64))
    fused = fuse(model)
    plain = unfuse(fused)
    assert [type(m) for m in plain[0]] == [type(model[0]), nn.LeakyReLU]
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(plain(x), model(x))
