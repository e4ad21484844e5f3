"""The active-learning loop: fit, evaluate, query, label -- round after round, within a budget."""

from __future__ import annotations

import time
from contextlib import contextmanager
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..data import ImageDataset
from ..tables import format_table
from .learner import Learner, LearnerConfig
from .pool import BudgetError, LabelOracle, LabelPool, Oracle
from .strategies import QueryContext, make_strategy, strategy_name


@dataclass
class ActiveResult:
    """One run's learning curve and what it chose.

    ``labelled[r]`` items were labelled when the classifier of round r scored ``accuracy[r]`` on
    the held-out set; ``queried[r]`` are the pool indices labelled at the start of round r (round 0:
    the initial set). ``fit_seconds``/``query_seconds`` time each round's training and choosing.
    ``labelled_indices``/``labels``: everything labelled, in order; ``learner``: the last
    round's classifier.
    """

    strategy: str
    seed: int
    labelled: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    queried: list[list[int]] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    query_seconds: list[float] = field(default_factory=list)
    labelled_indices: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    learner: Learner | None = field(default=None, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)

    def auc(self) -> float:
        """Normalised area under the accuracy-vs-labels curve (trapezoids divided by the span of
        label counts): the mean accuracy over the budget, in [0, 1]. One round: its accuracy."""
        return area_under_curve(self.labelled, self.accuracy)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no tensors, no model)."""
        return {"strategy": self.strategy, "seed": self.seed, "labelled": list(self.labelled),
                "accuracy": list(self.accuracy), "auc": self.auc(), "queried": self.queried,
                "fit_seconds": self.fit_seconds, "query_seconds": self.query_seconds,
                "labels": self.labels.tolist() if self.labels is not None else None,
                "settings": self.settings}

    def table(self) -> str:
        rows = [f"{'labelled':>9} {'accuracy':>9} {'fit s':>7} {'query s':>8}"]
        for r, (n, a) in enumerate(zip(self.labelled, self.accuracy)):
            q = self.query_seconds[r] if r < len(self.query_seconds) else float("nan")
            rows.append(f"{n:>9} {a:>9.3f} {self.fit_seconds[r]:>7.2f} {q:>8.2f}")
        return "\n".join(rows)


def area_under_curve(labelled: Sequence[int], accuracy: Sequence[float]) -> float:
    """Trapezoid area under (labelled, accuracy) divided by the labelled span."""
    if len(labelled) != len(accuracy) or not labelled:
        raise ValueError("labelled and accuracy must be non-empty and of one length")
    if len(labelled) == 1:
        return float(accuracy[0])
    area = sum((labelled[i + 1] - labelled[i]) * (accuracy[i + 1] + accuracy[i]) / 2
               for i in range(len(labelled) - 1))
    return float(area / (labelled[-1] - labelled[0]))


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def run_active_learning(pool_images: torch.Tensor, oracle: Oracle, test_images: torch.Tensor,
                        test_labels: torch.Tensor, *, strategy: str | Callable = "entropy",
                        initial: int | Sequence[int] = 20, per_round: int = 20, rounds: int = 8,
                        num_classes: int | None = None, seed: int = 0,
                        device: str | torch.device = "cpu", learner: LearnerConfig | None = None,
                        embedding: str | Callable = "learner",
                        strategy_options: dict[str, Any] | None = None,
                        callback: Callable[[int, ActiveResult], None] | None = None,
                        threads: int | None = None) -> ActiveResult:
    """Run pool-based active learning and return its learning curve.

    Round 0 labels ``initial`` random pool items (or the given indices); every round fits the
    classifier on the labelled items and scores it on the held-out ``test_images``/``test_labels``;
    rounds 1..``rounds`` first label ``per_round`` items chosen by ``strategy``. The budget is
    ``initial + rounds * per_round`` labels, checked against the pool before anything runs.

    Args:
        pool_images: (N, C, H, W) unlabelled images in [0, 1].
        oracle: ``oracle(indices) -> labels``, called once per round with just the queried indices
            (e.g. :class:`LabelOracle` on hidden labels).
        test_images, test_labels: the held-out evaluation set (never queried).
        strategy: a name from :data:`STRATEGIES` or a function ``(QueryContext, k) -> indices``.
        num_classes: classes of the classifier (default: from ``test_labels``).
        seed: seeds the initial set, every fit and every random choice: two strategies run with one
            seed start from the same labelled set and train the same initial classifier.
        device: where the classifier and the strategies' computations run.
        learner: the classifier's :class:`LearnerConfig` (``warm_start`` to fine-tune each round).
        embedding: the default embedding of the kcenter/discriminator strategies.
        strategy_options: keyword options of a named strategy (e.g. ``{"committee": 4}``).
        callback: called as ``callback(round, result_so_far)`` after each round's evaluation.
        threads: CPU threads for torch during the run (restored after); None leaves torch's
            setting. The networks and batches are small, so one thread is about as fast as several
            and does not fight other processes for cores (the CLI and the demo use 1).
    """
    with cpu_threads(threads):
        return _run(pool_images, oracle, test_images, test_labels, strategy, initial, per_round,
                    rounds, num_classes, seed, device, learner, embedding, strategy_options, callback)


@contextmanager
def cpu_threads(threads: int | None):
    """Set torch's CPU thread count inside the block (None: leave it), then restore it."""
    if threads is None:
        yield
        return
    _check_count("threads", threads, 1)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(pool_images, oracle, test_images, test_labels, strategy, initial, per_round, rounds,
         num_classes, seed, device, learner, embedding, strategy_options, callback) -> ActiveResult:
    device = torch.device(device)
    if not isinstance(pool_images, torch.Tensor) or pool_images.dim() != 4:
        raise ValueError("pool_images must be a tensor of shape (N, C, H, W)")
    if not isinstance(test_images, torch.Tensor) or test_images.dim() != 4 or \
            test_images.shape[1:] != pool_images.shape[1:]:
        raise ValueError(f"test_images must be (M, {', '.join(map(str, pool_images.shape[1:]))}) like "
                         f"the pool, got {tuple(getattr(test_images, 'shape', ()))}")
    test_labels = torch.as_tensor(test_labels).long()
    if test_labels.shape != (len(test_images),):
        raise ValueError(f"test_labels must be ({len(test_images)},), got {tuple(test_labels.shape)}")
    per_round = _check_count("per_round", per_round, 1)
    rounds = _check_count("rounds", rounds, 0)
    n = len(pool_images)
    if isinstance(initial, int) and not isinstance(initial, bool):
        _check_count("initial", initial, 1)
        first = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:initial]
        n_initial = initial
    else:
        first = torch.as_tensor(initial).long().flatten()
        n_initial = len(first)
        if n_initial == 0:
            raise ValueError("initial must name at least one pool item")
    budget = n_initial + rounds * per_round
    if budget > n:
        raise BudgetError(f"the budget (initial {n_initial} + rounds {rounds} x per_round {per_round} "
                          f"= {budget}) exceeds the pool ({n} images)")
    if num_classes is None:
        num_classes = int(test_labels.max()) + 1
    chooser = make_strategy(strategy, **(strategy_options or {}))
    name = strategy_name(chooser)
    pool = LabelPool(n, oracle, budget=budget, num_classes=num_classes)
    config = learner or LearnerConfig()
    model = Learner(pool_images.shape[1], num_classes, config, device)
    images = pool_images.to(device)
    test_x, test_y = test_images.to(device), test_labels.to(device)
    result = ActiveResult(name, seed, settings={
        "strategy": getattr(chooser, "describe", lambda: name)(), "initial": n_initial,
        "per_round": per_round, "rounds": rounds, "budget": budget, "pool": n,
        "test": len(test_images), "num_classes": num_classes, "device": str(device),
        "embedding": embedding if isinstance(embedding, str) else strategy_name(embedding),
        "learner": config.to_dict()})

    pool.query(first)
    result.queried.append(first.tolist())
    for r in range(rounds + 1):
        labelled, labels = pool.labelled, pool.labels
        started = time.perf_counter()
        model.fit(images[labelled.to(device)], labels, seed=seed * 1000 + r)
        result.fit_seconds.append(time.perf_counter() - started)
        result.labelled.append(pool.spent)
        result.accuracy.append(model.accuracy(test_x, test_y))
        if callback is not None:
            callback(r, result)
        if r == rounds:
            break
        started = time.perf_counter()
        context = QueryContext(images, labelled, labels, model, seed=seed * 1000 + r,
                               embedding=embedding)
        chosen = torch.as_tensor(chooser(context, per_round)).long().cpu()
        if chosen.shape != (per_round,):
            raise ValueError(f"strategy {name!r} returned {tuple(chosen.shape)} indices, "
                             f"expected ({per_round},)")
        result.query_seconds.append(time.perf_counter() - started)
        pool.query(chosen)  # checks: in range, distinct, unlabelled, within budget
        result.queried.append(chosen.tolist())
    result.labelled_indices, result.labels, result.learner = pool.labelled, pool.labels, model
    return result


def split_pool(dataset: ImageDataset, test_size: int | float = 0.25, seed: int = 0
               ) -> tuple[ImageDataset, ImageDataset]:
    """A seeded split of a labelled data set into a pool (labels hidden behind an oracle) and a
    held-out test set; ``test_size`` is a count or a fraction."""
    if dataset.num_classes < 2:
        raise ValueError("active learning needs a labelled data set with at least 2 classes "
                         "(its labels are the oracle's answers and the test set's truth)")
    n = len(dataset)
    n_test = int(round(test_size * n)) if isinstance(test_size, float) else test_size
    if isinstance(n_test, bool) or not isinstance(n_test, int) or not 1 <= n_test < n:
        raise ValueError(f"test_size must leave both sets non-empty (a count in [1, {n}) or a "
                         f"fraction), got {test_size!r}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(10_000 + seed))
    return dataset.subset(order[n_test:]), dataset.subset(order[:n_test])


def compare_strategies(dataset: ImageDataset, strategies: Sequence[str | Callable] = ("entropy", "random"),
                       seeds: Sequence[int] = (0,), test_size: int | float = 0.25,
                       progress: Callable[[str], None] | None = None,
                       strategy_options_by_name: dict[str, dict[str, Any]] | None = None,
                       **kwargs: Any) -> dict[str, list[ActiveResult]]:
    """Run every strategy with every seed on ``dataset`` at equal budgets; returns
    ``{strategy name: [result per seed]}``.

    Each seed gives one pool/test split and one initial labelled set, shared by all strategies;
    the oracle answers from the data set's labels. ``strategy_options_by_name`` gives a named
    strategy its options (e.g. ``{"disagreement": {"committee": 4}}``); ``progress`` is called with
    a line per run. Other ``kwargs`` go to :func:`run_active_learning`.
    """
    if not strategies:
        raise ValueError("strategies must name at least one strategy")
    results: dict[str, list[ActiveResult]] = {}
    for seed in seeds:
        pool, test = split_pool(dataset, test_size, seed)
        for strategy in strategies:
            res = run_active_learning(pool.images, LabelOracle(pool.labels), test.images, test.labels,
                                      strategy=strategy, seed=seed, num_classes=dataset.num_classes,
                                      strategy_options=(strategy_options_by_name or {}).get(strategy)
                                      if isinstance(strategy, str) else None, **kwargs)
            results.setdefault(res.strategy if isinstance(strategy, str) else strategy_name(strategy),
                               []).append(res)
            if progress is not None:
                progress(f"{res.strategy} seed {seed}: accuracy {res.accuracy[0]:.3f} -> "
                         f"{res.accuracy[-1]:.3f} with {res.labelled[-1]} labels (AUC {res.auc():.3f})")
    return results


def summarize(results: dict[str, list[ActiveResult]]) -> dict[str, dict[str, Any]]:
    """Mean and standard deviation over seeds of each strategy's accuracy at each budget and AUC."""
    out = {}
    for name, runs in results.items():
        acc = torch.tensor([r.accuracy for r in runs], dtype=torch.float64)
        auc = torch.tensor([r.auc() for r in runs], dtype=torch.float64)
        std = acc.std(0, unbiased=True) if len(runs) > 1 else torch.zeros(acc.shape[1], dtype=torch.float64)
        out[name] = {"labelled": runs[0].labelled, "seeds": [r.seed for r in runs],
                     "accuracy_mean": acc.mean(0).tolist(), "accuracy_std": std.tolist(),
                     "auc_mean": float(auc.mean()), "auc_std": float(auc.std()) if len(runs) > 1 else 0.0,
                     "fit_seconds": float(sum(sum(r.fit_seconds) for r in runs) / len(runs)),
                     "query_seconds": float(sum(sum(r.query_seconds) for r in runs) / len(runs))}
    return out


def format_results(results: dict[str, list[ActiveResult]], baseline: str = "random") -> str:
    """A markdown table: test accuracy (mean ± std over seeds) at each label count, the AUC, and
    the AUC minus the baseline's. Columns are label counts."""
    summary = summarize(results)
    counts = next(iter(summary.values()))["labelled"]
    header = ["strategy", *(str(c) for c in counts), "AUC", f"ΔAUC vs {baseline}"]
    rows = []
    base = summary.get(baseline)
    for name, s in summary.items():
        several = len(s["seeds"]) > 1  # a spread only where there is one
        cells = [f"{m:.3f} ± {d:.3f}" if several else f"{m:.3f}"
                 for m, d in zip(s["accuracy_mean"], s["accuracy_std"])]
        auc = f"{s['auc_mean']:.3f} ± {s['auc_std']:.3f}" if several else f"{s['auc_mean']:.3f}"
        delta = f"{s['auc_mean'] - base['auc_mean']:+.3f}" if base is not None else "n/a"
        rows.append([name, *cells, auc, delta])
    return format_table(header, rows, markdown=True)
