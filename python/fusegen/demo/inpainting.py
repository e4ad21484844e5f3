"""The demo's inpainting step: a small inpainting U-Net trained on photographs with random holes,
then the camera photo (which it never saw) with scratched-out strokes, filled by it and, when
OpenCV is installed, by OpenCV's Telea inpainting."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..data import photo, random_masks, resize_square, save_grid
from ..load import load
from ..metrics import psnr
from ..train import train
from .sizes import DemoSizes


def step_inpaint(out: Path, device: str, sizes: DemoSizes, *, image: str = "camera", kind: str = "strokes",
                 size: int = 256, seed: int = 0) -> dict[str, Any]:
    """Train an inpainting model for ``sizes.inpaint_steps`` steps on the training photographs
    (holes of every kind), then fill a seeded ``kind`` mask on scikit-image's ``image``
    (grey, ``size`` x ``size``) with it and with OpenCV's Telea (radius 5) when ``cv2`` can be
    imported. Writes ``out/inpaint`` (the run) and ``out/inpaint-<image>.png`` (original | damaged
    -- holes in white -- | Telea | fusegen, or without Telea); returns the report's dict: PSNR
    over the image and over the holes, seconds."""
    steps = sizes.inpaint_steps
    summary = train("inpaint", "photos", out / "inpaint", steps, width=sizes.inpaint_width,
                    depth=sizes.inpaint_depth, batch_size=sizes.inpaint_batch,
                    patch_size=sizes.inpaint_patch, device=device, val_every=max(1, steps // 2),
                    progress=False, overwrite=True)  # the demo's own folder: a rerun replaces it
    model = load(summary["best_checkpoint"] or summary["checkpoint"], device)
    clean = resize_square(photo(image)[None], size)[0]
    missing = random_masks(1, size, size, kind, generator=torch.Generator().manual_seed(seed))[0]
    started = time.perf_counter()
    filled = model.inpaint(clean.to(device), missing.to(device)).cpu()
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "image": f"skimage.data.{image} ({size}x{size} grey)", "mask": kind, "seed": seed,
        "hole_fraction": float(missing.float().mean()), "steps": steps, "train_seconds": summary["seconds"],
        "model": dict(model.config), "best_val_psnr": summary["best_metric"], "fusegen_seconds": seconds,
        "psnr_fusegen_db": float(psnr(filled, clean)), "psnr_fusegen_holes_db": float(psnr(filled, clean, region=missing)),
    }
    panels = [clean, clean.masked_fill(missing, 1.0)]
    telea = _telea(clean, missing)
    if telea is not None:
        result["psnr_telea_db"] = float(psnr(telea, clean))
        result["psnr_telea_holes_db"] = float(psnr(telea, clean, region=missing))
        panels.append(telea)
    save_grid(torch.stack(panels + [filled]), out / f"inpaint-{image}.png", nrow=len(panels) + 1)
    versus = (f", OpenCV Telea {result['psnr_telea_db']:.2f} dB" if telea is not None
              else " (OpenCV not installed: no Telea comparison)")
    print(f"inpainting model ({steps} steps in {summary['seconds']:.0f} s): {kind} over "
          f"{result['hole_fraction']:.0%} of {image} filled to {result['psnr_fusegen_db']:.2f} dB{versus}; "
          f"original | damaged | {'Telea | ' if telea is not None else ''}fusegen in {out}/inpaint-{image}.png")
    return result


def _telea(clean: torch.Tensor, missing: torch.Tensor) -> torch.Tensor | None:
    """OpenCV's Telea inpainting (radius 5) of a (1, H, W) image in [0, 1], known pixels kept;
    None when OpenCV is not installed (an optional dependency)."""
    try:
        import cv2
    except ImportError:
        return None
    import numpy as np

    scaled = (clean[0].numpy() * 255).astype(np.float32)  # Telea's float path expects 0-255 values
    filled = cv2.inpaint(scaled, missing[0].numpy().astype(np.uint8), 5, cv2.INPAINT_TELEA) / 255.0
    return torch.where(missing, torch.from_numpy(np.asarray(filled, dtype=np.float32))[None].clamp(0, 1), clean)
