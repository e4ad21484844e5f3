"""The demo's restoration steps: a DnCNN trained on photographs, then NLM and BM3D against the
DnCNN on the camera photo, which it did not see."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..data import NoisyPairs, photo, save_grid
from ..load import load
from ..metrics import psnr
from ..models import BM3DDenoiser, NLMDenoiser
from ..train import train
from .sizes import DemoSizes


def step_dncnn(out: Path, device: str, sizes: DemoSizes) -> dict[str, Any]:
    """Train a small DnCNN at sigma 25 on scikit-image photographs (not the camera)."""
    steps = sizes.dncnn_steps
    summary = train("dncnn", "photos", out / "dncnn", steps, depth=sizes.dncnn_depth,
                    width=sizes.dncnn_width, batch_size=sizes.dncnn_batch, sigma=25.0, device=device,
                    val_every=steps // 4, overwrite=True)
    print(f"DnCNN (depth {sizes.dncnn_depth}, width {sizes.dncnn_width}): {steps} steps in "
          f"{summary['seconds']:.0f} s, best validation PSNR {summary['best_metric']:.2f} dB")
    return {"steps": steps, "seconds": summary["seconds"], "best_val_psnr": summary["best_metric"],
            "checkpoint": summary["best_checkpoint"]}


def step_denoise_compare(out: Path, device: str) -> dict[str, Any]:
    """Denoise the noisy camera photo (unseen in training) with NLM, BM3D and the DnCNN."""

    clean = photo("camera").to(device)
    noisy = NoisyPairs(clean[None].cpu(), sigma=25.0, seed=0)[0][0].to(device)
    result: dict[str, Any] = {"image": "skimage.data.camera (512x512 grey)", "sigma": 25.0,
                              "psnr_noisy_db": float(psnr(noisy.clamp(0, 1), clean))}
    restored = {}
    models = {"nlm": NLMDenoiser(25.0), "bm3d": BM3DDenoiser(25.0),
              "dncnn": load(out / "dncnn" / "best.pt", device)}
    for name, model in models.items():
        model.denoise(noisy[:, :64, :64])  # warm-up
        start = time.perf_counter()
        restored[name] = model.denoise(noisy)
        result[f"{name}_seconds"] = time.perf_counter() - start
        result[f"psnr_{name}_db"] = float(psnr(restored[name], clean))
    start = time.perf_counter()
    turned = models["dncnn"].denoise(noisy, self_ensemble=True)  # on the 8 flips/turns, averaged
    result["dncnn_self_ensemble_seconds"] = time.perf_counter() - start
    result["psnr_dncnn_self_ensemble_db"] = float(psnr(turned, clean))
    grid = torch.stack([clean, noisy.clamp(0, 1), restored["nlm"], restored["bm3d"], restored["dncnn"]])
    save_grid(grid, out / "denoise-camera.png", nrow=5)
    print(f"camera at sigma 25: noisy {result['psnr_noisy_db']:.2f} dB, NLM {result['psnr_nlm_db']:.2f} dB "
          f"({result['nlm_seconds']:.2f} s), BM3D {result['psnr_bm3d_db']:.2f} dB "
          f"({result['bm3d_seconds']:.2f} s), DnCNN {result['psnr_dncnn_db']:.2f} dB "
          f"({result['dncnn_seconds']:.2f} s), DnCNN self-ensemble "
          f"{result['psnr_dncnn_self_ensemble_db']:.2f} dB ({result['dncnn_self_ensemble_seconds']:.2f} s); "
          f"clean | noisy | NLM | BM3D | DnCNN in {out}/denoise-camera.png")
    return result
