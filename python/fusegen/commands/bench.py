"""``fusegen bench``: fusegen's kernels against their anchors on this machine (speed-up tables)."""

from __future__ import annotations

import argparse
import json
from datetime import date

import torch

from ._common import parse_device


def register(subparsers) -> None:
    from ..bench import SUITES

    p = subparsers.add_parser(
        "bench", help="time fusegen's kernels against plain PyTorch / OpenCV on this machine",
        description="Time fusegen's kernels and the formulations they replace, in turns in the same "
        "run, and print fusegen's time and its speed-up over each (>1: fusegen is faster). "
        "Suites: conv (Conv->BN->act blocks, train and eval), weighted-sum, nlm (against OpenCV "
        "and scikit-image where installed), gan-step (a whole DCGAN training step, fused vs "
        "unfused), ema (the generator's EMA update), fuse (fusegen.nn.fuse on CycleGAN, pix2pix, "
        "ResNet, DnCNN and SRGAN networks, train and eval, against the models themselves), "
        "partial-conv (the masked convolution blocks of inpainting against their eager formulation), "
        "bm3d (fusegen's BM3D beside fusegen's NLM and the reference bm3d package where installed: "
        "time and PSNR).")
    p.add_argument("suites", nargs="*", metavar="SUITE", default=[],
                   help=f"any of {', '.join(SUITES)} (default: all)")
    p.add_argument("--device", default="cpu", help="torch device to run on (default: cpu)")
    p.add_argument("--repeats", type=int, default=10,
                   help="timed rounds per row (default: 10; ema at least 30, bm3d at most 3)")
    p.add_argument("--size", type=int, default=None,
                   help="bm3d: side of the centre crop of the 512x512 photos (default: 256; 512: "
                   "the whole photos, minutes with the reference)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--compile", action="store_true",
                   help="add torch.compile of the anchors (compiling takes minutes on CPU)")
    p.add_argument("--channels-last", action="store_true",
                   help="conv, gan-step and fuse in channels-last memory format (fusegen and "
                   "anchors alike)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._version import __version__
    from ..bench import SUITES, format_rows, machine_name, missing_anchors, rows_as_dicts
    from ..bench import run as run_suites

    device = parse_device(args.device)
    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    suites = args.suites or list(SUITES)
    if args.size is not None:
        _check_size(args.size, suites)
    where = machine_name(device)
    rows = run_suites(suites, device, args.repeats, args.compile, args.channels_last,
                      bm3d_size=args.size)
    notes = missing_anchors(suites)
    if "bm3d" in suites:
        notes.append(_bm3d_note(args.repeats))
    if args.json:
        print(json.dumps({"fusegen": __version__, "torch": torch.__version__, "device": where,
                          "date": date.today().isoformat(), "notes": notes,
                          "rows": rows_as_dicts(rows)}, indent=2))
    else:
        print(f"fusegen {__version__}, torch {torch.__version__}, {where}, {date.today()}; median "
              f"of {args.repeats} rounds, speed-up = anchor time / fusegen time")
        print(format_rows(rows))
        for note in notes:
            print(f"note: {note}")
    return 0


def _bm3d_note(repeats: int) -> str:
    from ..bench.bm3d_cases import MAX_ROUNDS

    return (f"bm3d: median of {min(repeats, MAX_ROUNDS)} rounds (a call of the reference takes "
            f"seconds); PSNR in dB against the clean photo, every result clipped to [0, 1]")


def _check_size(size: int, suites: list[str]) -> None:
    """Before any suite runs: --size goes with the bm3d suite and fits in its photos."""
    from ..bench.bm3d_cases import PHOTO_SIDE

    if "bm3d" not in suites:
        raise ValueError("--size is for the bm3d suite")
    if not 1 <= size <= PHOTO_SIDE:
        raise ValueError(f"--size must be in [1, {PHOTO_SIDE}] (the photos are {PHOTO_SIDE}x{PHOTO_SIDE}), "
                         f"got {size}")
