"""The sub-commands of ``fusegen``; each module adds one with ``register(subparsers)``."""

from . import demo, denoise, evaluate, info

COMMANDS = [info, demo, denoise, evaluate]
