"""The sub-commands of ``fusegen``; each module adds one with ``register(subparsers)``."""

from . import active, demo, denoise, ensemble, evaluate, info, sample, train

COMMANDS = [info, demo, train, sample, denoise, evaluate, ensemble, active]
