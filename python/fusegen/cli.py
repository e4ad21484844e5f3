"""The ``fusegen`` command line.

Each command lives in its own module under :mod:`fusegen.commands` and exposes
``register(subparsers)``, which adds its sub-parser and sets ``func`` to a function that takes
the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys

from .commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fusegen",
        description="Fused PyTorch kernels and models for image generation and restoration.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fusegen`` console script; returns the process exit code.

    Bad arguments, unreadable files and a diverged training run end in one clear line on stderr
    and exit code 2, not a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError, FloatingPointError) as exc:  # FloatingPointError: diverged
        print(f"fusegen {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
