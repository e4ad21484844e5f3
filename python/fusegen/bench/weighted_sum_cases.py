"""The weighted-sum benchmark cases and the formulations they are measured against.

Shared by ``fusegen bench weighted-sum`` and the repository's pytest-benchmark suite
benchmarks/bench_weighted_sum.py (which also times the memory ceiling, :func:`clone_of_same_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from fusegen.ops import weighted_sum


@dataclass(frozen=True)
class Case:
    name: str
    K: int
    shape: tuple[int, ...]
    per_sample: bool = False
    dtype: torch.dtype = torch.float32

    def make(self, device: str, requires_grad: bool = False):
        g = torch.Generator().manual_seed(0)
        xs = [torch.randn(self.shape, generator=g).to(device, self.dtype) for _ in range(self.K)]
        w_shape = (self.K, self.shape[0]) if self.per_sample else (self.K,)
        w = torch.rand(w_shape, generator=g).to(device)
        if requires_grad:
            xs = [x.requires_grad_() for x in xs]
            w.requires_grad_()
        return xs, w

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def forward_bytes(self) -> int:
        """Bytes a perfect forward moves: K inputs read, one output written."""
        return (self.K + 1) * self.numel * torch.empty((), dtype=self.dtype).element_size()


def cases(device: str) -> list[Case]:
    """K from 2 to 16, 0.4 to 16 MB per input: ensembles of image batches and EMA-like pairs."""
    big = (4, 1024, 1024) if device == "cpu" else (16, 1024, 1024)
    return [
        Case("K=4 4M", 4, big),
        Case("K=8 1M", 8, (1024, 1024)),
        Case("K=2 EMA-like 1M", 2, (1024, 1024)),
        Case("K=6 32x3x128x128", 6, (32, 3, 128, 128)),
        Case("K=8 64x3x64x64", 8, (64, 3, 64, 64)),
        Case("K=2 32x3x128x128", 2, (32, 3, 128, 128)),
        Case("K=16 8x3x64x64", 16, (8, 3, 64, 64)),
        Case("K=4 per-sample 64x3x64x64", 4, (64, 3, 64, 64), per_sample=True),
        Case("K=4 4M bf16", 4, big, dtype=torch.bfloat16),
    ]


def stack_formulation(xs, w):
    """The plain-PyTorch formulation users write: stack, broadcast-multiply, sum."""
    wv = w.to(xs[0].dtype)
    return torch.stack(xs).mul(wv.reshape(wv.shape + (1,) * (xs[0].dim() + 1 - wv.dim()))).sum(0)


def add_loop(xs, w):
    """An in-place accumulation loop: no K-sized temporary, K passes over the output."""
    wv = w.to(xs[0].dtype)
    wv = wv.reshape(wv.shape + (1,) * (xs[0].dim() + 1 - wv.dim()))
    out = xs[0] * wv[0]
    for k in range(1, len(xs)):
        out.add_(xs[k] * wv[k]) if w.dim() == 2 else out.add_(xs[k], alpha=float(w[k]))
    return out


_compiled_stack = None


def compiled_stack(xs, w):
    global _compiled_stack
    if _compiled_stack is None:
        _compiled_stack = torch.compile(stack_formulation, dynamic=False)
    return _compiled_stack(xs, w)


FORWARD: dict[str, Callable] = {
    "fusegen": weighted_sum,
    "stack": stack_formulation,
    "add_ loop": add_loop,
    "torch.compile(stack)": compiled_stack,
}


def clone_of_same_bytes(case: Case, device: str) -> Callable[[], torch.Tensor]:
    """The memory ceiling: clone() reads and writes as many bytes as the fused forward moves."""
    element = torch.empty((), dtype=case.dtype).element_size()
    buffer = torch.empty(case.forward_bytes() // (2 * element), dtype=case.dtype, device=device)
    return buffer.clone


def forward_backward(fn):
    def run(xs, w):
        out = fn(xs, w)
        grads = torch.autograd.grad(out, [*xs, w], torch.ones_like(out))
        return grads

    return run
