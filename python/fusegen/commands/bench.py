"""``fusegen bench``: fusegen's kernels against their anchors on this machine (speed-up tables)."""

from __future__ import annotations

import argparse
import json
import platform

import torch

from ._common import parse_device


def register(subparsers) -> None:
    from ..bench import SUITES

    p = subparsers.add_parser(
        "bench", help="time fusegen's kernels against plain PyTorch / OpenCV on this machine",
        description="Time fusegen's kernels and the formulations they replace, in turns in the same "
        "run, and print fusegen's time and its speed-up over each (>1: fusegen is faster). "
        "Suites: conv (Conv->BN->act blocks, train and eval), weighted-sum, nlm.")
    p.add_argument("suites", nargs="*", metavar="SUITE", default=[],
                   help=f"any of {', '.join(SUITES)} (default: all)")
    p.add_argument("--device", default="cpu", help="torch device to run on (default: cpu)")
    p.add_argument("--repeats", type=int, default=10, help="timed rounds per row (default: 10)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--compile", action="store_true",
                   help="add torch.compile of the anchors (compiling takes minutes on CPU)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..bench import SUITES, format_rows, rows_as_dicts
    from ..bench import run as run_suites

    device = parse_device(args.device)
    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    rows = run_suites(args.suites or SUITES, device, args.repeats, args.compile)
    if args.json:
        print(json.dumps({"fusegen": __version__, "torch": torch.__version__, "device": where,
                          "rows": rows_as_dicts(rows)}, indent=2))
    else:
        print(f"fusegen {__version__}, torch {torch.__version__}, {where}; median of "
              f"{args.repeats} rounds, speed-up = anchor time / fusegen time")
        print(format_rows(rows))
    return 0
