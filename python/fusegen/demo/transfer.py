"""The demo's transfer-learning step: adapt a trained DnCNN to a new noise level in seconds."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import load_checkpoint
from ..data import NoisyPairs, photo, save_grid
from ..load import load
from ..metrics import psnr
from ..train import TEST_PHOTOS, train


def step_transfer(checkpoint: str | os.PathLike, out: str | os.PathLike, *, device: str = "cpu",
              sigma: float = 50.0, steps: int = 20, freeze: int = 0, batch_size: int = 16,
              image: str = "camera", seed: int = 0) -> dict[str, Any]:
    """Fine-tune the DnCNN of ``checkpoint`` (trained at another noise level, e.g. sigma 25) to
    ``sigma`` for ``steps`` steps, train the same architecture from scratch at ``sigma`` for as
    many steps, and compare both -- and the checkpoint unchanged -- on scikit-image photo
    ``image`` (camera: not a training photo) at ``sigma``, by PSNR.

    Writes the two runs under ``out/transfer-finetuned`` and ``out/transfer-scratch`` and
    ``out/transfer-<image>.png`` (clean | noisy | unchanged | scratch | fine-tuned); returns a
    dict for the demo report. With the demo's DnCNN (depth 8, width 32) and 20 steps: about 30 s
    on the shared 2-core CPU under load, under 10 s when it is quiet.
    """
    payload = load_checkpoint(checkpoint)
    if payload.get("kind") != "dncnn":
        raise ValueError(f"{checkpoint}: step_transfer fine-tunes a DnCNN, not a {payload.get('kind')}")
    if image not in TEST_PHOTOS:
        raise ValueError(f"image must be a photo DnCNN does not train on: {', '.join(TEST_PHOTOS)}")
    config = dict(payload["config"])
    out = Path(out)
    common = dict(sigma=sigma, batch_size=batch_size, seed=seed, device=device, progress=False,
                  overwrite=True)  # the demo's own folders: a rerun replaces them
    started = time.perf_counter()
    tuned = train("dncnn", "photos", out / "transfer-finetuned", steps, init=checkpoint,
                  freeze=freeze, **common)
    scratch = train("dncnn", "photos", out / "transfer-scratch", steps, depth=config["depth"],
                    width=config["width"], channels=config["channels"], **common)

    clean = photo(image, config["channels"])
    noisy = NoisyPairs(clean[None], sigma=sigma, seed=seed)[0][0]
    models = {"unchanged": load(checkpoint, device),
              "scratch": load(out / "transfer-scratch" / "last.pt", device),
              "finetuned": load(out / "transfer-finetuned" / "last.pt", device)}
    restored = {name: m.denoise(noisy.to(device)).cpu() for name, m in models.items()}
    result: dict[str, Any] = {
        "image": f"skimage.data.{image}", "sigma": sigma, "steps": steps, "freeze": freeze,
        "model": config, "psnr_noisy_db": float(psnr(noisy.clamp(0, 1), clean)),
        **{f"psnr_{name}_db": float(psnr(r, clean)) for name, r in restored.items()},
        "finetune_seconds": tuned["seconds"], "scratch_seconds": scratch["seconds"],
        "loaded_tensors": len(tuned["transfer"]["report"]["loaded"]),
        "seconds": time.perf_counter() - started,
    }
    grid = out / f"transfer-{image}.png"
    save_grid(torch.stack([clean, noisy.clamp(0, 1), restored["unchanged"], restored["scratch"],
                           restored["finetuned"]]), grid, nrow=5)
    result["grid"] = str(grid)
    print(f"DnCNN adapted to sigma {sigma:g} on {image}: noisy {result['psnr_noisy_db']:.2f} dB, "
          f"unchanged {result['psnr_unchanged_db']:.2f} dB, {steps} steps from scratch "
          f"{result['psnr_scratch_db']:.2f} dB, {steps} steps fine-tuned "
          f"{result['psnr_finetuned_db']:.2f} dB ({result['seconds']:.0f} s); {grid}")
    return result
