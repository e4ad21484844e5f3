"""The end-to-end demo behind ``fusegen demo`` / ``make demo``.

Each step (one module each: :mod:`.kernels`, :mod:`.generation`, :mod:`.denoising`,
:mod:`.inpainting`, :mod:`.transfer`, :mod:`.ensemble`, :mod:`.active`) prints what it does and
returns a dictionary for the report, which :func:`run` writes as JSON (``report.json``) and as a
short markdown summary (``report.md``) to the output folder, next to the PNG images the steps
make. On data the package reaches offline, it trains a conditional DCGAN on digits and a small
DnCNN, compares DnCNN with NLM and BM3D, measures the GAN's distance to the real digits, fills
holes in a photo with a small inpainting model beside OpenCV's Telea, adapts the DnCNN to a new
noise level, combines models in ensembles and runs an active-learning loop: a few minutes on a
2-core CPU with the default :class:`DemoSizes`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from .active import step_active
from .denoising import step_denoise_compare, step_dncnn
from .ensemble import step_ensemble
from .generation import step_gan, step_metrics
from .inpainting import step_inpaint
from .kernels import step_fused_vs_eager, step_info, step_nlm, step_weighted_sum
from .report import markdown_report
from .sizes import DemoSizes
from .transfer import step_transfer

__all__ = ["DemoSizes", "markdown_report", "run"]


def run(out_dir: str | os.PathLike, device: str = "cpu", sizes: DemoSizes | None = None) -> Path:
    """Run every demo step with ``sizes`` (default: :class:`DemoSizes`) on ``device``; write
    ``report.json`` and ``report.md`` into ``out_dir`` and return the JSON file's path."""
    sizes = sizes or DemoSizes()
    out = Path(out_dir)
    report: dict[str, Any] = {}
    print("== fusegen info")
    report["info"] = step_info()
    print("\n== fused weighted sum (ensembles, model averaging, EMA)")
    report["weighted_sum"] = step_weighted_sum(device)
    print("\n== non-local means denoising")
    out.mkdir(parents=True, exist_ok=True)
    report["nlm"] = step_nlm(out, device)
    print("\n== conditional DCGAN on digits")
    report["gan"] = step_gan(out, device, sizes)
    print("\n== distance to real digits (fusegen.metrics)")
    report["metrics"] = step_metrics(out, device, sizes)
    print("\n== DnCNN denoiser")
    report["dncnn"] = step_dncnn(out, device, sizes)
    print("\n== NLM and BM3D vs DnCNN on an unseen photo")
    report["denoise"] = step_denoise_compare(out, device)
    print("\n== inpainting: holes in an unseen photo, fusegen vs OpenCV")
    report["inpaint"] = step_inpaint(out, device, sizes)
    print("\n== transfer learning: the DnCNN adapted to sigma 50 (fusegen.transfer)")
    report["transfer"] = step_transfer(out / "dncnn" / "best.pt", out, device=device,
                                       steps=sizes.transfer_steps)
    print("\n== ensembles (fusegen.models.Ensemble)")
    report["ensemble"] = step_ensemble(out, out / "dncnn" / "best.pt",
                                       [out / "gan" / "last.pt", out / "gan" / "best.pt"], device=device,
                                       samples=sizes.ensemble_samples, vae_steps=sizes.ensemble_vae_steps)
    print("\n== active learning (fusegen.active)")
    report["active"] = step_active(out, device, rounds=sizes.active_rounds,
                                   learner_steps=sizes.active_learner_steps)
    print("\n== fused blocks vs eager PyTorch")
    report["fused_vs_eager"] = step_fused_vs_eager(device, sizes)
    path = out / "report.json"
    with atomic_write(path, "w") as f:  # a crash never leaves half a report
        json.dump(report, f, indent=2, default=str)
    with atomic_write(out / "report.md", "w") as f:
        f.write(markdown_report(report))
    print(f"\nreport written to {path} and {out / 'report.md'}; images in {out}")
    return path
