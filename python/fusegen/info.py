"""What this installation of fusegen is: versions, compiled kernels, devices, operators."""

from __future__ import annotations

from typing import Any

import torch

from . import _C


def build_info() -> dict[str, Any]:
    """How the compiled extension was built.

    Keys: ``version``, ``torch_version`` (the torch it was compiled against), ``cuda`` (whether
    CUDA kernels were compiled), ``cuda_version``, ``cuda_archs``, ``openmp``, ``compiler``.
    """
    return dict(_C.build_info())


def registered_operators() -> list[str]:
    """Names of the operators fusegen registered with PyTorch's dispatcher, e.g. ``fusegen::weighted_sum``."""
    names = torch._C._dispatch_get_all_op_names()
    return sorted(n for n in names if n.startswith("fusegen::"))


def info() -> dict[str, Any]:
    """Everything ``fusegen info`` prints, as a dictionary."""
    built = build_info()
    gpu_visible = torch.cuda.is_available()
    return {
        "fusegen": built["version"],
        "torch": torch.__version__,
        "torch_built_against": built["torch_version"],
        "cuda_kernels": built["cuda"],
        "cuda_kernels_version": built["cuda_version"],
        "cuda_archs": built["cuda_archs"],
        "gpu": torch.cuda.get_device_name(0) if gpu_visible else None,
        "gpu_count": torch.cuda.device_count() if gpu_visible else 0,
        "cpu_threads": torch.get_num_threads(),
        "cpu_isa": _C.cpu_isa(),
        "openmp": built["openmp"],
        "compiler": built["compiler"],
        "operators": registered_operators(),
    }


def format_info(facts: dict[str, Any]) -> str:
    """A human-readable rendering of :func:`info`."""
    width = max(len(k) for k in facts)
    lines = []
    for key, value in facts.items():
        if isinstance(value, list):
            value = ", ".join(value) if value else "(none)"
        elif value is None or value == "":
            value = "-"
        lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)
