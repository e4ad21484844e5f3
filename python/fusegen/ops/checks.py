"""Argument checks shared by the Python side of fusegen's operators.

The compiled operators check their arguments themselves; these Python twins run where the
compiled code does not (fake tensors under ``torch.compile``) and on Python-only arguments.
Messages name the argument, what was expected and what came.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .. import _C

FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
CUDA_KERNELS = bool(_C.build_info()["cuda"])


def check_device_built(t: torch.Tensor, name: str) -> None:
    """A CUDA tensor needs a build with CUDA kernels: say so, rather than the dispatcher's
    "could not run ... with arguments from the 'CUDA' backend"."""
    if t.device.type == "cuda" and not CUDA_KERNELS:
        raise RuntimeError(f"{name} is on {t.device}, but this fusegen was built without CUDA kernels "
                           f"(fusegen.build_info()['cuda'] is False): move it to the CPU, or rebuild "
                           f"with a CUDA build of torch and nvcc (FUSEGEN_CUDA=on)")


IMAGE_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8)


def check_image(image: object) -> torch.Tensor:
    """An image batch for the denoisers: a tensor of shape (H, W), (C, H, W) or (N, C, H, W),
    float or uint8, on a device this build has kernels for; returned."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if not 2 <= image.dim() <= 4:
        raise ValueError(
            f"image must have shape (H, W), (C, H, W) or (N, C, H, W), got {image.dim()} "
            f"dimensions {tuple(image.shape)}"
        )
    if image.dtype not in IMAGE_DTYPES:
        raise TypeError(
            "image must have dtype float32, float64, float16, bfloat16 or uint8, "
            f"got {image.dtype}"
        )
    check_device_built(image, "image")
    return image


def check_float_tensor(t: object, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have dtype float32, float64, float16 or bfloat16, got {t.dtype}"
        )
    check_device_built(t, name)
    return t


def check_same_device(input: torch.Tensor, **others: torch.Tensor | None) -> None:
    """Every tensor of ``others`` (by argument name; None skipped) on ``input``'s device, as
    ``F.batch_norm`` demands. For the fake kernels: a meta tensor among CPU ones dispatches to
    them (the compiled fronts check CPU against CUDA), and must not yield uninitialised memory."""
    for name, t in others.items():
        if t is not None and t.device != input.device:
            raise ValueError(f"{name} must be on the input's device ({input.device}), got {t.device}")


def tensor_sequence(value: object, name: str) -> list[torch.Tensor]:
    """A list of tensors from a sequence of tensors or from one tensor stacked along dim 0."""
    if isinstance(value, torch.Tensor):
        if value.dim() == 0:
            raise ValueError(f"{name} as one tensor must be stacked as (K, ...), got a 0-d tensor")
        return list(value.unbind(0))
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            f"{name} must be a sequence of tensors or one stacked tensor, got {type(value).__name__}"
        )
    items = list(value)
    for k, item in enumerate(items):
        if not isinstance(item, torch.Tensor):
            raise TypeError(f"{name}[{k}] must be a torch.Tensor, got {type(item).__name__}")
    return items


def check_number(value: object, name: str, *, minimum: float, allow_minimum: bool = True) -> None:
    """A finite int or float ``>= minimum`` (``> minimum`` without ``allow_minimum``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    ok = value >= minimum if allow_minimum else value > minimum
    if not (math.isfinite(value) and ok):
        relation = ">=" if allow_minimum else ">"
        raise ValueError(f"{name} must be a finite number {relation} {minimum:g}, got {value}")


def check_window(value: object, name: str) -> int:
    """A window size: a positive odd int, returned."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0 or value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd number, got {value}")
    return value
