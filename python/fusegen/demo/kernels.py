"""The demo's kernel steps: what the build is, the fused weighted sum, NLM denoising, and a
DCGAN training step with fused blocks against the same model in eager PyTorch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..bench import gan_step_rows
from ..data import add_noise, write_image
from ..info import format_info, info
from ..metrics import psnr
from ..ops import nlm_denoise, reference, weighted_sum
from ..timing import median_seconds
from .sizes import DemoSizes


def _median_ms(fn: Callable[[], Any], repeats: int = 15) -> float:
    return median_seconds(fn, repeats) * 1e3


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

    clean = torch.from_numpy(data.camera())
    sigma = 25.0
    noisy = add_noise(clean, sigma, torch.Generator().manual_seed(0))  # 8-bit, like a capture
    image = noisy.to(device)
    restored = nlm_denoise(image, sigma)  # warm-up, then timed
    start = time.perf_counter()
    restored = nlm_denoise(image, sigma)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    restored = restored.cpu()
    write_image(noisy, out / "nlm-noisy.png")
    write_image(restored, out / "nlm-denoised.png")
    result = {
        "image": "skimage.data.camera (512x512 grey)",
        "sigma": sigma,
        "psnr_noisy_db": float(psnr(noisy.double(), clean.double(), data_range=255.0)),
        "psnr_denoised_db": float(psnr(restored.double(), clean.double(), data_range=255.0)),
        "seconds": seconds,
    }
    print(
        f"NLM on camera (512x512, sigma {sigma:g}): PSNR {result['psnr_noisy_db']:.2f} dB -> "
        f"{result['psnr_denoised_db']:.2f} dB in {seconds * 1e3:.0f} ms on {device}; "
        f"images in {out}/nlm-*.png"
    )
    return result



def step_fused_vs_eager(device: str, sizes: DemoSizes) -> dict[str, Any]:
    """Time one DCGAN training step with fused blocks and with the same model in eager PyTorch
    (``fusegen bench gan-step`` at the demo's sizes)."""
    size, batch = sizes.speed_size, sizes.speed_batch
    row, = gan_step_rows(torch.device(device), repeats=5, image_size=size, width=sizes.speed_width,
                         batch=batch)
    times = {name: seconds * 1e3 for name, seconds in row.seconds.items()}
    ratio = times["eager"] / times["fusegen"]
    print(f"DCGAN {size}px training step (batch {batch}): fusegen {times['fusegen']:.0f} ms, eager "
          f"{times['eager']:.0f} ms: fusegen is {ratio:.2f}x the speed of eager")
    return {"fusegen_ms": times["fusegen"], "eager_ms": times["eager"], "speedup": ratio}
