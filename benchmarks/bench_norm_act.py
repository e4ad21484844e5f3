"""pytest-benchmark timings of the normalization + activation alone, without the convolution.

fusegen's ``norm_act_forward`` / ``norm_act_backward`` operators against the ATen kernels that
eager PyTorch runs for the same work (``native_batch_norm`` + activation forward;
``threshold_backward`` or ``leaky_relu_backward`` + ``native_batch_norm_backward``), on each
case's convolution output, NCHW and channels-last. This isolates what the fused kernels change
from the convolution, which dominates the block's time.

Run with ``python -m pytest benchmarks/bench_norm_act.py``.
"""

import pytest
import torch

from fusegen.bench.conv_cases import CASES

aten = torch.ops.aten
RELU, LEAKY_RELU = 1, 2
SLOPE = 0.2
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def _problem(case, device, layout):
    """The case's convolution output, per-channel affine parameters and an incoming gradient."""
    with torch.no_grad():
        y = case.eager()[0](case.input())
    y = y.to(device).contiguous(memory_format=LAYOUTS[layout])
    torch.manual_seed(0)
    C = y.shape[1]
    w, b = torch.rand(C, device=device) + 0.5, torch.randn(C, device=device)
    return y, w, b, torch.randn_like(y)


def _synchronized(fn, device):
    if device == "cpu":
        return fn

    def run():
        fn()
        torch.cuda.synchronize()

    return run


def _activation(case):
    return (RELU, 0.0) if case.activation == "relu" else (LEAKY_RELU, SLOPE)


def _torch_forward(y, w, b, code, slope):
    z = aten.native_batch_norm(y, w, b, None, None, True, 0.1, 1e-5)[0]
    return torch.relu(z) if code == RELU else torch.nn.functional.leaky_relu(z, slope)


def _torch_backward(grad, y, w, b, code, slope):
    z, mean, invstd = aten.native_batch_norm(y, w, b, None, None, True, 0.1, 1e-5)
    out = torch.relu(z)  # ReLU's backward reads its output, LeakyReLU's its input

    def run():
        if code == RELU:
            gz = aten.threshold_backward(grad, out, 0.0)
        else:
            gz = aten.leaky_relu_backward(grad, z, slope, False)
        aten.native_batch_norm_backward(gz, y, w, None, None, mean, invstd, True, 1e-5, [True, True, True])

    return run


@pytest.mark.parametrize("impl", ["fusegen", "torch"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.split()[0])
def test_norm_act_forward(benchmark, case, device, layout, impl):
    y, w, b, _ = _problem(case, device, layout)
    code, slope = _activation(case)
    if impl == "fusegen":
        fn = lambda: torch.ops.fusegen.norm_act_forward(y, w, b, None, None, True, False, 1e-5, code, slope)  # noqa: E731
    else:
        fn = lambda: _torch_forward(y, w, b, code, slope)  # noqa: E731
    benchmark.group = f"norm+act forward {case.name.split()[0]} {device} {layout}"
    with torch.no_grad():
        benchmark(_synchronized(fn, device))


@pytest.mark.parametrize("impl", ["fusegen", "torch"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.split()[0])
def test_norm_act_backward(benchmark, case, device, layout, impl):
    y, w, b, grad = _problem(case, device, layout)
    code, slope = _activation(case)
    if impl == "fusegen":
        _, mean, invstd = torch.ops.fusegen.norm_act_forward(y, w, b, None, None, True, False, 1e-5, code, slope)
        fn = lambda: torch.ops.fusegen.norm_act_backward(  # noqa: E731
            grad, y, w, b, mean, invstd, True, False, code, slope, [True, True, True])
    else:
        fn = _torch_backward(grad, y, w, b, code, slope)
    benchmark.group = f"norm+act backward {case.name.split()[0]} {device} {layout}"
    benchmark(_synchronized(fn, device))
