"""Time a full DCGAN training step and the EMA update: fused blocks vs eager PyTorch vs torch.compile.

    python benchmarks/bench_models.py [--image-size 32] [--width 64] [--batch 64] [--no-compile]
                                      [--channels-last]

A training step is what the trainer runs: a discriminator update on a real and a fake batch, a
generator update, and the EMA of the generator (Adam, conditional DCGAN on 10 classes). "eager" is
the same model with every fused block replaced by nn.Sequential(conv, norm, act)
(fusegen.models.unfuse); "torch.compile" compiles that eager generator and discriminator. Each
figure is the median of timed steps after warm-up, the variants timed in turns; ratios > 1 mean
fusegen is faster.
"""

from __future__ import annotations

import argparse
import json

import torch

from fusegen.models import DCGAN, unfuse
from fusegen.train import EMA, GANTask
from fusegen.timing import interleaved_median_seconds
from fusegen.timing import median_seconds as timing_median_seconds
from fusegen.train.distributed import Distributed


def median_seconds(fn, repeats: int, warmup: int = 3) -> float:
    return timing_median_seconds(fn, repeats, warmup)


def gan_step_times(image_size: int = 32, width: int = 64, batch: int = 64, repeats: int = 10,
                   with_compile: bool = True, channels_last: bool = False) -> dict[str, float]:
    """Seconds per training step for 'fusegen', 'eager' and (optionally) 'torch.compile';
    ``channels_last``: every variant's weights and images in channels-last memory format."""
    torch.manual_seed(0)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    fused = DCGAN(image_size=image_size, width=width, num_classes=10)
    variants = {"fusegen": fused, "eager": unfuse(fused)}
    if with_compile:
        variants["torch.compile"] = unfuse(fused)
    images = torch.rand(batch, 1, image_size, image_size).contiguous(memory_format=layout)
    labels = torch.randint(0, 10, (batch,))
    steps = {}
    for name, model in variants.items():
        model.to(memory_format=layout)
        task = GANTask(model)  # the trainer's default EMA (weighted_sum) in every variant
        task.setup(torch.device("cpu"), Distributed(), amp=False)
        if name == "torch.compile":
            task.G, task.D = torch.compile(task.G), torch.compile(task.D)
        steps[name] = lambda task=task: task.step((images, labels))
    return interleaved_median_seconds(steps, repeats, warmup=3)


def ema_update_times(image_size: int = 32, width: int = 64, repeats: int = 30) -> dict[str, float]:
    """Seconds per EMA update of a DCGAN generator, for each EMA method."""
    generator = DCGAN(image_size=image_size, width=width, num_classes=10).generator
    out = {}
    for method in ("weighted_sum", "foreach"):
        ema = EMA(generator, 0.999, method)
        out[method] = median_seconds(lambda: ema.update(generator), repeats)
    out["parameters"] = sum(p.numel() for p in generator.parameters())
    out["tensors"] = len(list(generator.parameters()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=32, choices=[16, 32, 64])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--channels-last", action="store_true",
                        help="weights and images in channels-last memory format (every variant)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    steps = gan_step_times(args.image_size, args.width, args.batch, args.repeats, not args.no_compile,
                           args.channels_last)
    ema = ema_update_times(args.image_size, args.width)
    if args.json:
        print(json.dumps({"gan_step_seconds": steps, "ema_update_seconds": ema}, indent=2))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; conditional DCGAN "
          f"{args.image_size}px, width {args.width}, batch {args.batch}")
    print(f"{'training step':<16} {'ms':>9} {'fusegen speed-up':>17}")
    for name, seconds in steps.items():
        print(f"{name:<16} {seconds * 1e3:9.1f} {seconds / steps['fusegen']:16.2f}x")
    print(f"\nEMA update of the generator ({ema['tensors']} tensors, {ema['parameters']:,} values):")
    for method in ("weighted_sum", "foreach"):
        print(f"  {method:<13} {ema[method] * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
