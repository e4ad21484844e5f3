"""The end-to-end demo behind ``fusegen demo`` / ``make demo``.

Each step is a function that prints what it does and returns a dictionary for the report,
which is written as JSON to the output folder. It runs on the CPU in seconds, on data the
package can reach offline.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .info import format_info, info
from .ops import reference, weighted_sum


def _median_ms(fn: Callable[[], Any], repeats: int = 15) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e3


def step_info() -> dict[str, Any]:
    facts = info()
    print(format_info(facts))
    return facts


def step_weighted_sum(device: str) -> dict[str, Any]:
    """Blend K generator outputs, per model and per sample, and time it against torch.stack."""
    K, shape = 8, (64, 3, 64, 64)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(shape, generator=g).to(device) for _ in range(K)]
    per_model = torch.softmax(torch.randn(K, generator=g), 0).to(device)
    choice = torch.randint(0, K, (shape[0],), generator=g)
    per_sample = torch.nn.functional.one_hot(choice, K).t().float().to(device)  # a mixture draw

    error = max(
        (weighted_sum(xs, w) - reference.weighted_sum(xs, w)).abs().max().item()
        for w in (per_model, per_sample)
    )
    fused_ms = _median_ms(lambda: weighted_sum(xs, per_model))
    stack_ms = _median_ms(lambda: torch.stack(xs).mul(per_model.view(K, 1, 1, 1, 1)).sum(0))
    print(
        f"weighted_sum of {K} tensors of shape {shape} on {device}: fusegen {fused_ms:.2f} ms, "
        f"torch.stack formulation {stack_ms:.2f} ms ({stack_ms / fused_ms:.1f}x); "
        f"max difference from the reference {error:.2e}"
    )
    return {
        "inputs": K,
        "shape": list(shape),
        "device": device,
        "fusegen_ms": fused_ms,
        "stack_ms": stack_ms,
        "speedup": stack_ms / fused_ms,
        "max_abs_error": error,
    }


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON so that a crash never leaves a half-written file: temp file, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run(out_dir: str | os.PathLike, device: str = "cpu") -> Path:
    """Run every demo step and write ``report.json`` into ``out_dir``; returns its path."""
    out = Path(out_dir)
    report: dict[str, Any] = {}
    print("== fusegen info")
    report["info"] = step_info()
    print("\n== fused weighted sum (ensembles, model averaging, EMA)")
    report["weighted_sum"] = step_weighted_sum(device)
    path = out / "report.json"
    write_json_atomically(path, report)
    print(f"\nreport written to {path}")
    return path
