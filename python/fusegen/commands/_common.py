"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import torch


def parse_device(name: str) -> torch.device:
    """``--device NAME`` as a torch.device; ValueError (one line from the CLI) if unusable."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available")
    return device
