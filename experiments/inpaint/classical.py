"""Classical inpainting baselines: OpenCV's Telea and Navier-Stokes, scikit-image's biharmonic.

    python experiments/inpaint/classical.py [--size 256] [--masks 16] [--seed 0]
                                            [--out experiments/inpaint/results]

The held-out photographs are fusegen's unseen test photographs (``fusegen.train.TEST_PHOTOS``:
camera, coins, moon), in grey, center-cropped to squares and resized (area) to ``--size``.
Each mask kind of ``fusegen.data.random_masks`` (strokes, pixels, boxes; their default hole
fractions) gets ``--masks`` seeded masks per photograph; every method fills the same masks.

Methods: ``cv2.inpaint`` with INPAINT_TELEA and INPAINT_NS at radius 3 and 5 (the better radius
per mask kind is reported; both are in the JSON), ``skimage.restoration.inpaint_biharmonic``.
Images are float32 on the 0-255 scale for OpenCV (its Telea code assumes 8-bit values: given
floats in [0, 1] it returns garbage) and float64 in [0, 1] for scikit-image: no 8-bit rounding. The known pixels are kept (the result is the input outside the mask, clipped to
[0, 1]); PSNR (``fusegen.metrics.psnr``) is over the whole image, and in the JSON also over the
missing pixels only. Prints a markdown table and writes ``classical.json`` into ``--out``.
Needs OpenCV and scikit-image.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

try:
    import cv2
    import skimage
    from skimage.restoration import inpaint_biharmonic
except ImportError as exc:
    raise SystemExit(f"classical.py compares with OpenCV and scikit-image, and {exc.name} is not "
                     "installed: pip install opencv-python-headless scikit-image") from None

import fusegen
from fusegen.data import MASK_FRACTIONS, MASK_KINDS, photo, random_masks, resize_square
from fusegen.metrics import psnr
from fusegen.train import TEST_PHOTOS, TRAIN_PHOTOS

# The held-out photographs: the ones no fusegen recipe trains on. An inpainting model trains on
# TRAIN_PHOTOS (astronaut, coffee, chelsea, rocket, page, text, brick, grass, gravel).
HELD_OUT_PHOTOS = TEST_PHOTOS
RADII = (3, 5)


def held_out_images(size: int) -> torch.Tensor:
    """The held-out photographs, grey, (P, 1, size, size) float64 in [0, 1]."""
    return torch.cat([resize_square(photo(name, channels=1)[None], size) for name in HELD_OUT_PHOTOS]).double()


def opencv(flag: int, radius: int):
    def fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # 0-255 floats: Telea's float path assumes 8-bit values (given [0, 1] it returns garbage)
        scaled = (image * 255).astype(np.float32)
        return cv2.inpaint(scaled, mask.astype(np.uint8), radius, flag) / 255.0
    return fill


def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return inpaint_biharmonic(image, mask)


METHODS = {**{f"telea r{r}": opencv(cv2.INPAINT_TELEA, r) for r in RADII},
           **{f"ns r{r}": opencv(cv2.INPAINT_NS, r) for r in RADII},
           "biharmonic": biharmonic}


def evaluate(clean: torch.Tensor, masks: torch.Tensor) -> dict[str, dict]:
    """Every method on every (image, mask) pair: mean PSNR over the image and over the holes."""
    results = {}
    for name, fill in METHODS.items():
        start = time.perf_counter()
        filled = torch.stack([torch.from_numpy(np.asarray(fill(c[0].numpy(), m[0].numpy()), dtype=np.float64))
                              for c, m in zip(clean, masks)])[:, None].clamp(0, 1)
        seconds = time.perf_counter() - start
        filled = torch.where(masks, filled, clean)  # the known pixels, kept
        whole, holes = psnr(filled, clean), psnr(filled, clean, region=masks)
        results[name] = {"psnr": whole.mean().item(), "psnr_holes": holes.mean().item(),
                         "psnr_per_image": [round(v, 3) for v in whole.tolist()],
                         "seconds_per_image": seconds / len(clean)}
    return results


def best_radius(results: dict, method: str) -> str:
    """The radius with the higher mean whole-image PSNR, e.g. ``"telea r5"``."""
    return max((f"{method} r{r}" for r in RADII), key=lambda key: results[key]["psnr"])


def table(report: dict, metric: str = "psnr") -> str:
    """Markdown: a row per mask kind, mean ``metric`` per method (OpenCV at its better radius)."""
    lines = ["| mask kind | hole fraction | Telea | Navier-Stokes | biharmonic | best |",
             "|---|---:|---:|---:|---:|---:|"]
    for kind in MASK_KINDS:
        res = report["kinds"][kind]["methods"]
        cells = []
        for key in (best_radius(res, "telea"), best_radius(res, "ns"), "biharmonic"):
            radius = f" ({key.split()[1]})" if " " in key else ""
            cells.append((res[key][metric], f"{res[key][metric]:.2f}{radius}"))
        lines.append(f"| {kind} | {report['kinds'][kind]['hole_fraction']:.1%} | "
                     f"{' | '.join(text for _, text in cells)} | **{max(cells)[0]:.2f}** |")
    return "\n".join(lines)


def held_out_masks(kind: str, count: int, size: int, seed: int = 0) -> torch.Tensor:
    """The seeded (count, 1, size, size) masks of one kind that every method fills: a learned
    model compared with this table must be scored on these same masks (same images, same order)."""
    generator = torch.Generator().manual_seed(seed * 1000 + MASK_KINDS.index(kind))
    return random_masks(count, size, size, kind, generator=generator)


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {torch.get_num_threads()} torch threads, {cv2.getNumThreads()} OpenCV threads"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="side of the square test images (default 256)")
    parser.add_argument("--masks", type=int, default=16, help="masks per photograph and kind (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the masks (default 0)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    clean = held_out_images(args.size)
    images = clean.repeat_interleave(args.masks, 0)  # each photograph, --masks times
    report = {"command": " ".join(["python", "experiments/inpaint/classical.py", *sys.argv[1:]]),
              "date": date.today().isoformat(), "machine": machine(),
              "versions": {"fusegen": fusegen.__version__, "torch": torch.__version__, "opencv": cv2.__version__,
                           "scikit-image": skimage.__version__},
              "held_out_photos": list(HELD_OUT_PHOTOS), "training_photos": list(TRAIN_PHOTOS),
              "size": args.size, "masks_per_photo": args.masks, "seed": args.seed, "kinds": {}}
    for kind in MASK_KINDS:
        masks = held_out_masks(kind, len(images), args.size, args.seed)
        report["kinds"][kind] = {"default_fraction_range": list(MASK_FRACTIONS[kind]),
                                 "hole_fraction": masks.double().mean().item(),
                                 "methods": evaluate(images, masks)}
        print(f"{kind}: done ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    report["table"], report["table_holes"] = table(report), table(report, "psnr_holes")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "classical.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Mean PSNR (dB) over {len(images)} images per kind ({', '.join(HELD_OUT_PHOTOS)}, "
          f"{args.size}x{args.size} grey, {args.masks} masks each), known pixels kept.\n")
    print(report["table"])
    print("\nThe same, PSNR over the missing pixels only (best radius as above):\n")
    print(report["table_holes"])
    print(f"\n{report['machine']}; {report['date']}; {report['wall_seconds']} s; {report['command']}")
    return report


if __name__ == "__main__":
    main()
