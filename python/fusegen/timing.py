"""Wall-clock timing for the demo and the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def median_seconds(fn: Callable[[], Any], repeats: int = 15, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    The median rather than the mean: on a shared machine a few calls lose a core to another
    process, and those outliers should not move the figure.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_median_seconds(fns: dict[str, Callable[[], Any]], repeats: int = 15,
                               warmup: int = 1) -> dict[str, float]:
    """Median wall time of each of ``fns``, timed in turns (one call of each per round).

    Comparing variants in turns rather than one after the other keeps a slow phase of the
    machine (another process, a clock change) from landing on one variant only.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
