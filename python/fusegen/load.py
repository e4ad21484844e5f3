"""``fusegen.load``: a trained model back from its checkpoint, ready to use."""

from __future__ import annotations

import os

import torch
from torch import nn


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The model saved in checkpoint ``path`` (``last.pt`` or ``best.pt`` of ``fusegen train``),
    on ``device``, in eval mode.

    Generative models (``DCGAN`` -- with its generator's EMA weights --, ``ConvVAE``) have
    ``.sample(n, labels=None, generator=None)`` returning (n, C, H, W) images in [0, 1];
    restoration models (``DnCNN``) have ``.denoise(x)``; an ``InpaintingUNet`` has
    ``.inpaint(image, mask)``. Raises ``OSError`` for a missing or unreadable file.
    """
    # Imported here so that ``import fusegen`` stays light (no models, trainer or tqdm).
    from .models.registry import build_model
    from .checkpoint import load_checkpoint

    payload = load_checkpoint(path)
    try:
        model = build_model(payload["kind"], dict(payload["config"]))
        model.load_state_dict(payload["model"])
    except (KeyError, RuntimeError) as exc:
        raise OSError(f"{path}: checkpoint does not match its model ({exc})") from exc
    return model.to(device).eval()
