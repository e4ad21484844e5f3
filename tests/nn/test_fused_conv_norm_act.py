"""FusedConvNormAct against nn.Sequential(conv, norm, act) over a grid of configurations."""

import itertools

import pytest
import torch
from torch import nn

from fusegen.nn import FusedConvNormAct

NORMS = ["batch", "instance", "none"]
ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh,
               "sigmoid": nn.Sigmoid, "silu": nn.SiLU, "none": nn.Identity}
# (transposed, kernel, stride, padding, output_padding, groups, bias)
CONVS = [
    (False, 3, 1, 1, 0, 1, None),
    (False, 4, 2, 1, 0, 2, True),
    (True, 4, 2, 1, 0, 1, None),
    (True, 3, 2, 1, 1, 2, True),
]
GRID = list(itertools.product(CONVS, NORMS, ACTIVATIONS))


def _reference(conv_cfg, norm, activation, cin=4, cout=6):
    transposed, k, s, p, op, g, bias = conv_cfg
    with_bias = (norm == "none") if bias is None else bias
    if transposed:
        conv = nn.ConvTranspose2d(cin, cout, k, s, p, op, groups=g, bias=with_bias)
    else:
        conv = nn.Conv2d(cin, cout, k, s, p, groups=g, bias=with_bias)
    norm_mod = {"batch": nn.BatchNorm2d(cout), "instance": nn.InstanceNorm2d(cout, affine=True),
                "none": nn.Identity()}[norm]
    return nn.Sequential(conv, norm_mod, ACTIVATIONS[activation]())


def _fused(conv_cfg, norm, activation, cin=4, cout=6):
    transposed, k, s, p, op, g, bias = conv_cfg
    return FusedConvNormAct(cin, cout, k, s, p, transposed=transposed, output_padding=op, groups=g,
                            bias=bias, norm=norm, activation=activation)


def _assert_same_step(ref, fused, x, atol=1e-4):
    xr = x.clone().requires_grad_()
    xf = x.clone().requires_grad_()
    out_r, out_f = ref(xr), fused(xf)
    torch.testing.assert_close(out_f, out_r, atol=atol, rtol=1e-4)
    grad = torch.randn_like(out_r)
    out_r.backward(grad)
    out_f.backward(grad)
    torch.testing.assert_close(xf.grad, xr.grad, atol=atol, rtol=1e-4)
    conv, norm = ref[0], ref[1]
    pairs = [(fused.weight, conv.weight), (fused.bias, conv.bias)]
    if not isinstance(norm, nn.Identity):
        pairs += [(fused.norm_weight, norm.weight), (fused.norm_bias, norm.bias)]
    for ours, theirs in pairs:
        if theirs is not None:
            torch.testing.assert_close(ours.grad, theirs.grad, atol=atol * 10, rtol=1e-4)
    if isinstance(norm, nn.BatchNorm2d):
        torch.testing.assert_close(fused.running_mean, norm.running_mean)
        torch.testing.assert_close(fused.running_var, norm.running_var)
        assert fused.num_batches_tracked == norm.num_batches_tracked


@pytest.mark.parametrize("conv_cfg,norm,activation", GRID)
def test_matches_sequential_train_and_eval(device, conv_cfg, norm, activation):
    torch.manual_seed(0)
    ref = _reference(conv_cfg, norm, activation).to(device)
    torch.manual_seed(0)
    fused = _fused(conv_cfg, norm, activation).to(device)
    # The same seed gives the same initial weights as torch's modules.
    torch.testing.assert_close(fused.weight, ref[0].weight)
    x = torch.randn(3, 4, 7, 6).to(device)
    for _ in range(2):  # two training steps: running statistics accumulate
        ref.zero_grad()
        fused.zero_grad()
        _assert_same_step(ref.train(), fused.train(), x)
    ref.zero_grad()
    fused.zero_grad()
    _assert_same_step(ref.eval(), fused.eval(), x)  # eval with autograd: no folding
    with torch.no_grad():  # eval without autograd: batch norm folded into the convolution
        torch.testing.assert_close(fused(x), ref(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_channels_last_batch_one_odd_sizes(device, norm):
    torch.manual_seed(0)
    ref = _reference(CONVS[1], norm, "leaky_relu", cin=4, cout=6).to(device)
    fused = FusedConvNormAct.from_modules(*ref)
    x = torch.randn(1, 4, 9, 11).to(device).to(memory_format=torch.channels_last)
    _assert_same_step(ref.train(), fused.train(), x)
    ref.eval()
    fused.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x), ref(x), atol=1e-5, rtol=1e-4)


def test_float64_and_bfloat16(device):
    torch.manual_seed(0)
    ref = _reference(CONVS[0], "batch", "silu").double().to(device)
    fused = FusedConvNormAct.from_modules(*ref)
    _assert_same_step(ref, fused, torch.randn(2, 4, 5, 5, dtype=torch.float64).to(device), atol=1e-10)
    ref_f32 = _reference(CONVS[0], "batch", "silu").to(device)
    fused_bf16 = FusedConvNormAct.from_modules(*ref_f32).to(torch.bfloat16)
    x = torch.randn(2, 4, 5, 5).to(device)
    out = fused_bf16(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref_f32(x), atol=5e-2, rtol=5e-2)


def test_eval_follows_parameter_and_statistics_updates():
    torch.manual_seed(0)
    ref = _reference(CONVS[0], "batch", "relu")
    fused = FusedConvNormAct.from_modules(*ref)
    x = torch.randn(4, 4, 6, 6)
    opt_r = torch.optim.SGD(ref.parameters(), lr=0.1)
    opt_f = torch.optim.SGD(fused.parameters(), lr=0.1)
    for _ in range(3):
        for model, opt in ((ref, opt_r), (fused, opt_f)):
            model.train()
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
            model.eval()
        with torch.no_grad():
            torch.testing.assert_close(fused(x), ref(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("edit", ["data", "no_grad", "load_state_dict"])
def test_eval_sees_every_kind_of_parameter_edit(edit):
    # .data edits bypass the version counters: a cache of the folded weights would miss them
    torch.manual_seed(0)
    ref = _reference(CONVS[0], "batch", "relu").eval()
    fused = FusedConvNormAct.from_modules(*ref).eval()
    x = torch.randn(4, 4, 6, 6)
    with torch.no_grad():
        fused(x)  # a first folded call
        if edit == "data":
            fused.weight.data.mul_(2)
            fused.running_var.data.mul_(3)
        elif edit == "no_grad":
            fused.weight.mul_(2)
            fused.running_var.mul_(3)
        else:
            state = fused.state_dict()
            fused.load_state_dict({**state, "weight": state["weight"] * 2,
                                   "running_var": state["running_var"] * 3})
        ref[0].weight.mul_(2)
        ref[1].running_var.mul_(3)
        torch.testing.assert_close(fused(x), ref(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_small_eval_maps_run_unfolded_as_eager_does(norm, eager_small_maps, monkeypatch):
    from fusegen.nn import conv_norm_act

    def no_fold(*args):
        raise AssertionError("a map below FOLD_FROM was folded")

    monkeypatch.setattr(conv_norm_act, "fold_batch_norm", no_fold)
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 8, 3, padding=1, bias=False)
    norm_module = nn.BatchNorm2d(8) if norm == "batch" else nn.InstanceNorm2d(8, affine=True, track_running_stats=True)
    ref = nn.Sequential(conv, norm_module, nn.ReLU())
    ref.train()(torch.randn(4, 4, 8, 8))  # running statistics that are not the initial ones
    ref.eval()
    fused = FusedConvNormAct.from_modules(*ref).eval()
    x = torch.randn(2, 4, 8, 8)  # 2 * 8 * 8 * 8 = 1024 output values
    x[0, 0, 2, 2] = float("nan")
    with torch.no_grad():
        torch.testing.assert_close(fused(x), ref(x), atol=1e-5, rtol=1e-4, equal_nan=True)
    big = torch.randn(16, 4, 32, 32)  # 131072 output values: folded
    monkeypatch.undo()
    with torch.no_grad():
        torch.testing.assert_close(fused(big), ref(big), atol=1e-4, rtol=1e-4)


def test_cumulative_momentum_and_state_dict_round_trip():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 5, 3, bias=False), nn.BatchNorm2d(5, momentum=None)
    ref = nn.Sequential(conv, bn, nn.ReLU())
    fused = FusedConvNormAct.from_modules(conv, bn, nn.ReLU())
    for _ in range(3):
        x = torch.randn(2, 3, 6, 6)
        _assert_same_step(ref, fused, x)
        ref.zero_grad()
        fused.zero_grad()
    copy = FusedConvNormAct(3, 5, 3, momentum=None)
    copy.load_state_dict(fused.state_dict())
    copy.eval()
    fused.eval()
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(copy(x), fused(x))


def test_bad_input_is_named():
    block = FusedConvNormAct(3, 8, 3, padding=1)
    with pytest.raises(ValueError, match="input must have 3 channels"):
        block(torch.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match="input must have shape \\(N, C, H, W\\)"):
        block(torch.randn(3, 8, 8))
    with pytest.raises(ValueError, match="norm must be one of"):
        FusedConvNormAct(3, 8, 3, norm="layer")
    with pytest.raises(ValueError, match="activation must be one of"):
        FusedConvNormAct(3, 8, 3, activation="mish")
    with pytest.raises(TypeError, match="norm must be an nn.BatchNorm2d"):
        FusedConvNormAct.from_modules(nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8), nn.ReLU())


def test_torch_compile_of_a_model_with_the_block():
    def make():
        torch.manual_seed(0)
        return nn.Sequential(FusedConvNormAct(3, 8, 3, padding=1, activation="leaky_relu"),
                             FusedConvNormAct(8, 4, 4, 2, 1, transposed=True, norm="instance",
                                              activation="tanh"))

    eager, model = make(), make()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(2, 3, 8, 8)
    expected, out = eager(x), compiled(x)
    torch.testing.assert_close(out, expected)
    expected.square().sum().backward()
    out.square().sum().backward()
    torch.testing.assert_close(model[0].weight.grad, eager[0].weight.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(model[0].running_var, eager[0].running_var)
    assert model[0].num_batches_tracked == 1
