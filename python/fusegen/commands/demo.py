"""``fusegen demo``: the end-to-end demo on offline data (see fusegen.demo)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the end-to-end demo and write a report")
    p.add_argument("--out", default="demo-output", help="folder for the report (default: demo-output)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to run (default: cuda when available)")
    p.add_argument("--quick", action="store_true",
                   help="a few training steps per model: checks that every step runs on this "
                        "machine in well under a minute (the figures mean nothing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import demo

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is visible")
    sizes = demo.DemoSizes.quick() if args.quick else demo.DemoSizes()
    demo.run(args.out, device=device, sizes=sizes)
    return 0
