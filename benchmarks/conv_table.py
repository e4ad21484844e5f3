"""Print time ratios (lower is faster; eager = 1.00) of the fused Conv -> BN -> Act block.

    python benchmarks/conv_table.py [--no-compile] [--repeats N] [--channels-last]

Each cell is the median of N timed calls after warm-up, divided by eager PyTorch's median in the
same run; the variants are timed in turns (one call of each per round). Train = forward +
backward; eval = forward under torch.no_grad().
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from fusegen.timing import interleaved_median_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fusegen.bench.conv_cases import CASES, train_step, variants  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile on CPU)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--channels-last", action="store_true",
                        help="models and inputs in channels-last memory format (eager too)")
    args = parser.parse_args()
    layout = torch.channels_last if args.channels_last else torch.contiguous_format
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {layout}")
    print(f"{'case':<52} {'mode':<6} {'model':<22} {'ms':>8} {'x eager':>8}")
    for case in CASES:
        x = case.input().contiguous(memory_format=layout)
        for mode in ("train", "eval"):
            models = {name: model.to(memory_format=layout)
                      for name, model in variants(case, mode, with_compile=not args.no_compile).items()}
            if mode == "train":
                grad = torch.randn_like(models["eager"](x))
                calls = {name: (lambda m=model: train_step(m, x, grad)) for name, model in models.items()}
                results = interleaved_median_seconds(calls, args.repeats, warmup=3)
            else:
                with torch.no_grad():
                    calls = {name: (lambda m=model: m(x)) for name, model in models.items()}
                    results = interleaved_median_seconds(calls, args.repeats, warmup=3)
            for name, seconds in results.items():
                print(f"{case.name:<52} {mode:<6} {name:<22} {seconds * 1e3:8.2f} "
                      f"{seconds / results['eager']:8.2f}")


if __name__ == "__main__":
    main()
