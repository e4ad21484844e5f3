"""pytest-benchmark suite: BM3D, fusegen against the authors' reference implementation (the
``bm3d`` package on PyPI, default profile), beside fusegen's NLM on the same noisy image.

    python -m pytest benchmarks/bench_bm3d.py --benchmark-group-by=group
    python -m pytest benchmarks/bench_bm3d.py -m "not slow"      # without the reference

The whole 512x512 camera (grey) and astronaut (colour) photos of scikit-image, Gaussian noise of
sigma 25 (0-255 scale) added in float and not clipped (``fusegen.bench.bm3d_cases``, the cases
``fusegen bench bm3d`` times in turns at a smaller crop). Each test stores the PSNR of its result
against the clean photo (clipped to [0, 1]) in the benchmark's ``extra_info``, so that
``--benchmark-json`` holds time and quality together. The reference runs on the CPU as the
package does (seconds per call: marked slow, one round) and is skipped when not installed.
"""

from __future__ import annotations

import pytest
import torch

import fusegen

pytest.importorskip("skimage.data", reason="the photos come from scikit-image")

from fusegen.bench.bm3d_cases import (PHOTO_SIDE, REFERENCE, cases, denoisers,  # noqa: E402
                                      psnr_db, reference_available)

CASES = {case.name: case for case in cases(PHOTO_SIDE)}


def _run(benchmark, case_name: str, method: str, device: str = "cpu", rounds: int = 3):
    case = CASES[case_name]
    clean, noisy = case.images()
    fn = denoisers(case, noisy, device, reference=method == REFERENCE)[method]
    benchmark.group = f"bm3d {case_name}"

    def call():
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    result = benchmark.pedantic(call, rounds=rounds, warmup_rounds=0 if method == REFERENCE else 1)
    benchmark.extra_info["psnr_db"] = psnr_db(result, clean)
    benchmark.extra_info["psnr_noisy_db"] = psnr_db(noisy, clean)
    assert benchmark.extra_info["psnr_db"] > benchmark.extra_info["psnr_noisy_db"]


@pytest.mark.parametrize("case", list(CASES))
def test_fusegen_cpu(benchmark, case):
    _run(benchmark, case, "fusegen")


@pytest.mark.parametrize("case", list(CASES))
def test_fusegen_nlm_cpu(benchmark, case):
    _run(benchmark, case, "fusegen NLM", rounds=5)


@pytest.mark.cuda
@pytest.mark.skipif(not (torch.cuda.is_available() and fusegen.build_info()["cuda"]),
                    reason="needs a CUDA GPU and fusegen built with CUDA kernels")
@pytest.mark.parametrize("case", list(CASES))
def test_fusegen_cuda(benchmark, case):
    _run(benchmark, case, "fusegen", device="cuda", rounds=5)


@pytest.mark.slow
@pytest.mark.skipif(not reference_available(), reason="the reference is not installed (pip install bm3d)")
@pytest.mark.parametrize("case", list(CASES))
def test_reference(benchmark, case):
    _run(benchmark, case, REFERENCE, rounds=1)
