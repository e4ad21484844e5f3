"""The sub-commands of ``fusegen``; each module adds one with ``register(subparsers)``."""

from . import demo, denoise, info, sample, train

COMMANDS = [info, demo, denoise, train, sample]
