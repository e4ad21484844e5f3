"""The fusegen checkpoint format: written atomically, read back with clear errors, with RNG states.

A checkpoint is a ``torch.save`` dictionary with ``format``/``version`` markers, a model ``kind``
and ``config`` and its state. This module knows no model: models save themselves in this format
and :func:`fusegen.load` (a layer above the models) builds a model back from it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write

FORMAT = "fusegen-checkpoint"
VERSION = 1


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` with ``torch.save`` to a temporary file in the same folder, flush it to
    disk, then rename it over ``path``: a crash leaves the old checkpoint or the new one, never
    half a file."""
    path = Path(path)
    with atomic_write(path) as f:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
    return path


def save_model(model: torch.nn.Module, path: str | os.PathLike, **extra: Any) -> Path:
    """Write ``model`` as a checkpoint (kind, config, state; atomic) that ``fusegen.load`` reads.

    ``model`` must have a ``kind`` (a registered model kind, e.g. ``"ensemble"``) and a
    ``config`` mapping (its constructor's arguments); ``extra`` entries are stored beside them.
    """
    kind, config = getattr(model, "kind", None), getattr(model, "config", None)
    if not isinstance(kind, str) or not isinstance(config, Mapping):
        raise TypeError(f"a {type(model).__name__} has no 'kind' and 'config': it cannot be saved "
                        f"as a fusegen checkpoint")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_checkpoint({"kind": kind, "config": dict(config), "model": state, **extra}, path)


def read_torch_file(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    what: str = "torch file") -> Any:
    """``torch.load(path, weights_only=True)`` (no code runs from the file), with every failure
    -- missing, empty, truncated, corrupt, a pickle of arbitrary objects -- as one ``OSError``
    that names the file."""
    path = Path(path)
    if not path.is_file():
        raise OSError(f"{path}: no such file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OSError(f"{path}: not a readable {what} ({type(exc).__name__}: {reason})") from exc


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`; ``OSError`` naming the file if it is
    missing, unreadable or not a fusegen checkpoint. Loads with ``weights_only=True``: no
    arbitrary code runs from the file."""
    path = Path(path)
    if not path.is_file():
        raise OSError(f"{path}: no such checkpoint file")
    payload = read_torch_file(path, map_location, what="checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise OSError(f"{path}: not a fusegen checkpoint")
    if payload.get("version", 0) > VERSION:
        raise OSError(f"{path}: checkpoint version {payload['version']} is newer than this fusegen "
                      f"reads ({VERSION}); upgrade fusegen")
    return payload


def rng_state() -> dict[str, Any]:
    """Every random generator the training loop draws from: torch (CPU and CUDA), numpy, random."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
