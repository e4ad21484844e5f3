"""fusegen's BM3D against the authors' reference implementation, with fusegen's NLM beside.

    python experiments/bm3d/compare.py [--set test|tune] [--sigmas 10,20,30,40,50]
                                       [--threads 2] [--out experiments/bm3d/results]

Pictures (scikit-image's samples, float in [0, 1]; RGBA drops alpha; the star field
hubble_deep_field is cut to its top-left 512x512):
  test: camera, page, text (grey); astronaut, immunohistochemistry, hubble_deep_field (colour).
        The default profile was never tuned on them.
  tune: moon, coins, grass, brick (grey); coffee, chelsea, rocket (colour): the pictures the
        default profile (fusegen.ops.bm3d) was measured on.
Each picture gets seeded Gaussian noise (numpy default_rng(0), not clipped) at each sigma (0-255
scale). Methods, all given the true sigma and their default settings:
  reference: bm3d.bm3d (grey) / bm3d.bm3d_rgb (colour), profile 'np' (pip install bm3d);
  fusegen BM3D: fusegen.ops.bm3d_denoise (CPU, float32);
  fusegen NLM: fusegen.ops.nlm_denoise (CPU, float32).
PSNR is over the whole picture, the result clipped to [0, 1]. Times are one call each, after
one warm-up call of fusegen's operators, with torch.set_num_threads(--threads); the reference
runs with its own threading (num_threads=0: all cores). Prints a markdown table and writes
``compare-<set>.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

try:
    import bm3d
    import skimage
    import skimage.data
except ImportError as exc:
    raise SystemExit(f"compare.py needs the reference package and scikit-image, and {exc.name} is "
                     "not installed: pip install bm3d scikit-image") from None

from fusegen.ops import bm3d_denoise, nlm_denoise

SETS = {
    "test": ["camera", "page", "text", "astronaut", "immunohistochemistry", "hubble_deep_field"],
    "tune": ["moon", "coins", "grass", "brick", "coffee", "chelsea", "rocket"],
}


def load(name: str) -> np.ndarray:
    image = skimage.img_as_float(getattr(skimage.data, name)())
    image = image[..., :3] if image.ndim == 3 and image.shape[2] == 4 else image
    return image[:512, :512] if name == "hubble_deep_field" else image  # 872x1000: its corner


def psnr(estimate: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((np.clip(estimate, 0, 1) - clean) ** 2)))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_fusegen(op, noisy: np.ndarray, sigma: float) -> tuple[np.ndarray, float]:
    x = torch.from_numpy(noisy).float()
    x = x.permute(2, 0, 1).contiguous() if x.dim() == 3 else x
    op(x, sigma)  # warm-up: first-call allocations
    out, seconds = timed(lambda: op(x, sigma))
    out = out.permute(1, 2, 0) if out.dim() == 3 else out
    return out.numpy().astype(np.float64), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="test")
    parser.add_argument("--sigmas", default="10,20,30,40,50")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sigmas = [float(s) for s in args.sigmas.split(",")]
    rows = []
    for name in SETS[args.set]:
        clean = load(name)
        colour = clean.ndim == 3
        for s in sigmas:
            noisy = clean + np.random.default_rng(0).normal(0, s / 255, clean.shape)
            ref, ref_s = timed(lambda: bm3d.bm3d_rgb(noisy, s / 255) if colour else bm3d.bm3d(noisy, s / 255))
            ours, ours_s = run_fusegen(bm3d_denoise, noisy, s / 255)
            nlm, nlm_s = run_fusegen(nlm_denoise, noisy, s / 255)
            row = dict(picture=name, shape=list(clean.shape), sigma=s,
                       reference=psnr(ref, clean), reference_s=ref_s,
                       bm3d=psnr(ours, clean), bm3d_s=ours_s, nlm=psnr(nlm, clean), nlm_s=nlm_s)
            rows.append(row)
            print(f"| {name} | {s:g} | {row['reference']:.2f} | {row['bm3d']:.2f} | "
                  f"{row['bm3d'] - row['reference']:+.2f} | {row['nlm']:.2f} | {ref_s:.2f} | "
                  f"{ours_s:.3f} | {ours_s / ref_s:.3f} |", flush=True)
    gaps = np.array([r["bm3d"] - r["reference"] for r in rows])
    print(f"\nmean gap {gaps.mean():+.3f} dB, worst {gaps.min():+.3f} dB over {len(rows)} cases")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(date=str(date.today()), machine=platform.processor() or platform.machine(),
                threads=args.threads, torch=torch.__version__, bm3d=getattr(bm3d, "__version__", "?"))
    (out / f"compare-{args.set}.json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))


if __name__ == "__main__":
    main()
