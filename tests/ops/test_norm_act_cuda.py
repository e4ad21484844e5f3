"""The CUDA kernels of norm_act / bias_act against the CPU kernels on the same inputs.

The shapes are chosen to reach every path of the CUDA kernels: planes longer than one reduction
chunk (8192 values), more rows than one channels-last chunk (256), channel counts that do not fill
a 32-channel tile, sizes that rule out 16-byte vectors, and tensors whose data is not 16-byte
aligned.
"""

import pytest
import torch

from fusegen.ops import bias_act, norm_act

from tests.conftest import CUDA_READY

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not CUDA_READY, reason="needs a GPU and CUDA kernels")]

ACTIVATIONS = ["none", "relu", "leaky_relu", "tanh", "sigmoid", "silu"]
# (N, C, H, W): vectorizable; odd spatial size; two NCHW chunks per plane; 300 rows and 33 channels.
SHAPES = [(4, 8, 8, 8), (3, 5, 7, 9), (2, 3, 96, 96), (2, 33, 15, 20)]
# (rtol, atol) between devices: both accumulate in float32, in different orders.
TOLERANCES = {torch.float64: (1e-10, 1e-10), torch.float32: (1e-4, 1e-4),
              torch.float16: (1e-2, 1e-2), torch.bfloat16: (5e-2, 5e-2)}


def _on(device, *tensors):
    return [t.detach().to(device).requires_grad_(t.requires_grad) for t in tensors]


def _run(device, x, w, b, grad, memory_format, **kw):
    x, w, b, grad = _on(device, x, w, b, grad)
    x = x.detach().to(memory_format=memory_format).requires_grad_()
    out = norm_act(x, w, b, **kw)
    out.backward(grad)
    return [t.cpu() for t in (out, x.grad, w.grad, b.grad)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("instance", [False, True])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_norm_act_cuda_matches_cpu(shape, instance, memory_format, dtype):
    torch.manual_seed(0)
    x = (torch.randn(shape) * 2 + 3).to(dtype).requires_grad_()
    param_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    w = (torch.rand(shape[1]) + 0.5).to(param_dtype).requires_grad_()
    b = torch.randn(shape[1]).to(param_dtype).requires_grad_()
    grad = torch.randn(shape).to(dtype)
    kw = dict(training=True, instance=instance, activation="leaky_relu", negative_slope=0.1)
    cpu = _run("cpu", x, w, b, grad, memory_format, **kw)
    cuda = _run("cuda", x, w, b, grad, memory_format, **kw)
    rtol, atol = TOLERANCES[dtype]
    for name, ours, theirs in zip(("out", "grad_x", "grad_w", "grad_b"), cuda, cpu):
        scale = 1 if name in ("out", "grad_x") else 10  # parameter gradients sum many terms
        torch.testing.assert_close(ours, theirs, rtol=rtol * scale, atol=atol * scale, msg=name)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_and_eval_mode_on_cuda(activation):
    torch.manual_seed(0)
    x = torch.randn(3, 6, 10, 10)
    w, b = torch.rand(6) + 0.5, torch.randn(6)
    rm, rv = torch.randn(6), torch.rand(6) + 0.5
    for training in (True, False):
        results = []
        for device in ("cpu", "cuda"):
            # Copies: training updates the running statistics in place.
            xd, wd, bd, rmd, rvd = (t.to(device, copy=True) for t in (x, w, b, rm, rv))
            xd.requires_grad_()
            out = norm_act(xd, wd, bd, rmd, rvd, training=training, activation=activation)
            (gx,) = torch.autograd.grad(out.square().sum(), xd)
            results.append((out.cpu(), gx.cpu(), rmd.cpu(), rvd.cpu()))
        for ours, theirs in zip(results[1], results[0]):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bias_act_cuda_matches_cpu(activation):
    torch.manual_seed(0)
    x, b, g = torch.randn(2, 33, 7, 5), torch.randn(33), torch.randn(2, 33, 7, 5)
    results = []
    for device in ("cpu", "cuda"):
        xd = x.to(device).to(memory_format=torch.channels_last).requires_grad_()
        bd = b.to(device).requires_grad_()
        out = bias_act(xd, bd, activation=activation, negative_slope=0.2)
        gx, gb = torch.autograd.grad(out, (xd, bd), g.to(device))
        results.append([t.cpu() for t in (out, gx, gb)])
    for ours, theirs in zip(results[1], results[0]):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_unaligned_data_takes_the_scalar_path():
    torch.manual_seed(0)
    storage = torch.randn(1 + 2 * 4 * 8 * 8)
    x = storage[1:].view(2, 4, 8, 8)  # contiguous, but 4 bytes past a 16-byte boundary
    expected = norm_act(x, training=True, activation="silu")
    out = norm_act(storage.cuda()[1:].view(2, 4, 8, 8), training=True, activation="silu")
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-5, atol=1e-5)


def test_cuda_results_are_deterministic():
    torch.manual_seed(0)
    x = torch.randn(16, 8, 64, 64, device="cuda").requires_grad_()
    g = torch.randn_like(x)
    runs = []
    for _ in range(2):
        out = norm_act(x, training=True, activation="relu")
        (gx,) = torch.autograd.grad(out, x, g)
        runs.append((out, gx))
    assert torch.equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1], runs[1][1])


def test_empty_tensors_on_cuda():
    x = torch.randn(0, 3, 4, 4, device="cuda", requires_grad=True)
    out = norm_act(x, training=False, instance=True, activation="relu")
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad.shape == x.shape
    assert bias_act(x, torch.ones(3, device="cuda")).shape == x.shape
