"""fusegen.ops.norm_act (operators fusegen::norm_act_*) against torch.nn.functional."""

import pytest
import torch
import torch.nn.functional as F

from fusegen.info import registered_operators
from fusegen.ops import norm_act, reference
from tests.conftest import opcheck_operator

ACTIVATIONS = ["none", "relu", "leaky_relu", "tanh", "sigmoid", "silu"]


def _layouts(x):
    yield "contiguous", x
    yield "channels_last", x.to(memory_format=torch.channels_last)
    yield "strided", x.transpose(2, 3).contiguous().transpose(2, 3)


def _params(C, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(1)
    w, b = torch.rand(C, generator=g, dtype=dtype) + 0.5, torch.randn(C, generator=g, dtype=dtype)
    return w.to(device), b.to(device)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("instance", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_norm_act_matches_functional(device, activation, instance, training):
    if instance and not training:
        pytest.skip("instance normalization always uses the input's statistics")
    torch.manual_seed(0)
    x0 = (torch.randn(3, 5, 6, 7) * 3 + 2).to(device)  # a large mean tests the accumulation
    w, b = _params(5, device=device)
    for name, x in _layouts(x0):
        stats = None if instance else (torch.randn(5).to(device), (torch.rand(5) + 0.5).to(device))
        ours_stats = None if stats is None else tuple(s.clone() for s in stats)
        xa = x.clone().requires_grad_()
        xb = x.clone().requires_grad_()
        wa, ba = w.clone().requires_grad_(), b.clone().requires_grad_()
        wb, bb = w.clone().requires_grad_(), b.clone().requires_grad_()
        kw = dict(training=training, instance=instance, momentum=0.1, eps=1e-5,
                  activation=activation, negative_slope=0.1)
        out = norm_act(xa, wa, ba, *(ours_stats or (None, None)), **kw)
        ref = reference.norm_act(xb, wb, bb, *(stats or (None, None)), **kw)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5, msg=name)
        if name == "channels_last":
            assert out.is_contiguous(memory_format=torch.channels_last)
        grad = torch.randn_like(ref)
        out.backward(grad)
        ref.backward(grad)
        for ours, theirs in ((xa, xb), (wa, wb), (ba, bb)):
            torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-4, rtol=1e-4, msg=name)
        if stats is not None:
            torch.testing.assert_close(ours_stats, stats, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_types_accumulate_in_float32(device, dtype):
    torch.manual_seed(0)
    x = torch.randn(4, 8, 5, 5).to(device)
    w, b = _params(8, device=device)
    out = norm_act(x.to(dtype), w, b, training=True, activation="silu")
    ref = reference.norm_act(x, w, b, None, None, training=True, instance=False, momentum=0.1,
                             eps=1e-5, activation="silu", negative_slope=0.2)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), ref, atol=3e-2, rtol=3e-2)


def test_no_affine_and_batch_size_one(device):
    torch.manual_seed(0)
    x = torch.randn(1, 3, 5, 4).to(device)
    out = norm_act(x, training=True, instance=True, activation="relu")
    ref = torch.relu(torch.nn.functional.instance_norm(x))
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("instance", [False, True])
@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "silu"])
def test_norm_act_gradcheck_float64(device, instance, activation):
    torch.manual_seed(0)
    f64 = dict(dtype=torch.float64, device=device)
    x = torch.randn(2, 3, 3, 4, **f64, requires_grad=True)
    w = (torch.rand(3, **f64) + 0.5).requires_grad_()
    b = torch.randn(3, **f64, requires_grad=True)
    fn = lambda x, w, b: norm_act(x, w, b, training=True, instance=instance,  # noqa: E731
                                  activation=activation, negative_slope=0.1)
    assert torch.autograd.gradcheck(fn, (x, w, b))
    if not instance:
        rm, rv = torch.randn(3, **f64), torch.rand(3, **f64) + 0.5
        evalfn = lambda x, w, b: norm_act(x, w, b, rm, rv, training=False,  # noqa: E731
                                          activation=activation, negative_slope=0.1)
        assert torch.autograd.gradcheck(evalfn, (x, w, b))


def _opcheck_samples():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 5)
    w, b = _params(3)
    act = 2
    yield "norm_act_forward", (x.requires_grad_(), w.requires_grad_(), b, None, None, True, False, 1e-5, act, 0.2)
    yield "norm_act_forward", (x.to(memory_format=torch.channels_last), w, b, None, None, True, True, 1e-5, 5, 0.2)
    yield "norm_act_forward", (x, w, b, torch.zeros(3), torch.ones(3), False, False, 1e-5, 1, 0.0)
    mean, invstd = x.mean((0, 2, 3)), torch.rsqrt(x.var((0, 2, 3), unbiased=False) + 1e-5)
    yield "norm_act_backward", (torch.randn(2, 3, 4, 5), x.detach(), w.detach(), b, mean, invstd,
                                True, False, act, 0.2, [True, True, True])
    yield "norm_act_backward", (torch.randn(2, 3, 4, 5), x.detach(), None, None, mean, invstd,
                                False, False, 3, 0.2, [True, False, False])
    yield "norm_act_update_running_stats", (torch.zeros(3), torch.ones(3), mean, invstd, 0.1, 1e-5, 40)


@pytest.mark.parametrize("case", list(range(6)))
def test_opcheck(case):
    name, args = list(_opcheck_samples())[case]
    opcheck_operator(name, args)


def test_every_operator_has_an_opcheck_case():
    ours = {"norm_act_forward", "norm_act_backward", "norm_act_update_running_stats"}
    assert ours <= {name for name, _ in _opcheck_samples()}
    registered = {n for n in registered_operators() if n.startswith("fusegen::norm_act")}
    assert registered == {f"fusegen::{n}" for n in ours}


def test_bad_arguments_name_the_argument():
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="weight must have shape \\(3,\\)"):
        norm_act(x, torch.ones(4), None)
    with pytest.raises(ValueError, match="input must have shape \\(N, C, ...\\)"):
        norm_act(torch.randn(5))
    with pytest.raises(TypeError, match="input must have dtype"):
        norm_act(torch.ones(2, 3, 4, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match="activation must be one of"):
        norm_act(x, activation="mish")
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        norm_act(torch.randn(1, 3, 1, 1), training=True)
    with pytest.raises(ValueError, match="running_mean and running_var must be given together"):
        norm_act(x, None, None, torch.zeros(3), None, instance=True)
    with pytest.raises(ValueError, match="running statistics are not supported with instance"):
        torch.ops.fusegen.norm_act_forward(x, None, None, torch.zeros(3), torch.ones(3), True,
                                           True, 1e-5, 0, 0.0)
    with pytest.raises(ValueError, match="activation must be a code in 0..9"):
        torch.ops.fusegen.norm_act_forward(x, None, None, None, None, True, False, 1e-5, 10, 0.0)


def test_empty_batch(device):
    x = torch.randn(0, 3, 4, 4, device=device)
    assert norm_act(x, training=False, instance=True).shape == x.shape


@pytest.mark.parametrize("instance", [False, True])
def test_large_planes_are_split_without_changing_results(device, instance):
    # 2 planes of 200 x 200 values: more than one work item per plane on the CPU.
    torch.manual_seed(0)
    x = (torch.randn(1, 2, 200, 200, dtype=torch.float64) * 2 + 5).to(device)
    w, b = _params(2, dtype=torch.float64, device=device)
    kw = dict(training=True, instance=instance, momentum=0.1, eps=1e-5, activation="leaky_relu",
              negative_slope=0.1)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = norm_act(xa, w, b, **kw)
    ref = reference.norm_act(xb, w, b, None, None, **kw)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(ref)
    out.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(300, 3, 4, 4), (7, 5, 1, 1), (130, 2, 16, 16), (3, 2, 16, 17)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batch_statistics_of_small_planes_over_many_samples(device, shape, dtype):
    # Planes of at most 256 values are reduced per channel, ~2048 values per merge: these shapes
    # need several merges per channel (300 planes of 16, 130 of 256), one value per plane, and
    # the first plane size past the threshold. A large mean tests the accumulation; the
    # reference runs in float64 (torch's own float32 batch norm backward is off by ~1 here).
    torch.manual_seed(0)
    x = (torch.randn(shape, dtype=dtype) * 0.5 + 100).to(device)
    w, b = _params(shape[1], dtype=dtype, device=device)
    stats = (torch.zeros(shape[1], dtype=torch.float64, device=device),
             torch.ones(shape[1], dtype=torch.float64, device=device))
    ours_stats = tuple(t.to(dtype) for t in stats)
    kw = dict(training=True, instance=False, momentum=0.1, eps=1e-5, activation="leaky_relu",
              negative_slope=0.1)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    xa, xb = x.clone().requires_grad_(), x.double().requires_grad_()
    out = norm_act(xa, w, b, *ours_stats, **kw)
    ref = reference.norm_act(xb, w.double(), b.double(), *stats, **kw)
    torch.testing.assert_close(out, ref.to(dtype), **tol)
    torch.testing.assert_close(ours_stats, tuple(t.to(dtype) for t in stats), **tol)
    grad = torch.randn_like(ref)
    out.backward(grad.to(dtype))
    ref.backward(grad)
    torch.testing.assert_close(xa.grad, xb.grad.to(dtype), **tol)


@pytest.mark.parametrize("momentum", [0.1, 0.0, 1.0])
def test_instance_running_stats_update_as_torch(momentum):
    torch.manual_seed(0)
    x = torch.randn(5, 3, 6, 4, dtype=torch.float64) * 3 + 1
    rm, rv = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    rm_t, rv_t = rm.clone(), rv.clone()
    out = norm_act(x, None, None, rm, rv, training=True, instance=True, momentum=momentum,
                   activation="none")
    expected = F.instance_norm(x, rm_t, rv_t, use_input_stats=True, momentum=momentum)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(rm, rm_t)
    torch.testing.assert_close(rv, rv_t)
    # eval: the running statistics normalize, for instance norm as for batch norm
    out = norm_act(x, None, None, rm, rv, training=False, instance=True, activation="none")
    expected = F.instance_norm(x, rm_t, rv_t, use_input_stats=False)
    torch.testing.assert_close(out, expected)


def test_update_running_stats_checks_statistics_shape():
    rm, rv = torch.zeros(3), torch.ones(3)
    with pytest.raises(ValueError, match="save_mean must have shape \\(C,\\) or \\(N, C\\)"):
        torch.ops.fusegen.norm_act_update_running_stats(rm, rv, torch.zeros(4), torch.ones(4),
                                                        0.1, 1e-5, 8)
    with pytest.raises(ValueError, match="count"):
        torch.ops.fusegen.norm_act_update_running_stats(rm, rv, torch.zeros(2, 3),
                                                        torch.ones(2, 3), 0.1, 1e-5, 1)
