"""fusegen.ops.weighted_sum against the plain-PyTorch reference, its gradients and its errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusegen.ops import reference, weighted_sum
from tests.conftest import CUDA_READY, assert_close

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def make_inputs(shape, K, dtype, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).to(device=device, dtype=dtype) for _ in range(K)]


def make_weights(K, shape, per_sample, device="cpu", dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    size = (K, shape[0]) if per_sample else (K,)
    return torch.randn(size, generator=g).to(device=device, dtype=dtype)


# ---- values -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("K", [1, 2, 7, 64, 65])
@pytest.mark.parametrize("per_sample", [False, True])
def test_matches_reference(device, dtype, K, per_sample):
    shape = (3, 5, 9, 11)
    xs = make_inputs(shape, K, dtype, device)
    w = make_weights(K, shape, per_sample, device)
    assert_close(weighted_sum(xs, w), reference.weighted_sum(xs, w), dtype)


@pytest.mark.parametrize(
    "shape",
    [(1,), (5,), (2, 2048), (2, 2049), (3, 4097), (1, 1, 1, 1), (64, 1, 8, 8), (2, 3, 1000)],
    ids=str,
)
@pytest.mark.parametrize("per_sample", [False, True])
def test_shapes_crossing_work_items(device, shape, per_sample):
    xs = make_inputs(shape, 3, torch.float32, device)
    w = make_weights(3, shape, per_sample, device)
    assert_close(weighted_sum(xs, w), reference.weighted_sum(xs, w))


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    K=st.integers(1, 9),
    per_sample=st.booleans(),
    dtype=st.sampled_from(FLOATS),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_cpu(shape, K, per_sample, dtype, seed):
    xs = make_inputs(shape, K, dtype, seed=seed)
    w = make_weights(K, shape, per_sample, seed=seed + 1)
    assert_close(weighted_sum(xs, w), reference.weighted_sum(xs, w), dtype)


def test_float64_weights_with_float32_inputs_and_half_inputs(device):
    for dtype in (torch.float32, torch.float16):
        xs = make_inputs((4, 6), 3, dtype, device)
        w = torch.tensor([0.2, -1.5, 3.0], dtype=torch.float64, device=device)
        out = weighted_sum(xs, w)
        assert out.dtype == dtype
        assert_close(out, reference.weighted_sum(xs, w), dtype)


def test_stacked_tensor_and_number_weights(device):
    stacked = torch.randn(4, 2, 3, device=device)
    out = weighted_sum(stacked, [0.1, 0.2, 0.3, 0.4])
    expected = (stacked * torch.tensor([0.1, 0.2, 0.3, 0.4], device=device).view(4, 1, 1)).sum(0)
    assert_close(out, expected)


def test_one_hot_per_sample_weights_pick_a_member(device):
    xs = make_inputs((6, 3, 4, 4), 3, torch.float32, device)
    choice = torch.tensor([2, 0, 1, 1, 0, 2], device=device)
    w = torch.nn.functional.one_hot(choice, 3).t().float()  # (K, N)
    out = weighted_sum(xs, w)
    for n, k in enumerate(choice.tolist()):
        assert torch.equal(out[n], xs[k][n])


def test_empty_inputs_give_empty_results(device):
    xs = [torch.empty(0, 3, device=device, requires_grad=True) for _ in range(2)]
    w = torch.ones(2, device=device, requires_grad=True)
    out = weighted_sum(xs, w)
    assert out.shape == (0, 3)
    out.sum().backward()
    assert torch.equal(w.grad, torch.zeros(2, device=device))
    assert xs[0].grad.shape == (0, 3)
    per_sample = weighted_sum(xs, torch.ones(2, 0, device=device))
    assert per_sample.shape == (0, 3)


# ---- layouts ----------------------------------------------------------------------------


def test_non_contiguous_inputs(device):
    base = torch.randn(3, 8, 10, 12, device=device)
    xs = [base[k].transpose(0, 2)[:, ::2] for k in range(3)]  # strided, non-dense views
    for per_sample in (False, True):
        w = make_weights(3, xs[0].shape, per_sample, device)
        assert_close(weighted_sum(xs, w), reference.weighted_sum(xs, w))


def test_channels_last_is_kept(device):
    xs = [t.to(memory_format=torch.channels_last) for t in make_inputs((2, 3, 5, 7), 4, torch.float32, device)]
    for per_sample in (False, True):
        w = make_weights(4, xs[0].shape, per_sample, device)
        out = weighted_sum(xs, w)
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert_close(out, reference.weighted_sum(xs, w))


def test_mixed_layouts_and_expanded_inputs(device):
    a = torch.randn(2, 3, 4, 5, device=device)
    b = torch.randn(2, 3, 4, 5, device=device).to(memory_format=torch.channels_last)
    c = torch.randn(1, 3, 1, 5, device=device).expand(2, 3, 4, 5)
    xs = [a, b, c]
    for per_sample in (False, True):
        w = make_weights(3, a.shape, per_sample, device)
        assert_close(weighted_sum(xs, w), reference.weighted_sum(xs, w))


def test_per_sample_weights_when_the_sample_dim_is_not_outermost(device):
    # A permuted tensor is dense but its dim 0 is innermost in memory.
    xs = [torch.randn(5, 4, 3, device=device).permute(2, 0, 1) for _ in range(3)]
    w = make_weights(3, xs[0].shape, True, device)
    assert_close(weighted_sum(xs, w), reference.weighted_sum(xs, w))


# ---- gradients --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("K", [1, 3, 70])
def test_gradients_match_reference(device, dtype, per_sample, K):
    shape = (4, 3, 7, 9)
    xs = [x.requires_grad_() for x in make_inputs(shape, K, dtype, device)]
    w = make_weights(K, shape, per_sample, device, dtype).requires_grad_()
    upstream = torch.randn(shape, dtype=dtype, device=device)
    got = torch.autograd.grad(weighted_sum(xs, w), [*xs, w], upstream)
    want = torch.autograd.grad(reference.weighted_sum(xs, w), [*xs, w], upstream)
    rtol, atol = (1e-4, 1e-4) if dtype == torch.float32 else (1e-10, 1e-10)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=rtol, atol=atol)


def test_gradients_for_only_some_arguments(device):
    xs = make_inputs((3, 5), 3, torch.float64, device)
    w = torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64, device=device)
    xs[1].requires_grad_()
    (gx,) = torch.autograd.grad(weighted_sum(xs, w).sum(), [xs[1]])
    torch.testing.assert_close(gx, torch.full_like(gx, -2.0))

    xs = make_inputs((3, 5), 3, torch.float64, device)
    w.requires_grad_()
    (gw,) = torch.autograd.grad(weighted_sum(xs, w).sum(), [w])
    torch.testing.assert_close(gw, torch.stack([x.sum() for x in xs]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_gradients(device, dtype):
    xs = [x.requires_grad_() for x in make_inputs((4, 300), 3, dtype, device)]
    w = torch.tensor([0.3, 0.5, 0.2], device=device, requires_grad=True)
    weighted_sum(xs, w).float().square().sum().backward()
    ref_xs = [x.detach().float().requires_grad_() for x in xs]
    ref_w = w.detach().clone().requires_grad_()
    reference.weighted_sum(ref_xs, ref_w).square().sum().backward()
    rtol, atol = (2e-2, 2e-2) if dtype == torch.float16 else (5e-2, 5e-2)
    torch.testing.assert_close(w.grad, ref_w.grad, rtol=rtol, atol=atol * 10)
    for x, r in zip(xs, ref_xs):
        torch.testing.assert_close(x.grad.float(), r.grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("per_sample", [False, True])
def test_gradcheck(device, per_sample):
    shape = (3, 2, 5)
    xs = [x.requires_grad_() for x in make_inputs(shape, 3, torch.float64, device)]
    w = make_weights(3, shape, per_sample, device, torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: weighted_sum(list(a[:-1]), a[-1]), (*xs, w))


def test_weight_gradient_does_not_depend_on_thread_count():
    xs = make_inputs((8, 50_000), 4, torch.float32)
    w = torch.randn(4, requires_grad=True)
    upstream = torch.randn(8, 50_000)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, max(2, threads)):
            torch.set_num_threads(n)
            results.append(torch.autograd.grad(weighted_sum(xs, w), [w], upstream)[0])
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0], results[1])


# ---- PyTorch integration ----------------------------------------------------------------


@pytest.mark.parametrize("per_sample", [False, True])
def test_opcheck_forward(device, per_sample):
    shape = (3, 4, 5)
    xs = [x.requires_grad_() for x in make_inputs(shape, 3, torch.float32, device)]
    w = make_weights(3, shape, per_sample, device).requires_grad_()
    torch.library.opcheck(torch.ops.fusegen.weighted_sum.default, (xs, w))
    cl = [torch.randn(2, 3, 4, 5, device=device).to(memory_format=torch.channels_last) for _ in range(2)]
    torch.library.opcheck(torch.ops.fusegen.weighted_sum.default, (cl, torch.rand(2, device=device)))


@pytest.mark.parametrize("needs", [(True, True), (True, False), (False, True)])
def test_opcheck_backward(device, needs):
    shape = (3, 4, 5)
    xs = make_inputs(shape, 3, torch.float32, device)
    w = torch.rand(3, device=device)
    grad = torch.randn(shape, device=device)
    torch.library.opcheck(torch.ops.fusegen.weighted_sum_backward.default, (grad, xs, w, *needs))


def test_torch_compile_with_backward(device):
    def blend(xs, w):
        return torch.tanh(weighted_sum(xs, w)) * 2

    compiled = torch.compile(blend, backend="aot_eager", fullgraph=True)
    xs = [x.requires_grad_() for x in make_inputs((2, 3, 8, 8), 3, torch.float32, device)]
    w = torch.rand(3, device=device, requires_grad=True)
    out = compiled(xs, w)
    assert_close(out, blend(xs, w))
    got = torch.autograd.grad(out.sum(), [*xs, w])
    want = torch.autograd.grad(blend(xs, w).sum(), [*xs, w])
    for g, r in zip(got, want):
        assert_close(g, r)


def test_torch_compile_inductor(device):
    compiled = torch.compile(lambda xs, w: weighted_sum(xs, w) + 1, fullgraph=True)
    xs = make_inputs((4, 16), 2, torch.float32, device)
    w = torch.tensor([0.25, 0.75], device=device)
    assert_close(compiled(xs, w), reference.weighted_sum(xs, w) + 1)


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA_READY, reason="needs a GPU and CUDA kernels")
@pytest.mark.parametrize("dtype", FLOATS)
def test_cpu_and_cuda_agree(dtype):
    shape = (5, 3, 33, 31)
    for per_sample in (False, True):
        xs = make_inputs(shape, 5, dtype)
        w = make_weights(5, shape, per_sample)
        cpu = weighted_sum(xs, w)
        gpu = weighted_sum([x.cuda() for x in xs], w.cuda()).cpu()
        assert_close(gpu, cpu, dtype)


# ---- errors -----------------------------------------------------------------------------


def test_errors_name_the_argument():
    x = torch.randn(2, 3)
    cases = [
        (lambda: weighted_sum([], torch.ones(0)), ValueError, "inputs must hold at least one"),
        (lambda: weighted_sum(torch.empty(0, 3), torch.ones(0)), ValueError, "inputs must hold at least one"),
        (lambda: weighted_sum([x, torch.randn(3, 2)], torch.ones(2)), ValueError, r"inputs\[1\] must have the shape"),
        (lambda: weighted_sum([x, x.double()], torch.ones(2)), TypeError, r"inputs\[1\] must have the dtype"),
        (lambda: weighted_sum([x.long(), x.long()], torch.ones(2)), TypeError, r"inputs\[0\] must have dtype"),
        (lambda: weighted_sum([x, x], torch.ones(3)), ValueError, r"weights must have shape \(2,\) or \(2, 2\)"),
        (lambda: weighted_sum([x, x], torch.ones(2, 3)), ValueError, "weights must have shape"),
        (lambda: weighted_sum([x, x], torch.ones(2, 2, 1)), ValueError, "weights must have shape"),
        (lambda: weighted_sum([x, x], torch.ones(2, dtype=torch.long)), TypeError, "weights must have dtype"),
        (lambda: weighted_sum([x, x], torch.ones(2, device="meta")), ValueError, "weights must be on the same device"),
        (lambda: weighted_sum([x, x.to("meta")], torch.ones(2)), ValueError, r"inputs\[1\] must be on the device"),
        (lambda: weighted_sum([x, "x"], torch.ones(2)), TypeError, r"inputs\[1\] must be a torch.Tensor"),
        (lambda: weighted_sum(3, torch.ones(2)), TypeError, "inputs must be a sequence"),
        (lambda: weighted_sum([x, x], "ab"), TypeError, "weights must be a tensor or a sequence"),
        (lambda: weighted_sum([x, x], [1.0, "b"]), TypeError, "weights must be numbers"),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind, match=message):
            call()


def test_compiled_operator_checks_its_own_arguments():
    """Direct callers of torch.ops.fusegen.* get the same clear errors from the C++ checks."""
    x = torch.randn(2, 3)
    op = torch.ops.fusegen.weighted_sum
    with pytest.raises(ValueError, match="inputs must hold at least one"):
        op([], torch.ones(0))
    with pytest.raises(ValueError, match=r"inputs\[1\] must have the shape"):
        op([x, torch.randn(3)], torch.ones(2))
    with pytest.raises(TypeError, match="weights must have dtype"):
        op([x, x], torch.ones(2, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"weights of shape \(K, N\) must be \(2, 2\)"):
        op([x, x], torch.ones(2, 5))
    with pytest.raises(ValueError, match="grad must have the inputs' shape"):
        torch.ops.fusegen.weighted_sum_backward(torch.ones(3), [x, x], torch.ones(2), True, True)


@pytest.mark.parametrize("per_sample", [False, True])
def test_gradgradcheck(device, per_sample):
    shape = (3, 2, 5)
    xs = [x.requires_grad_() for x in make_inputs(shape, 3, torch.float64, device)]
    w = make_weights(3, shape, per_sample, device, torch.float64).requires_grad_()
    assert torch.autograd.gradgradcheck(lambda *a: weighted_sum(list(a[:-1]), a[-1]), (*xs, w))


def test_gradient_penalty_matches_reference(device):
    """A WGAN-GP style penalty needs the gradient of a gradient."""
    xs = [x.requires_grad_() for x in make_inputs((4, 6), 3, torch.float64, device)]
    w = torch.rand(3, dtype=torch.float64, device=device, requires_grad=True)

    def penalty(fn):
        (g,) = torch.autograd.grad(fn(xs, w).sin().sum(), [xs[0]], create_graph=True)
        return torch.autograd.grad(g.square().sum(), [*xs, w])

    for got, want in zip(penalty(weighted_sum), penalty(reference.weighted_sum)):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_conversions_are_exact_for_every_bit_pattern(dtype):
    """The kernels' own vectorizable half/bfloat16 conversions must equal PyTorch's."""
    x = torch.arange(-(1 << 15), 1 << 15, dtype=torch.int32).to(torch.int16).view(dtype)
    out = weighted_sum([x], torch.ones(1))
    same_bits = out.view(torch.int16) == x.view(torch.int16)
    assert bool((same_bits | (out.isnan() & x.isnan())).all())
    # float32 -> dtype rounding (to nearest even, overflow to inf, NaN kept) as torch rounds:
    # a + b of two values of dtype is exact in float32, so only the final rounding differs.
    g = torch.Generator().manual_seed(0)
    scale = torch.logspace(-9, 5, 1 << 16)
    a = (torch.randn(1 << 16, generator=g) * scale).to(dtype)
    b = (torch.randn(1 << 16, generator=g) * scale * 1e-3).to(dtype)
    extremes = torch.tensor([65504.0, float("inf"), float("nan"), -0.0, 6e-8, 3e38]).to(dtype)
    a, b = torch.cat([a, extremes]), torch.cat([b, extremes])
    got = weighted_sum([a, b], torch.ones(2))
    expected = (a.float() + b.float()).to(dtype)
    assert bool(((got.view(torch.int16) == expected.view(torch.int16)) | (got.isnan() & expected.isnan())).all())


# --- out= -------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_sample", [False, True], ids=["per-input", "per-sample"])
@pytest.mark.parametrize("layout", ["contiguous", "channels-last", "strided"])
def test_out_holds_the_result(layout, per_sample):
    torch.manual_seed(0)
    xs = [torch.randn(3, 4, 5, 6) for _ in range(4)]
    w = torch.rand(4, 3) if per_sample else torch.rand(4)
    if layout == "contiguous":
        out = torch.full((3, 4, 5, 6), float("nan"))
    elif layout == "channels-last":
        out = torch.full((3, 4, 5, 6), float("nan")).contiguous(memory_format=torch.channels_last)
    else:  # not dense: written through a temporary
        out = torch.full((3, 4, 5, 12), float("nan"))[..., ::2]
    result = weighted_sum(xs, w, out=out)
    assert result is out
    torch.testing.assert_close(out, reference.weighted_sum(xs, w))


@pytest.mark.parametrize("which", [0, 1])
def test_out_may_be_one_of_the_inputs(which):
    torch.manual_seed(0)
    xs = [torch.randn(70_000), torch.randn(70_000)]  # several work items, several threads
    expected = 0.9 * xs[0] + 0.1 * xs[1]
    weighted_sum(xs, [0.9, 0.1], out=xs[which])
    torch.testing.assert_close(xs[which], expected)


def test_ema_update_in_place_matches_lerp():
    torch.manual_seed(0)
    ema, p = torch.randn(64, 3, 3, 3), torch.randn(64, 3, 3, 3)
    expected = torch.lerp(ema, p, 0.25)
    weighted_sum([ema, p], torch.tensor([0.75, 0.25]), out=ema)
    torch.testing.assert_close(ema, expected)


def test_out_bad_arguments_name_the_argument():
    xs = [torch.randn(2, 3), torch.randn(2, 3)]
    w = torch.rand(2)
    with pytest.raises(ValueError, match=r"out must have the inputs' shape \(2, 3\), got \(3, 2\)"):
        weighted_sum(xs, w, out=torch.empty(3, 2))
    with pytest.raises(TypeError, match="out must have the inputs' dtype"):
        weighted_sum(xs, w, out=torch.empty(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="out must be on the inputs' device"):
        weighted_sum(xs, w, out=torch.empty(2, 3, device="meta"))
    with pytest.raises(TypeError, match="out must be a torch.Tensor"):
        weighted_sum(xs, w, out=[0.0] * 6)
    base = torch.randn(7)
    with pytest.raises(ValueError, match="out must not partly overlap inputs\\[0\\]"):
        torch.ops.fusegen.weighted_sum_into([base[1:], base[:-1]], w, base[:-1])
    with pytest.raises(RuntimeError, match="does not support autograd"):
        weighted_sum([x.requires_grad_() for x in xs], w, out=torch.empty(2, 3))


def test_out_opcheck():
    xs = [torch.randn(2, 3, 4, 4) for _ in range(3)]
    torch.library.opcheck(torch.ops.fusegen.weighted_sum_into.default,
                          (xs, torch.rand(3), torch.empty(2, 3, 4, 4)))


def test_out_under_torch_compile():
    xs = [torch.randn(2, 3, 4, 4) for _ in range(2)]
    ema = xs[0].clone()

    @torch.compile(fullgraph=True)
    def update(ema, x):
        weighted_sum([ema, x], torch.tensor([0.5, 0.5]), out=ema)
        return ema

    update(ema, xs[1])
    torch.testing.assert_close(ema, 0.5 * xs[0] + 0.5 * xs[1])
