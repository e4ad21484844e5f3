"""The sub-commands of ``fusegen``; each module adds one with ``register(subparsers)``."""

from . import info

COMMANDS = [info]
