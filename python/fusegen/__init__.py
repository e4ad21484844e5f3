"""fusegen: fused PyTorch operators and models for image generation and restoration.

The compiled core registers its operators under ``torch.ops.fusegen``; this package wraps them
in checked functions (:mod:`fusegen.ops`) and modules (:mod:`fusegen.nn`). Run ``fusegen info``
to see how the installed build was compiled.
"""

import torch  # noqa: F401  (must be loaded before the extension: it provides libtorch)

from ._torch_check import check_torch_version

check_torch_version()  # a clear message, not a loader error, after a torch upgrade
from . import _C  # noqa: E402,F401  (registers torch.ops.fusegen.*)
from . import nn, ops
from ._version import __version__
from .info import build_info, info
from .load import load

__all__ = ["__version__", "build_info", "info", "load", "nn", "ops"]
