"""Scoring an ensemble beside its members (:meth:`Ensemble.report`) and printing the rows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ...metrics import FeatureExtractor, evaluate, psnr, ssim, within_class_diversity
from ...ops import weighted_sum
from ...tables import format_table
from .members import check_pairs, labels_like_real
from .weights import normalize_weights


class EnsembleReport:
    """The :meth:`report` half of :class:`Ensemble` (a mixin: it reads the ensemble's members,
    names, weights and mode)."""

    def report(self, inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None, *,
               labels=None, real: torch.Tensor | None = None, real_labels: torch.Tensor | None = None,
               feature_fn: Callable[[torch.Tensor], torch.Tensor] | None = None, n: int = 1000,
               generator: torch.Generator | None = None, baselines: Mapping[str, object] | None = None,
               batch_size: int = 32, kid_subsets: int = 50) -> list[dict[str, Any]]:
        """The ensemble beside each member, on the same metric and the same data.

        Restoration: ``report(noisy, clean)`` -- mean per-image PSNR (dB) and SSIM of each
        member's output and of the ensemble's (higher is better), after a ``"noisy"`` row; batches
        (N, C, H, W), or lists of (C, H, W) images of different sizes (each scored alone, then
        averaged). VAEs: ``report(images)`` scores reconstructions. Generators: ``report(real=images,
        feature_fn=..., n=...)`` -- Fréchet distance, KID (lower is better), precision, recall,
        density and coverage (:func:`fusegen.metrics.evaluate`) of ``n`` samples of each member
        and of the ensemble against ``real`` (images, or features made by ``feature_fn``).
        Conditional generators with ``real_labels`` (the labels of ``real``): every row draws its
        samples for one draw of labels from ``real_labels``, and gets a ``within_class_diversity``
        column (:func:`fusegen.metrics.within_class_diversity`).
        ``baselines`` adds rows for this ensemble with other weights, e.g. ``{"uniform": None}``.

        Returns rows ``{"name", "weights", <metric>: value, ...}``: members first (``weights`` is
        their weight in the ensemble), then ``"ensemble (<baseline>)"`` rows, then ``"ensemble"``
        (``weights``: the K weights used). :func:`format_report` prints them.
        """
        if isinstance(inputs, (list, tuple)):
            return self._report_images(inputs, targets, labels, baselines, batch_size)
        K = len(self.members)
        current = self.weights.detach().double().cpu()
        combos = [(f"ensemble ({key})", normalize_weights(value, K, f"baselines[{key!r}]"))
                  for key, value in (baselines or {}).items()] + [("ensemble", current)]
        generators = self.mode == "mixture" or (self.mode == "soup" and real is not None)
        if generators:
            return self._report_generators(labels, real, feature_fn, n, generator, combos, kid_subsets,
                                           real_labels)
        if inputs is None:
            raise ValueError("report needs inputs (and targets): report(noisy, clean)")
        if targets is None:
            if self.interface != "reconstruct":
                raise ValueError("report needs targets (the clean images) beside the inputs")
            targets = inputs
        inputs, targets = check_pairs(inputs, targets)
        outputs = self._outputs(inputs, labels, batch_size)
        rows: list[dict[str, Any]] = []
        if self.interface in ("restore", "denoise"):
            rows.append({"name": "noisy", "weights": None, **image_scores(inputs.clamp(0, 1), targets)})
        rows += [{"name": name, "weights": float(current[k]), **image_scores(outputs[k], targets)}
                 for k, name in enumerate(self.names)]
        with self._weights_restored():
            for label, w in combos:
                self.set_weights(w)
                combined = (self._ensemble_outputs(inputs, labels, batch_size) if self.mode == "soup"
                            else weighted_sum(outputs, self.weights.detach().to(outputs.device)))
                rows.append({"name": label, "weights": w.tolist(), **image_scores(combined, targets)})
        return rows

    def _report_images(self, inputs, targets, labels, baselines, batch_size) -> list[dict[str, Any]]:
        """report() on images of different sizes: each scored alone, the metrics averaged."""
        if labels is not None:
            raise ValueError("labels go with a batch of inputs, not a list of images")
        if targets is None:
            targets = inputs if self.interface == "reconstruct" else None
        if not isinstance(targets, (list, tuple)) or len(targets) != len(inputs) or not inputs:
            raise ValueError("inputs given as a list of images need targets as a list of as many")
        per_image = []
        for k, (x, y) in enumerate(zip(inputs, targets)):
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.dim() != 3:
                raise ValueError(f"inputs[{k}] and targets[{k}] must be (C, H, W) tensors")
            per_image.append(self.report(x[None], y[None], baselines=baselines, batch_size=batch_size))
        rows = []
        for i, row in enumerate(per_image[0]):
            merged = dict(row)
            for key, value in row.items():
                if key not in ("name", "weights") and isinstance(value, float):
                    merged[key] = sum(r[i][key] for r in per_image) / len(per_image)
            rows.append(merged)
        return rows

    def _ensemble_outputs(self, inputs, labels, batch_size):
        chunks = []
        for i in range(0, len(inputs), batch_size):
            x = inputs[i:i + batch_size]
            if self.interface == "reconstruct":
                chunks.append(self.reconstruct(x, None if labels is None else labels[i:i + batch_size]))
            else:
                chunks.append(self.denoise(x))
        return torch.cat(chunks)

    def _report_generators(self, labels, real, feature_fn, n, generator, combos, kid_subsets,
                           real_labels=None):
        if real is None:
            raise ValueError("report for generators needs real=: real images (N, C, H, W) or their "
                             "features (N, D)")
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2 (samples per row), got {n!r}")
        feature_fn = feature_function(feature_fn, real)
        real_features = real if real.dim() == 2 else feature_fn(real)
        size = min(1000, n, real_features.shape[0])
        keys = ("frechet_distance", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")

        if real_labels is not None:  # every row draws for the same labels
            real_labels, labels = labels_like_real(real_labels, real_features.shape[0], n, self.num_classes,
                                                   {"labels": labels}, generator)

        def scores(images: torch.Tensor) -> dict[str, float]:
            fake_features = feature_fn(images)
            r = evaluate(real_features, fake_features, kid_subsets=kid_subsets, kid_subset_size=size)
            row = {key: float(r[key]) for key in keys}
            if real_labels is not None:
                row["within_class_diversity"] = within_class_diversity(
                    real_features, real_labels.to(real_features.device), fake_features, labels)
            return row

        current = self.weights.detach().double().cpu()
        rows = [{"name": name, "weights": float(current[k]),
                 **scores(m.sample(n, labels=labels, generator=generator))}
                for k, (name, m) in enumerate(zip(self.names, self.members))]
        with self._weights_restored():
            for label, w in combos:
                self.set_weights(w)
                rows.append({"name": label, "weights": w.tolist(),
                             **scores(self.sample(n, labels=labels, generator=generator))})
        return rows

    @contextlib.contextmanager
    def _weights_restored(self):
        """Puts the exact weight tensor (logits or buffer) back after trying other weights."""
        raw = self.logits if self.learnable else self.fixed_weights
        saved = raw.detach().clone()
        try:
            yield
        finally:
            with torch.no_grad():
                raw.copy_(saved)

def mean_psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean per-image PSNR (dB) of outputs ``x`` against targets ``y`` in [0, 1]."""
    return float(psnr(x.float(), y.to(x.device).float()).mean())


def image_scores(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """PSNR and (for images of at least 11x11) SSIM, averaged over the batch."""
    y = y.to(x.device)
    out = {"psnr": mean_psnr(x, y)}
    if min(x.shape[-2:]) >= 11:
        out["ssim"] = float(ssim(x.float().clamp(0, 1), y.float()).mean())
    return out


def feature_function(feature_fn, real: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``feature_fn`` (a :class:`FeatureExtractor`, a callable, or None: random features) as a
    no-grad images -> features function; checks ``real``."""
    if not isinstance(real, torch.Tensor) or real.dim() not in (2, 4):
        raise ValueError(f"real must be images (N, C, H, W) or features (N, D), got "
                         f"{tuple(real.shape) if isinstance(real, torch.Tensor) else type(real).__name__}")
    if feature_fn is None:
        if real.dim() == 2:
            raise ValueError("real are features: pass the feature_fn that made them")
        feature_fn = FeatureExtractor.random(real.shape[1])
    extract = getattr(feature_fn, "extract", None)
    if callable(extract):
        return lambda images: extract(images)
    if not callable(feature_fn):
        raise TypeError(f"feature_fn must be callable (images -> features), got {type(feature_fn).__name__}")

    def call(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return feature_fn(images)

    return call


_HEADERS = {"name": "", "weights": "weights", "psnr": "PSNR (dB)", "ssim": "SSIM",
            "frechet_distance": "Fréchet", "kid_mean": "KID", "precision": "precision",
            "recall": "recall", "density": "density", "coverage": "coverage",
            "within_class_diversity": "within-class diversity"}


def format_report(rows: Sequence[Mapping[str, Any]], markdown: bool = False) -> str:
    """Rows of :meth:`Ensemble.report` as an aligned text (or markdown) table.

    The weights column shows a member's weight in the ensemble, and an ensemble row's K weights
    separated by slashes."""
    skip = {"name", "weights", "kid_std"}
    metrics = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in skip]
    columns = ["name", "weights", *metrics]

    def cell(row: Mapping[str, Any], c: str) -> str:
        v = row.get(c)
        if v is None:
            return ""
        if c == "name":
            return str(v)
        if c == "weights":
            return "/".join(f"{x:.2f}" for x in v) if isinstance(v, (list, tuple)) else f"{v:.3f}"
        if c == "kid_mean" and row.get("kid_std") is not None:
            return f"{v:.4f} ± {row['kid_std']:.4f}"
        if c == "psnr":
            return f"{v:.2f}"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return format_table([_HEADERS.get(c, c) for c in columns],
                        [[cell(r, c) for c in columns] for r in rows], markdown=markdown)
