"""pytest-benchmark suite: fusegen.ops.weighted_sum against its anchors, in the same run.

    python -m pytest benchmarks/bench_weighted_sum.py --benchmark-group-by=param:case

Besides the formulations that ``fusegen bench weighted-sum`` times in turns, this suite times the
memory ceiling: ``clone()`` of a buffer moving as many bytes as the fused forward reads and
writes; fusegen's share of that bandwidth is the clone's time over fusegen's.
"""

from __future__ import annotations

import pytest
import torch

from fusegen.bench.weighted_sum_cases import FORWARD, cases, clone_of_same_bytes, forward_backward

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CASES = {c.name: c for c in cases(DEVICE)}


def _sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _timed(fn, *args):
    def run():
        out = fn(*args)
        _sync()
        return out

    return run


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("method", [*FORWARD, "clone (memory ceiling)"])
def test_forward(benchmark, case, method):
    c = CASES[case]
    benchmark.group = f"forward {case}"
    if method == "clone (memory ceiling)":
        benchmark(_timed(clone_of_same_bytes(c, DEVICE)))
        return
    xs, w = c.make(DEVICE)
    benchmark(_timed(FORWARD[method], xs, w))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("method", ["fusegen", "stack", "torch.compile(stack)"])
def test_forward_backward(benchmark, case, method):
    c = CASES[case]
    benchmark.group = f"forward+backward {case}"
    xs, w = c.make(DEVICE, requires_grad=True)
    benchmark(_timed(forward_backward(FORWARD[method]), xs, w))
