"""The parameter-free fills behind fusegen's inpainting model, on the classical baselines' test set.

    python experiments/inpaint/fills.py [--size 256] [--masks 16] [--seed 0] [--threads 1]
                                        [--out experiments/inpaint/results]

Each fill fills the held-out photographs' seeded masks of ``classical.py`` (``held_out_images``,
``held_out_masks``); the known pixels are kept and PSNR (``fusegen.metrics.psnr``) is averaged
over the images. The variants are the push-pull pyramid (``pyramid_fill``), its harmonic
version (Jacobi steps of Laplace's equation at every level), and either followed by damped
Jacobi steps of the biharmonic equation -- ``smooth_fill``, the model's fill, is the harmonic
pyramid with 20 steps a level, then 20 biharmonic steps. Writes ``fills.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical import held_out_images, held_out_masks, machine  # noqa: E402  (needs OpenCV, scikit-image)

from fusegen.data import MASK_KINDS  # noqa: E402
from fusegen.metrics import psnr  # noqa: E402
from fusegen.models.inpaint import _biharmonic_steps, _laplace_steps, pyramid_fill, smooth_fill  # noqa: E402


def variants() -> dict:
    """name -> fill(image with holes zeroed, valid mask, known bool mask)."""
    out = {"push-pull pyramid": lambda x, v, k: pyramid_fill(x, v),
           "pyramid, 10 Laplace steps, 20 biharmonic steps": lambda x, v, k: _biharmonic_steps(
               _laplace_steps(pyramid_fill(x, v), x, k, 10), x, k, 20)}
    for steps in (5, 10, 20, 40):
        out[f"harmonic pyramid, {steps} steps a level"] = lambda x, v, k, s=steps: pyramid_fill(x, v, s)
    out["harmonic pyramid (20), 20 biharmonic steps: smooth_fill"] = lambda x, v, k: smooth_fill(x, v)
    out["harmonic pyramid (20), 40 biharmonic steps"] = lambda x, v, k: _biharmonic_steps(
        pyramid_fill(x, v, 20), x, k, 40)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--masks", type=int, default=16, help="masks per photograph and kind (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clean = held_out_images(args.size).repeat_interleave(args.masks, 0).float()
    masks = {kind: held_out_masks(kind, len(clean), args.size, args.seed) for kind in MASK_KINDS}
    report = {"command": " ".join(["python", "experiments/inpaint/fills.py", *sys.argv[1:]]),
              "date": date.today().isoformat(), "machine": machine(), "size": args.size,
              "masks_per_photo": args.masks, "seed": args.seed, "fills": {}}
    lines = ["| fill | " + " | ".join(MASK_KINDS) + " | ms per picture |", "|---|" + "---:|" * (len(MASK_KINDS) + 1)]
    for name, fill in variants().items():
        scores, seconds = {}, 0.0
        for kind, missing in masks.items():
            valid = (~missing).float()
            began = time.perf_counter()
            filled = fill(clean * valid, valid, valid > 0)
            seconds += time.perf_counter() - began
            filled = torch.where(missing, filled.clamp(0, 1), clean)
            scores[kind] = psnr(filled.double(), clean.double()).mean().item()
        ms = 1000 * seconds / (len(clean) * len(masks))
        report["fills"][name] = {"psnr": scores, "ms_per_picture": ms}
        lines.append(f"| {name} | " + " | ".join(f"{scores[k]:.2f}" for k in MASK_KINDS) + f" | {ms:.1f} |")
    report["table"] = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fills.json").write_text(json.dumps(report, indent=2) + "\n")
    print(report["table"])
    print(f"\n{report['machine']}; {report['date']}")
    return report


if __name__ == "__main__":
    main()
