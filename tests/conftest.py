"""Shared fixtures: the devices to test on, and dtype tolerances."""

from __future__ import annotations

import importlib

import pytest
import torch

import fusegen

CUDA_READY = torch.cuda.is_available() and bool(fusegen.build_info()["cuda"])

# Every test that takes `device` runs on the CPU and, with the `cuda` marker, on a GPU when
# one is visible and the CUDA kernels were compiled (`pytest -m cuda` runs only those).
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[pytest.mark.cuda, pytest.mark.skipif(not CUDA_READY, reason="needs a GPU and CUDA kernels")],
    ),
]

# (rtol, atol) for results computed in float32 (float64 for float64) and rounded to the dtype.
TOLERANCES = {
    torch.float64: (1e-12, 1e-12),
    torch.float32: (1e-5, 1e-5),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (1.6e-2, 1.6e-2),
}


@pytest.fixture(autouse=True)
def fused_passes_at_every_size(monkeypatch):
    """FusedConvNormAct, FusedNormAct and conv_bias_act take ATen's paths on small maps (where
    they are faster); the tests' maps are small, so they would test ATen. Every test runs the
    fused passes at every size, except those that ask for the small-map paths with the
    `eager_small_maps` fixture."""
    from fusegen.nn import conv_norm_act, norm_act

    conv_bias_act = importlib.import_module("fusegen.ops.conv_bias_act")  # the module, not the op

    monkeypatch.setattr(norm_act, "EAGER_BATCH_NORM_BELOW", 0)
    monkeypatch.setattr(norm_act, "EAGER_BATCH_NORM_ACT_BELOW", 0)
    monkeypatch.setattr(conv_norm_act, "FOLD_FROM", 0)
    monkeypatch.setattr(conv_bias_act, "ONEDNN_FROM", 0)


@pytest.fixture
def eager_small_maps(monkeypatch):
    """The shipped small-map thresholds of FusedConvNormAct / FusedNormAct / conv_bias_act, for
    tests of those paths."""
    from fusegen.nn import conv_norm_act, norm_act

    conv_bias_act = importlib.import_module("fusegen.ops.conv_bias_act")  # the module, not the op

    monkeypatch.setattr(norm_act, "EAGER_BATCH_NORM_BELOW", 1 << 19)
    monkeypatch.setattr(norm_act, "EAGER_BATCH_NORM_ACT_BELOW", 1 << 15)
    monkeypatch.setattr(conv_norm_act, "FOLD_FROM", 1 << 16)
    monkeypatch.setattr(conv_bias_act, "ONEDNN_FROM", 1 << 16)


@pytest.fixture
def one_torch_thread():
    """torch on one CPU thread for the test: for tiny tensors a second thread only waits for a
    core on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype | None = None) -> None:
    rtol, atol = TOLERANCES[dtype or expected.dtype]
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def opcheck_operator(name: str, args: tuple) -> None:
    """``torch.library.opcheck`` of ``torch.ops.fusegen.<name>`` on ``args``; backward operators
    skip the dynamic-AOT check (they have no derivative of their own: no double backward)."""
    utils = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
    if name.endswith("_backward"):
        utils = utils[:-1]
    torch.library.opcheck(getattr(torch.ops.fusegen, name), args, test_utils=utils)
