"""Learning curves as a PNG, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import math
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


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, AttributeError, OSError):  # old Pillow or no FreeType: the bitmap font
        return ImageFont.load_default()


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def plot_learning_curves(results, path: str | os.PathLike, title: str | None = None,
                         baseline: str = "random", metric: str = "test accuracy",
                         size: tuple[int, int] = (760, 480)) -> Path:
    """Draw each strategy's accuracy against the number of labels into the PNG ``path``.

    ``results``: an :class:`ActiveResult`, a list of them, or ``{name: [results over seeds]}``
    (what :func:`compare_strategies` returns). Several seeds of a strategy are drawn as their
    mean with a ±1 std band. The ``baseline`` strategy (random) is drawn dashed in grey.
    Returns the path written.
    """
    from PIL import Image, ImageDraw

    groups = _group(results)
    summary = summarize(groups)
    width, height = size
    left, right, top, bottom = 70, 20, 46 if title else 20, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    lows = [m - s for v in summary.values() for m, s in zip(v["accuracy_mean"], v["accuracy_std"])]
    highs = [m + s for v in summary.values() for m, s in zip(v["accuracy_mean"], v["accuracy_std"])]
    y_step = _nice_step(max(max(highs) - min(lows), 0.05), 6)
    y0 = max(0.0, math.floor(min(lows) / y_step) * y_step)
    y1 = min(1.0, math.ceil(max(highs) / y_step) * y_step)
    if y1 <= y0:
        y0, y1 = max(0.0, y0 - y_step), y0 + y_step
    xs = sorted({n for v in summary.values() for n in v["labelled"]})
    x0, x1 = xs[0], xs[-1] if xs[-1] > xs[0] else xs[0] + 1

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * plot_w, top + (1 - (y - y0) / (y1 - y0)) * plot_h)

    image = Image.new("RGB", size, "white")
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    draw, shade = ImageDraw.Draw(image), ImageDraw.Draw(overlay)
    font, small = _font(15), _font(13)

    # grid, ticks and tick labels
    y = y0
    while y <= y1 + 1e-9:
        _, py = px(x0, y)
        draw.line([(left, py), (left + plot_w, py)], fill=(232, 232, 232))
        draw.line([(left - 5, py), (left, py)], fill="black")
        draw.text((left - 8, py), f"{y:.2f}", fill="black", font=small, anchor="rm")
        y += y_step
    x_ticks = xs if len(xs) <= 12 else [x0 + i * _nice_step(x1 - x0, 8)
                                         for i in range(int((x1 - x0) / _nice_step(x1 - x0, 8)) + 1)]
    for x in x_ticks:
        pxx, _ = px(x, y0)
        draw.line([(pxx, top + plot_h), (pxx, top + plot_h + 5)], fill="black")
        draw.text((pxx, top + plot_h + 8), f"{x:g}", fill="black", font=small, anchor="mt")
    draw.rectangle([left, top, left + plot_w, top + plot_h], outline="black")
    draw.text((left + plot_w / 2, height - 8), "labelled images", fill="black", font=font, anchor="md")
    axis_label = Image.new("RGBA", (plot_h, 22), (0, 0, 0, 0))
    ImageDraw.Draw(axis_label).text((plot_h / 2, 11), metric, fill="black", font=font, anchor="mm")
    image.paste(axis_label.rotate(90, expand=True), (6, top), axis_label.rotate(90, expand=True))
    if title:
        draw.text((width / 2, 12), title, fill="black", font=font, anchor="mt")

    # curves: bands first (translucent), then lines and markers; the baseline last, on top
    names = sorted(groups, key=lambda n: n == baseline)
    colours, c = {}, 0
    for name in names:
        if name == baseline:
            colours[name] = BASELINE_COLOUR
        else:
            colours[name], c = PALETTE[c % len(PALETTE)], c + 1
    for name in names:
        s = summary[name]
        if len(groups[name]) > 1:
            upper = [px(x, m + d) for x, m, d in zip(s["labelled"], s["accuracy_mean"], s["accuracy_std"])]
            lower = [px(x, m - d) for x, m, d in zip(s["labelled"], s["accuracy_mean"], s["accuracy_std"])]
            shade.polygon(upper + lower[::-1], fill=colours[name] + (40,))
    image.paste(overlay, (0, 0), overlay)
    draw = ImageDraw.Draw(image)
    for name in names:
        s = summary[name]
        points = [px(x, m) for x, m in zip(s["labelled"], s["accuracy_mean"])]
        if name == baseline:
            _dashed(draw, points, colours[name], 3)
        elif len(points) > 1:
            draw.line(points, fill=colours[name], width=3, joint="curve")
        for p in points:
            draw.ellipse([p[0] - 3.5, p[1] - 3.5, p[0] + 3.5, p[1] + 3.5], fill=colours[name])

    # legend, bottom right inside the axes
    entries = [(n, colours[n], len(groups[n]), summary[n]["auc_mean"]) for n in names[::-1]]
    texts = [f"{n} (AUC {a:.3f}{', ' + str(k) + ' seeds' if k > 1 else ''})" for n, _, k, a in entries]
    text_w = max(draw.textlength(t, font=small) for t in texts)
    box_w, line_h = text_w + 48, 20
    bx1, by1 = left + plot_w - 10, top + plot_h - 10
    bx0, by0 = bx1 - box_w, by1 - line_h * len(texts) - 10
    draw.rectangle([bx0, by0, bx1, by1], fill="white", outline=(150, 150, 150))
    for i, ((name, colour, _, _), text) in enumerate(zip(entries, texts)):
        yy = by0 + 5 + line_h * i + line_h / 2
        if name == baseline:
            _dashed(draw, [(bx0 + 8, yy), (bx0 + 36, yy)], colour, 3)
        else:
            draw.line([(bx0 + 8, yy), (bx0 + 36, yy)], fill=colour, width=3)
        draw.text((bx0 + 42, yy), text, fill="black", font=small, anchor="lm")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=True)
    return path


def _dashed(draw, points, colour, width: int, dash: float = 8.0, gap: float = 5.0) -> None:
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        length = math.hypot(xb - xa, yb - ya)
        t = 0.0
        while t < length:
            t_end = min(t + dash, length)
            draw.line([(xa + (xb - xa) * t / length, ya + (yb - ya) * t / length),
                       (xa + (xb - xa) * t_end / length, ya + (yb - ya) * t_end / length)],
                      fill=colour, width=width)
            t = t_end + gap
