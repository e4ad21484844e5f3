"""Model kinds by name, so that a checkpoint's ``kind`` + ``config`` rebuild its model."""

from __future__ import annotations

from typing import Any

from torch import nn

from .bm3d_denoiser import BM3DDenoiser
from .dcgan import DCGAN
from .dncnn import DnCNN
from .ensemble import Ensemble
from .inpaint import InpaintingUNet
from .nlm_denoiser import NLMDenoiser
from .vae import ConvVAE

MODEL_KINDS: dict[str, type[nn.Module]] = {"dcgan": DCGAN, "vae": ConvVAE, "dncnn": DnCNN,
                                           "nlm": NLMDenoiser, "bm3d": BM3DDenoiser,
                                           "ensemble": Ensemble,
                                           "inpaint": InpaintingUNet}


def build_model(kind: str, config: dict[str, Any]) -> nn.Module:
    """A fresh model of ``kind`` ("dcgan", "vae", "dncnn", "nlm", "bm3d",
    "ensemble", "inpaint") built with ``config``."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(MODEL_KINDS)}")
    try:
        return MODEL_KINDS[kind](**config)
    except TypeError as exc:
        raise ValueError(f"bad configuration for a {kind} model: {exc}") from exc
