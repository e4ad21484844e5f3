"""Is the installed torch the one fusegen's compiled core was built against?

A C++ extension links against one torch's C++ ABI. Under another torch (after a torch upgrade,
or a ``pip install`` that built fusegen in an isolated environment against a different torch)
loading it fails in the dynamic loader with an undefined symbol, or worse. This check runs
before the extension is loaded and names both versions and the command that rebuilds.
"""

from __future__ import annotations

import torch

REBUILD = "pip install --no-build-isolation --force-reinstall --no-deps ."


def release(version: str) -> tuple[int, ...]:
    """(major, minor) of a torch version string such as "2.13.0+cpu"."""
    parts = version.split("+")[0].split(".")
    return tuple(int("".join(c for c in p if c.isdigit()) or 0) for p in parts[:2])


def check_torch_version(installed: str | None = None, built_for: str | None = None) -> None:
    """Raise ``ImportError`` when the installed torch's major.minor differs from the build's.

    Without arguments: torch's version, and the build's from ``fusegen._build_config`` (written
    by the build; absent in a source tree that was not built, where nothing is checked).
    """
    if built_for is None:
        try:
            from ._build_config import TORCH_VERSION as built_for
        except ImportError:
            return
    installed = torch.__version__ if installed is None else installed
    if release(installed) != release(built_for):
        raise ImportError(
            f"fusegen was built for torch {built_for} but torch {installed} is installed; its "
            f"compiled kernels only load under the torch they were built with. Rebuild it from "
            f"fusegen's source folder with: {REBUILD}")
