"""The end-to-end demo behind ``fusegen demo`` / ``make demo``.

Each step is a function that prints what it does and returns a dictionary for the report,
which is written as JSON to the output folder. It runs on the CPU in seconds, on data the
package can reach offline.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .info import format_info, info
from .ops import nlm_denoise, reference, weighted_sum


def _median_ms(fn: Callable[[], Any], repeats: int = 15) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e3


def step_info() -> dict[str, Any]:
    facts = info()
    print(format_info(facts))
    return facts


def step_weighted_sum(device: str) -> dict[str, Any]:
    """Blend K generator outputs, per model and per sample, and time it against torch.stack."""
    K, shape = 8, (64, 3, 64, 64)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(shape, generator=g).to(device) for _ in range(K)]
    per_model = torch.softmax(torch.randn(K, generator=g), 0).to(device)
    choice = torch.randint(0, K, (shape[0],), generator=g)
    per_sample = torch.nn.functional.one_hot(choice, K).t().float().to(device)  # a mixture draw

    error = max(
        (weighted_sum(xs, w) - reference.weighted_sum(xs, w)).abs().max().item()
        for w in (per_model, per_sample)
    )
    fused_ms = _median_ms(lambda: weighted_sum(xs, per_model))
    stack_ms = _median_ms(lambda: torch.stack(xs).mul(per_model.view(K, 1, 1, 1, 1)).sum(0))
    print(
        f"weighted_sum of {K} tensors of shape {shape} on {device}: fusegen {fused_ms:.2f} ms, "
        f"torch.stack formulation {stack_ms:.2f} ms ({stack_ms / fused_ms:.1f}x); "
        f"max difference from the reference {error:.2e}"
    )
    return {
        "inputs": K,
        "shape": list(shape),
        "device": device,
        "fusegen_ms": fused_ms,
        "stack_ms": stack_ms,
        "speedup": stack_ms / fused_ms,
        "max_abs_error": error,
    }


def step_nlm(out: Path, device: str) -> dict[str, Any]:
    """Denoise scikit-image's camera photo at sigma = 25 with non-local means, given sigma only."""
    from skimage import data  # the data extra: scikit-image ships the photo, no download

    from .commands.denoise import add_noise, psnr, write_image

    clean = data.camera()
    sigma = 25.0
    noisy = add_noise(clean, sigma, seed=0)
    image = torch.from_numpy(noisy).to(device)
    restored = nlm_denoise(image, sigma)  # warm-up, then timed
    start = time.perf_counter()
    restored = nlm_denoise(image, sigma)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    restored_np = restored.cpu().numpy()
    write_image(out / "nlm-noisy.png", noisy)
    write_image(out / "nlm-denoised.png", restored_np)
    result = {
        "image": "skimage.data.camera (512x512 grey)",
        "sigma": sigma,
        "psnr_noisy_db": psnr(noisy, clean),
        "psnr_denoised_db": psnr(restored_np, clean),
        "seconds": seconds,
    }
    print(
        f"NLM on camera (512x512, sigma {sigma:g}): PSNR {result['psnr_noisy_db']:.2f} dB -> "
        f"{result['psnr_denoised_db']:.2f} dB in {seconds * 1e3:.0f} ms on {device}; "
        f"images in {out}/nlm-*.png"
    )
    return result


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON so that a crash never leaves a half-written file: temp file, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def run(out_dir: str | os.PathLike, device: str = "cpu") -> Path:
    """Run every demo step and write ``report.json`` into ``out_dir``; returns its path."""
    out = Path(out_dir)
    report: dict[str, Any] = {}
    print("== fusegen info")
    report["info"] = step_info()
    print("\n== fused weighted sum (ensembles, model averaging, EMA)")
    report["weighted_sum"] = step_weighted_sum(device)
    print("\n== non-local means denoising")
    out.mkdir(parents=True, exist_ok=True)
    report["nlm"] = step_nlm(out, device)
    path = out / "report.json"
    write_json_atomically(path, report)
    print(f"\nreport written to {path}")
    return path
