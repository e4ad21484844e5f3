"""pytest-benchmark suite: fusegen.nn.PartialConvNormAct against the eager formulation, in the
same run, training forward + backward on the inpainting blocks of
``fusegen.bench.partial_conv_cases`` (what ``fusegen bench partial-conv`` times in turns).

    python -m pytest benchmarks/bench_partial_conv.py --benchmark-group-by=param:case
"""

from __future__ import annotations

import pytest
import torch

from fusegen.bench.partial_conv_cases import CASES, train_steps

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize("case", [c.name for c in CASES])
@pytest.mark.parametrize("method", ["fusegen", "eager formulation"])
def test_train_step(benchmark, case, method):
    c = next(c for c in CASES if c.name == case)
    step = train_steps(c, DEVICE)[method]
    benchmark.group = f"partial-conv train {case}"

    def run():
        step()
        if DEVICE == "cuda":
            torch.cuda.synchronize()

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
