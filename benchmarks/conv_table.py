"""Print time ratios (lower is faster; eager = 1.00) of the fused Conv -> BN -> Act block.

    python benchmarks/conv_table.py [--no-compile] [--repeats N]

Each cell is the median of N timed calls after warm-up, divided by eager PyTorch's median in the
same run. Train = forward + backward; eval = forward under torch.no_grad().
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from fusegen.timing import median_seconds as timing_median_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conv_cases import CASES, train_step, variants  # noqa: E402


def median_seconds(fn, repeats: int, warmup: int = 3) -> float:
    return timing_median_seconds(fn, repeats, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile on CPU)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':<52} {'mode':<6} {'model':<22} {'ms':>8} {'x eager':>8}")
    for case in CASES:
        x = case.input()
        for mode in ("train", "eval"):
            models = variants(case, mode, with_compile=not args.no_compile)
            results = {}
            for name, model in models.items():
                if mode == "train":
                    grad = torch.randn_like(model(x))
                    results[name] = median_seconds(lambda: train_step(model, x, grad), args.repeats)
                else:
                    with torch.no_grad():
                        results[name] = median_seconds(lambda: model(x), args.repeats)
            for name, seconds in results.items():
                print(f"{case.name:<52} {mode:<6} {name:<22} {seconds * 1e3:8.2f} "
                      f"{seconds / results['eager']:8.2f}")


if __name__ == "__main__":
    main()
