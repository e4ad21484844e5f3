"""pytest-benchmark timings of the fused Conv -> BN -> Act block against eager PyTorch.

Run with ``python -m pytest benchmarks/bench_conv_norm_act.py``; ``benchmarks/conv_table.py``
prints the same comparisons as a ratio table. Timings only: correctness lives in tests/.
"""

import pytest
import torch

from fusegen.bench.conv_cases import CASES, train_step, variants

MODELS = ["eager", "fusegen", "torch.compile"]


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.split()[0])
def test_train_forward_backward(benchmark, case, model_name):
    model = variants(case, "train", with_compile=model_name == "torch.compile")[model_name]
    x = case.input()
    grad = torch.randn_like(model(x))
    benchmark.group = f"train {case.name}"
    benchmark(train_step, model, x, grad)


@pytest.mark.parametrize("model_name", MODELS + ["fuse_conv_bn_eval+act"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.split()[0])
def test_eval_forward(benchmark, case, model_name):
    model = variants(case, "eval", with_compile=model_name == "torch.compile")[model_name]
    x = case.input()
    benchmark.group = f"eval {case.name}"
    with torch.no_grad():
        model(x)  # warm-up: compilation, folded-weight cache
        benchmark(model, x)
