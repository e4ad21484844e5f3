"""The demo's active-learning step: a short comparison (well under a minute on a 2-core CPU)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from ..active import LearnerConfig, compare_strategies
from ..active.plot import plot_learning_curves
from ..data import load_dataset


def step_active(out_dir: str | os.PathLike, device: str | torch.device = "cpu",
                         strategy: str = "kcenter", baseline: str = "random", seed: int = 0,
                         initial: int = 20, per_round: int = 20, rounds: int = 6,
                         learner_steps: int = 120, threads: int | None = 1) -> dict[str, Any]:
    """Compare ``strategy`` with ``baseline`` on digits (16x16) at equal budgets, one seed; write
    ``active-curve.png`` into ``out_dir``, print one line, and return a dict for the report.

    The digits' labels are hidden behind an oracle; 400 digits are held out for the accuracy.
    ``threads``: torch CPU threads during the run (restored after; None: leave torch's setting).
    """
    started = time.perf_counter()
    dataset = load_dataset("digits", 16, 1)
    results = compare_strategies(dataset, (strategy, baseline), (seed,), test_size=400,
                                 initial=initial, per_round=per_round, rounds=rounds, device=device,
                                 learner=LearnerConfig(steps=learner_steps), threads=threads)
    out = Path(out_dir)
    png = plot_learning_curves(results, out / "active-curve.png",
                               title=f"active learning on digits: {strategy} vs {baseline}",
                               baseline=baseline)
    ours, base = results[strategy][0], results[baseline][0]
    report = {
        "data": "digits 16x16 (pool 1397, test 400)", "seed": seed, "device": str(device),
        "strategy": strategy, "baseline": baseline, "labelled": ours.labelled,
        "accuracy": {strategy: ours.accuracy, baseline: base.accuracy},
        "auc": {strategy: ours.auc(), baseline: base.auc()},
        "auc_gain": ours.auc() - base.auc(),
        "final_gain": ours.accuracy[-1] - base.accuracy[-1],
        "seconds": time.perf_counter() - started, "curve": str(png),
    }
    print(f"active learning on digits, {ours.labelled[-1]} labels bought: {strategy} "
          f"{ours.accuracy[-1]:.1%} test accuracy vs {baseline} {base.accuracy[-1]:.1%} "
          f"(AUC {ours.auc():.3f} vs {base.auc():.3f}, one seed) in {report['seconds']:.0f} s; "
          f"curve: {png}")
    return report
