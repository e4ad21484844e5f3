"""Train conditional GAN recipes on the digits with seeds and judge each (an evaluation).

    python experiments/generation/sweep.py --recipe NAME [--seeds 0 1] [--steps 2000] \
        [--threads 1] [--out generation-output]

A recipe is a named set of ``fusegen.train.train`` options (``RECIPES`` below; ``defaults``
is what ``fusegen train gan --conditional`` runs). Each (recipe, seed) trains into
``OUT/NAME-sSEED`` and appends one JSON line, judged by ``judge.py``, to ``OUT/sweep.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from judge import Judge, judge_checkpoint, score_faces  # noqa: E402

import fusegen  # noqa: E402

from fusegen.train import train  # noqa: E402

# The recipes spell out every option the defaults changed, so a recipe keeps its meaning when the
# defaults move; "defaults" is whatever `fusegen train gan` runs now.
OLD_GAN = dict(width=64, mode_seeking=0.0, class_loss=0.0, gan_loss="ns", augment="none",
               spectral_norm=False, minibatch_std=0)


def _old(**changes):
    return {**OLD_GAN, **changes}


RECIPES = {
    "defaults": {},
    "old-defaults": _old(),
    "ms0.3": _old(mode_seeking=0.3),
    "w32": _old(width=32),
    "w32-ms0.3": _old(width=32, mode_seeking=0.3),
    "w32-aug": _old(width=32, augment="translation,cutout"),
    "w32-aug-ms0.3": _old(width=32, augment="translation,cutout", mode_seeking=0.3),
    "w32-sn-hinge": _old(width=32, spectral_norm=True, gan_loss="hinge"),
    "w32-sn-hinge-aug": _old(width=32, spectral_norm=True, gan_loss="hinge", augment="translation,cutout"),
    "w32-sn-hinge-aug-ms0.3": _old(width=32, spectral_norm=True, gan_loss="hinge",
                                   augment="translation,cutout", mode_seeking=0.3),
    "w32-sn-aug": _old(width=32, spectral_norm=True, augment="translation,cutout"),
    "w32-sn-aug-ms0.3": _old(width=32, spectral_norm=True, augment="translation,cutout", mode_seeking=0.3),
    "w32-aug-ttur": _old(width=32, augment="translation,cutout", lr=1e-4, d_lr=4e-4),
    "w32-mbstd": _old(width=32, minibatch_std=4),
    "w32-aug-mbstd": _old(width=32, augment="translation,cutout", minibatch_std=4),
    "w32-aug-mbstd-ms0.3": _old(width=32, augment="translation,cutout", minibatch_std=4, mode_seeking=0.3),
    "w32-sn-hinge-aug-mbstd": _old(width=32, spectral_norm=True, gan_loss="hinge",
                                   augment="translation,cutout", minibatch_std=4),
    "w32-ms0.6": _old(width=32, mode_seeking=0.6),
    "w32-ms1": _old(width=32, mode_seeking=1.0),
    "w32-aug-ms0.6": _old(width=32, augment="translation,cutout", mode_seeking=0.6),
    "w32-aug-mbstd-ms0.6": _old(width=32, augment="translation,cutout", minibatch_std=4, mode_seeking=0.6),
    "w32-lat32-ms0.6": _old(width=32, latent_dim=32, mode_seeking=0.6),
    "w32-ms0.6-ac": _old(width=32, mode_seeking=0.6, class_loss=1.0),
    "w32-ms1-ac": _old(width=32, mode_seeking=1.0, class_loss=1.0),
    "w32-ms0.6-ac0.3": _old(width=32, mode_seeking=0.6, class_loss=0.3),
    "w48-ms0.6-ac": _old(width=48, mode_seeking=0.6, class_loss=1.0),
    "w32-ms0.6-ac-lr4e-4": _old(width=32, mode_seeking=0.6, class_loss=1.0, lr=4e-4),
    "w32-ms0.6-ac-b128": _old(width=32, mode_seeking=0.6, class_loss=1.0, batch_size=128),
    "w32-ms0.6-ac-ema0.99": _old(width=32, mode_seeking=0.6, class_loss=1.0, ema_decay=0.99),
    "w32-ms1-ac2": _old(width=32, mode_seeking=1.0, class_loss=2.0),
    "w32-ms1.5-ac2": _old(width=32, mode_seeking=1.5, class_loss=2.0),
    "w48-ms1-ac2": _old(width=48, mode_seeking=1.0, class_loss=2.0),
}
# VAE recipes: (kind "vae")
OLD_VAE = dict(beta=1.0, latent_dim=16, likelihood="bernoulli")
VAE_RECIPES = {
    "vae-defaults": {},
    "vae-old-defaults": OLD_VAE,
    "vae-beta0.5": {**OLD_VAE, "beta": 0.5},
    "vae-beta2": {**OLD_VAE, "beta": 2.0},
    "vae-latent8": {**OLD_VAE, "latent_dim": 8},
    "vae-latent32": {**OLD_VAE, "latent_dim": 32},
    "vae-cb": {**OLD_VAE, "likelihood": "continuous_bernoulli"},
    "vae-gaussian": {**OLD_VAE, "likelihood": "gaussian"},
    "vae-gaussian-latent32": {**OLD_VAE, "likelihood": "gaussian", "latent_dim": 32},
}
RECIPES.update(VAE_RECIPES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", action="append", required=True, choices=sorted(RECIPES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="digits", choices=["digits", "faces"],
                        help="faces: unconditional, judged by judge.score_faces")
    parser.add_argument("--out", default="generation-output")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    judge = Judge()
    for name in args.recipe:
        for seed in args.seeds:
            run = out / f"{name}-s{seed}"
            started = time.perf_counter()
            kind = "vae" if name in VAE_RECIPES else "dcgan"
            digits = args.data == "digits"
            run = out / f"{name}-{args.data}-s{seed}" if not digits else run
            train(kind, args.data, run, args.steps, conditional=digits, seed=seed, device="cpu",
                  progress=False, overwrite=True, **RECIPES[name])
            seconds = time.perf_counter() - started
            row = {"kind": kind, "recipe": name, "options": RECIPES[name], "seed": seed, "steps": args.steps,
                   "train_seconds": round(seconds, 1), "threads": args.threads,
                   "machine": platform.processor() or platform.machine(), "date": str(date.today()),
                   "data": args.data,
                   **(judge_checkpoint(judge, run / "last.pt") if digits else
                      score_faces(fusegen.load(run / "last.pt").sample(1000, generator=torch.Generator().manual_seed(123))))}
            with open(out / "sweep.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
