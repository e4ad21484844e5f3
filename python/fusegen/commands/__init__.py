"""The sub-commands of ``fusegen``; each module adds one with ``register(subparsers)``."""

from . import denoise, info

COMMANDS = [info, denoise]
