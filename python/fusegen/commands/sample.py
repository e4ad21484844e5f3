"""``fusegen sample CKPT -n N -o grid.png``: images from a trained generative model."""

from __future__ import annotations

import argparse
import math

MAX_SAMPLES = 10_000  # one grid image: 10,000 tiles of 64 px make a 6,400 px square


def _labels(text: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"labels must be integers like 0,1,2, got {text!r}") from None


def register(subparsers) -> None:
    p = subparsers.add_parser("sample", help="write a grid of samples from a trained GAN or VAE")
    p.add_argument("checkpoint", help="a checkpoint written by fusegen train (last.pt or best.pt)")
    p.add_argument("-n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("-o", "--output", required=True, help="the grid image to write (e.g. grid.png)")
    p.add_argument("--labels", type=_labels, default=None,
                   help="conditional models: one label for all, or n comma-separated labels, or "
                        "fewer that repeat (e.g. 0,1,2,...,9)")
    p.add_argument("--nrow", type=int, default=None, help="images per row (default: square grid)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..data import save_grid
    from ..load import load
    from ..train import resolve_device

    if not 1 <= args.n <= MAX_SAMPLES:
        raise ValueError(f"-n must be between 1 and {MAX_SAMPLES} (one grid image), got {args.n}")
    if args.nrow is not None and args.nrow < 1:
        raise ValueError(f"--nrow must be >= 1, got {args.nrow}")
    model = load(args.checkpoint, device=resolve_device(args.device))
    if not hasattr(model, "sample"):
        raise ValueError(f"{args.checkpoint}: a {type(model).__name__} does not generate images; "
                         "use fusegen denoise")
    labels = args.labels
    if labels is not None and len(labels) not in (1, args.n):
        labels = (labels * math.ceil(args.n / len(labels)))[:args.n]  # repeat a label pattern
    generator = torch.Generator().manual_seed(args.seed)
    images = model.sample(args.n, labels=labels, generator=generator)
    save_grid(images, args.output, args.nrow)
    print(f"wrote {args.n} samples to {args.output}")
    return 0
