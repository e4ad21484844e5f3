"""Learning curves as a PNG, drawn with matplotlib (the ``plot`` extra: ``pip install fusegen[plot]``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .loop import ActiveResult, summarize

# Colour-blind-friendly colours (Okabe & Ito); the baseline is drawn dashed in grey.
PALETTE = [(0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0),
           (86, 180, 233), (240, 228, 66), (0, 0, 0)]
BASELINE_COLOUR = (110, 110, 110)


def _group(results) -> dict[str, list[ActiveResult]]:
    if isinstance(results, ActiveResult):
        return {results.strategy: [results]}
    if isinstance(results, Mapping):
        groups = {str(k): (list(v) if isinstance(v, Sequence) else [v]) for k, v in results.items()}
    elif isinstance(results, Sequence):
        groups: dict[str, list[ActiveResult]] = {}
        for r in results:
            groups.setdefault(r.strategy, []).append(r)
    else:
        raise TypeError("results must be an ActiveResult, a list of them, or a dict of name -> list")
    if not groups or not all(groups.values()):
        raise ValueError("results holds no learning curve to plot")
    for name, runs in groups.items():
        if not all(isinstance(r, ActiveResult) for r in runs):
            raise TypeError(f"results for {name!r} must be ActiveResult objects")
        if any(r.labelled != runs[0].labelled for r in runs):
            raise ValueError(f"the runs of {name!r} have different label counts: they cannot be averaged")
    return groups


def _pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no window); a clear error without it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting learning curves needs matplotlib: pip install matplotlib "
                          "(or fusegen's 'plot' extra)") from None
    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot

    return pyplot


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


def plot_learning_curves(results, path: str | os.PathLike, title: str | None = None,
                         baseline: str = "random", metric: str = "test accuracy",
                         size: tuple[int, int] = (760, 480)) -> Path:
    """Draw each strategy's accuracy against the number of labels into the PNG ``path``.

    ``results``: an :class:`ActiveResult`, a list of them, or ``{name: [results over seeds]}``
    (what :func:`compare_strategies` returns). Several seeds of a strategy are drawn as their
    mean with a ±1 std band. The ``baseline`` strategy (random) is drawn dashed in grey.
    ``size`` is the image's width and height in pixels. Returns the path written.

    Needs matplotlib (``ImportError`` naming it otherwise).
    """
    groups = _group(results)
    summary = summarize(groups)
    plt = _pyplot()
    dpi = 100
    fig, ax = plt.subplots(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    try:
        colours = iter(PALETTE)
        for name, s in summary.items():
            is_base = name == baseline
            colour = _hex(BASELINE_COLOUR if is_base else next(colours, PALETTE[-1]))
            x, mean, std = s["labelled"], s["accuracy_mean"], s["accuracy_std"]
            ax.plot(x, mean, color=colour, linestyle="--" if is_base else "-", linewidth=2.5,
                    marker="o", markersize=4, label=f"{name} (AUC {s['auc_mean']:.3f})")
            if len(s["seeds"]) > 1:
                ax.fill_between(x, [m - d for m, d in zip(mean, std)], [m + d for m, d in zip(mean, std)],
                                color=colour, alpha=0.15, linewidth=0)
        ax.set_xlabel("labels bought")
        ax.set_ylabel(metric)
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return out
