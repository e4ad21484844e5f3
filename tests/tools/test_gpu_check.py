"""tools/gpu_check.py and tools/cuda_smoke.py: the plan is complete, and without a GPU both say
so in one line instead of failing later (the GPU runs themselves are `make gpu-check`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import CUDA_READY

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_the_plan_builds_for_the_gpu_then_tests_sanitizes_and_benchmarks():
    done = run(TOOLS / "gpu_check.py", "--plan")
    assert done.returncode == 0, done.stderr
    names = [line.split("]")[0].lstrip("[") for line in done.stdout.splitlines()]
    assert names == ["environment", "build", "build-info", "tests", "sanitizer-memcheck",
                     "sanitizer-racecheck", "sanitizer-synccheck", "bench"]
    lines = dict(zip(names, done.stdout.splitlines()))
    assert "TORCH_CUDA_ARCH_LIST=<arch>" in lines["build"] and "FUSEGEN_CUDA=on" in lines["build"]
    assert "-m cuda" in lines["tests"]
    assert "compute-sanitizer --tool racecheck" in lines["sanitizer-racecheck"]
    assert "cuda_smoke.py" in lines["sanitizer-racecheck"]
    assert "bench --device cuda" in lines["bench"]


def test_steps_can_be_skipped():
    done = run(TOOLS / "gpu_check.py", "--plan", "--skip-build", "--skip", "sanitizer")
    names = [line.split("]")[0].lstrip("[") for line in done.stdout.splitlines()]
    assert names == ["environment", "tests", "bench"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a GPU")
def test_without_a_gpu_the_check_stops_with_one_line():
    done = run(TOOLS / "gpu_check.py", "--out", "unused")
    assert done.returncode != 0
    assert "no usable GPU" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(CUDA_READY, reason="checks the message given without a GPU")
def test_smoke_without_a_gpu_exits_2_with_a_message():
    done = run(TOOLS / "cuda_smoke.py")
    assert done.returncode == 2
    assert "needs a GPU" in done.stderr
