"""The sub-commands of ``fusegen``; each module adds one with ``register(subparsers)``."""

from . import active, bench, demo, denoise, ensemble, evaluate, info, inpaint, sample, train

COMMANDS = [info, demo, bench, train, sample, denoise, inpaint, evaluate, ensemble, active]
