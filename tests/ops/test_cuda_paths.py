"""CUDA paths that the other operator tests do not reach, and CUDA-graph capture of every op.

Each test compares the CUDA kernels with the CPU kernels on the same inputs. The cases:
weighted sums over more inputs than one launch's pointer table (K = 33, 65, 130), several work
items per sample, half types, inputs not 16-byte aligned, a non-default stream; norm_act on
(N, C) and (N, C, L) inputs and on a second GPU; NLM's global-memory path, grid-z chunking and
two host threads launching with different shared-memory sizes. Capturing an operator in a CUDA
graph fails on any host synchronisation inside it, so the capture tests hold the operators to
"no blocking copy, no .item()".
"""

from __future__ import annotations

import threading

import pytest
import torch

from fusegen.ops import bias_act, nlm_denoise, norm_act, weighted_sum
from tests.conftest import CUDA_READY, TOLERANCES

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not CUDA_READY, reason="needs a GPU and CUDA kernels")]

HALVES = [torch.float16, torch.bfloat16]


def _inputs(shape, K, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).to(dtype) for _ in range(K)]


def _assert_close(got, want, dtype, scale=1.0):
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(got.cpu().float(), want.cpu().float(), rtol=rtol * scale, atol=atol * scale)


# ---- weighted sum -------------------------------------------------------------------------


def _weighted_sum_with_grads(xs, w, device):
    xs = [x.detach().to(device).requires_grad_() for x in xs]
    w = w.detach().to(device).requires_grad_()
    out = weighted_sum(xs, w)
    grad = torch.linspace(-1, 1, out.numel(), dtype=torch.float32).view(out.shape).to(out.dtype).to(device)
    out.backward(grad)
    return out, [x.grad for x in xs], w.grad


@pytest.mark.parametrize("K", [2, 33, 65, 130])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, *HALVES])
def test_weighted_sum_many_inputs_and_items_per_sample(K, per_sample, dtype):
    # 3 samples of 5000 values: three work items per sample, the last one partial
    shape = (3, 5000)
    xs = _inputs(shape, K, dtype)
    w = torch.rand((K, 3) if per_sample else (K,), generator=torch.Generator().manual_seed(1))
    out_cpu, gx_cpu, gw_cpu = _weighted_sum_with_grads(xs, w, "cpu")
    out_gpu, gx_gpu, gw_gpu = _weighted_sum_with_grads(xs, w, "cuda")
    _assert_close(out_gpu, out_cpu, dtype, scale=4)
    for got, want in zip(gx_gpu, gx_cpu):
        _assert_close(got, want, dtype)
    _assert_close(gw_gpu, gw_cpu, dtype, scale=50)  # dot products over 5000 values


@pytest.mark.parametrize("K", [3, 70])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_weighted_sum_misaligned_inputs_and_output(K, dtype):
    base = _inputs((4097,), K, dtype)
    xs = [x[1:] for x in base]  # 2 bytes (or 4) past a 16-byte boundary: the scalar path
    w = torch.rand(K, generator=torch.Generator().manual_seed(2))
    want = weighted_sum(xs, w)
    got = weighted_sum([x.cuda() for x in xs], w.cuda())
    _assert_close(got, want, dtype, scale=4)
    out = torch.empty(4097, dtype=dtype, device="cuda")[1:]
    weighted_sum([x.cuda() for x in xs], w.cuda(), out=out)
    _assert_close(out, want, dtype, scale=4)


def test_weighted_sum_in_place_over_more_inputs_than_one_launch():
    # out is inputs[0]: the chunks carry float sums, so the first input is read before it is written
    xs = _inputs((2, 3000), 70, torch.float32)
    w = torch.rand(70, generator=torch.Generator().manual_seed(3))
    want = weighted_sum(xs, w)
    gpu = [x.cuda() for x in xs]
    weighted_sum(gpu, w.cuda(), out=gpu[0])
    _assert_close(gpu[0], want, torch.float32, scale=4)


def test_weighted_sum_on_a_non_default_stream():
    xs = _inputs((8, 4096), 5, torch.float32)
    w = torch.rand(5, generator=torch.Generator().manual_seed(4))
    out_cpu, gx_cpu, gw_cpu = _weighted_sum_with_grads(xs, w, "cpu")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        out_gpu, gx_gpu, gw_gpu = _weighted_sum_with_grads(xs, w, "cuda")
    stream.synchronize()
    _assert_close(out_gpu, out_cpu, torch.float32)
    _assert_close(gw_gpu, gw_cpu, torch.float32, scale=50)


# ---- norm_act -----------------------------------------------------------------------------


def _norm_act_run(x, weight, bias, grad, device, **kw):
    x = x.detach().to(device).requires_grad_()
    weight = weight.detach().to(device).requires_grad_()
    bias = bias.detach().to(device).requires_grad_()
    out = norm_act(x, weight, bias, **kw)
    out.backward(grad.to(device))
    return [t.cpu() for t in (out, x.grad, weight.grad, bias.grad)]


@pytest.mark.parametrize("shape", [(64, 24), (7, 5), (6, 12, 50), (3, 33, 300)])
def test_norm_act_on_two_and_three_dimensional_inputs(shape):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(shape, generator=g) * 2 + 1
    weight, bias = torch.rand(shape[1], generator=g) + 0.5, torch.randn(shape[1], generator=g)
    grad = torch.randn(shape, generator=g)
    kw = dict(training=True, activation="silu")
    cpu = _norm_act_run(x, weight, bias, grad, "cpu", **kw)
    gpu = _norm_act_run(x, weight, bias, grad, "cuda", **kw)
    for ours, theirs in zip(gpu, cpu):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs a second GPU")
def test_norm_act_and_weighted_sum_on_a_second_gpu():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(4, 8, 9, 9, generator=g)
    weight, bias, grad = torch.rand(8, generator=g) + 0.5, torch.randn(8, generator=g), torch.randn(4, 8, 9, 9, generator=g)
    cpu = _norm_act_run(x, weight, bias, grad, "cpu", training=True, activation="relu")
    gpu = _norm_act_run(x, weight, bias, grad, "cuda:1", training=True, activation="relu")
    for ours, theirs in zip(gpu, cpu):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    xs = _inputs((3, 100), 70, torch.float32)
    w = torch.rand(70, generator=g)
    got = weighted_sum([t.to("cuda:1") for t in xs], w.to("cuda:1"))
    assert got.device == torch.device("cuda:1")
    _assert_close(got, weighted_sum(xs, w), torch.float32, scale=4)


# ---- NLM ----------------------------------------------------------------------------------


def _noisy(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.linspace(0.2, 0.8, shape[-1]).expand(shape) + 0.1 * torch.randn(shape, generator=g)).clamp(0, 1)


def test_nlm_global_memory_path_for_many_channels():
    # 300 channels of a 20x20 tile plus margins do not fit in shared memory: global reads
    image = _noisy((1, 300, 20, 20))
    want = nlm_denoise(image, 0.05, h=0.1, patch_size=3, search_size=5)
    got = nlm_denoise(image.cuda(), 0.05, h=0.1, patch_size=3, search_size=5)
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=1e-5)


def test_nlm_more_images_than_one_grid_z_launch():
    image = _noisy((70000, 1, 2, 2))
    want = nlm_denoise(image, 0.05, h=0.1, patch_size=1, search_size=3)
    got = nlm_denoise(image.cuda(), 0.05, h=0.1, patch_size=1, search_size=3)
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=1e-5)


def test_nlm_from_two_threads_with_different_shared_memory_sizes():
    cases = [((2, 3, 64, 64), 3, 7), ((1, 8, 48, 48), 7, 21)]
    wants = [nlm_denoise(_noisy(s), 0.05, h=0.1, patch_size=p, search_size=r) for s, p, r in cases]
    results, errors = {}, []

    def work(i):
        shape, patch, search = cases[i]
        try:
            for _ in range(20):
                results[i] = nlm_denoise(_noisy(shape).cuda(), 0.05, h=0.1, patch_size=patch,
                                         search_size=search).cpu()
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, want in enumerate(wants):
        torch.testing.assert_close(results[i], want, rtol=0, atol=1e-5)


# ---- CUDA graphs ----------------------------------------------------------------------------


def _capture(fn, *static_inputs):
    """Runs fn once on a side stream (warm-up), captures it in a CUDA graph, and returns a
    function that copies new inputs into the static ones, replays, and returns the outputs."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn(*static_inputs)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = fn(*static_inputs)

    def replay(*inputs):
        with torch.no_grad():  # the static inputs may be leaves that require grad
            for static, new in zip(static_inputs, inputs):
                static.copy_(new)
        graph.replay()
        torch.cuda.synchronize()
        return static_out

    return replay


@pytest.mark.parametrize("K", [3, 70])
def test_weighted_sum_is_capturable(K):
    xs = [x.cuda() for x in _inputs((4, 1000), K, torch.float32)]
    w = torch.rand(K, device="cuda")
    replay = _capture(lambda *a: weighted_sum(list(a[:-1]), a[-1]), *xs, w)
    new = [x.cuda() for x in _inputs((4, 1000), K, torch.float32, seed=9)]
    new_w = torch.rand(K, device="cuda")
    _assert_close(replay(*new, new_w), weighted_sum(new, new_w), torch.float32)


def test_weighted_sum_backward_is_capturable():
    xs = [x.cuda().requires_grad_() for x in _inputs((4, 1000), 70, torch.float32)]
    w = torch.rand(70, device="cuda", requires_grad=True)

    def step(*tensors):
        return torch.autograd.grad(weighted_sum(list(tensors[:-1]), tensors[-1]).square().sum(), tensors)

    replay = _capture(step, *xs, w)
    grads = replay(*[x.detach() for x in xs], w.detach())
    want = step(*xs, w)
    for got, expected in zip(grads, want):
        _assert_close(got, expected, torch.float32)


def test_norm_act_and_bias_act_are_capturable():
    g = torch.Generator().manual_seed(7)
    x = (torch.randn(4, 16, 12, 12, generator=g)).cuda().requires_grad_()
    weight = torch.rand(16, generator=g).cuda().requires_grad_()
    bias = torch.randn(16, generator=g).cuda().requires_grad_()
    running_mean, running_var = torch.zeros(16, device="cuda"), torch.ones(16, device="cuda")

    def step(x, weight, bias):
        y = norm_act(x, weight, bias, running_mean, running_var, training=True, activation="relu")
        y = bias_act(y, bias, activation="silu")
        return (y, *torch.autograd.grad(y.square().sum(), (x, weight, bias)))

    replay = _capture(step, x, weight, bias)
    new_x = torch.randn(4, 16, 12, 12, generator=g).cuda()
    got = replay(new_x, weight.detach(), bias.detach())
    want = step(new_x.requires_grad_(), weight, bias)
    for ours, theirs in zip(got, want):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_nlm_denoise_is_capturable():
    image = _noisy((2, 3, 40, 40)).cuda()
    replay = _capture(lambda im: nlm_denoise(im, 0.05, h=0.1, patch_size=3, search_size=7), image)
    new = _noisy((2, 3, 40, 40), seed=3).cuda()
    new[0, 1, 5, 5] = float("nan")  # the non-finite policy runs inside the graph too
    got = replay(new)
    want = nlm_denoise(new.cpu(), 0.05, h=0.1, patch_size=3, search_size=7)
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=1e-5, equal_nan=True)
