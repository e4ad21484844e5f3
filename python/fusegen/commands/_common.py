"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import torch


def parse_device(name: str) -> torch.device:
    """``--device NAME`` as a torch.device; ValueError (one line from the CLI) if unusable."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device: {exc}") from None
    if device.type not in ("cpu", "cuda"):  # fusegen's kernels run on these two
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: there are {torch.cuda.device_count()} CUDA GPUs")
    return device


def check_writable_format(path: str) -> None:
    """Fail before the work, not after it, when Pillow cannot write the file's format."""
    from pathlib import Path

    from PIL import Image

    suffix = Path(path).suffix.lower()
    if suffix not in Image.registered_extensions():
        raise ValueError(f"cannot write {path!r}: unknown image file extension {suffix!r}")


def describe_image(image: torch.Tensor) -> str:
    """``image`` (C, H, W) as "WxH grey" or "WxH colour"."""
    kind = "grey" if image.shape[0] == 1 else "colour"
    return f"{image.shape[2]}x{image.shape[1]} {kind}"
