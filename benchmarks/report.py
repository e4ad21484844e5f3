"""Print fusegen's benchmark ratio tables (anchors measured in the same run).

    .venv/bin/python benchmarks/report.py [--device cpu|cuda] [--only weighted_sum]

Each row times every formulation with torch.utils.benchmark (median of adaptive runs,
CUDA-synchronised), then reports fusegen's time and its speed-up over each anchor
(>1 means fusegen is faster), and for the weighted sum the fraction of the memory ceiling
(time of clone() over the same number of bytes) that fusegen reaches.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import date

import torch
from torch.utils import benchmark as tb

sys.path.insert(0, os.path.dirname(__file__))

import fusegen  # noqa: E402
from fusegen.bench.weighted_sum_cases import FORWARD, cases, clone_of_same_bytes, forward_backward  # noqa: E402


def median_seconds(fn, *args, min_run_time: float = 0.5) -> float:
    fn(*args)  # warm-up (and compilation for torch.compile)
    timer = tb.Timer(stmt="fn(*args)", globals={"fn": fn, "args": args}, num_threads=torch.get_num_threads())
    return timer.adaptive_autorange(min_run_time=min_run_time).median


def weighted_sum_table(device: str) -> str:
    rows = [
        "| case | pass | fusegen ms | vs stack | vs add_ loop | vs torch.compile | of clone bandwidth |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in cases(device):
        xs, w = case.make(device)
        times = {name: median_seconds(fn, xs, w) for name, fn in FORWARD.items()}
        ceiling = median_seconds(clone_of_same_bytes(case, device))
        fused = times["fusegen"]
        rows.append(
            f"| {case.name} | forward | {fused * 1e3:.3f} | {times['stack'] / fused:.2f}x | "
            f"{times['add_ loop'] / fused:.2f}x | {times['torch.compile(stack)'] / fused:.2f}x | "
            f"{ceiling / fused:.0%} |"
        )
        xs, w = case.make(device, requires_grad=True)
        fb = {
            name: median_seconds(forward_backward(FORWARD[name]), xs, w)
            for name in ("fusegen", "stack", "torch.compile(stack)")
        }
        fused = fb["fusegen"]
        rows.append(
            f"| {case.name} | forward+backward | {fused * 1e3:.3f} | {fb['stack'] / fused:.2f}x | - | "
            f"{fb['torch.compile(stack)'] / fused:.2f}x | - |"
        )
    return "\n".join(rows)


def machine(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", choices=["weighted_sum"], default=None)
    args = parser.parse_args()
    print(f"fusegen {fusegen.__version__}, torch {torch.__version__}, {machine(args.device)}, {date.today()}")
    print("\n## weighted_sum\n")
    print(weighted_sum_table(args.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
