"""``fusegen inpaint``: fill the missing pixels of an image file with a trained inpainting model,
or write a random hole mask to try it with."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ._common import check_writable_format, describe_image, parse_device

MASK_KINDS = ("strokes", "pixels", "boxes")  # fusegen.data.MASK_KINDS
LOSSY = (".jpg", ".jpeg", ".jpe", ".jfif", ".webp")  # formats that would move a mask's edges


def _size(text: str) -> tuple[int, int]:
    """``256`` or ``WxH`` -> (height, width)."""
    try:
        width, _, height = text.lower().partition("x")
        w, h = int(width), int(height or width)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 256 or 320x240, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"the size must be positive, got {text!r}")
    return h, w


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "inpaint",
        help="fill the missing pixels of an image with a trained inpainting model",
        description="Fill the holes of an 8-bit grey or colour image with a model from `fusegen "
        "train inpaint`: the mask image marks them (non-zero = missing, black = known); known "
        "pixels are written back unchanged. --mask-out writes a random hole mask instead (or "
        "first, to try the model on IMAGE: with -o and --model it then fills IMAGE's holes, "
        "writes the damaged copy next to OUT and prints the PSNR against IMAGE).",
    )
    p.add_argument("image", metavar="IMAGE", nargs="?",
                   help="image file to fill (PNG, JPEG, ...); with --mask-out alone, the size to draw at")
    p.add_argument("--mask", metavar="MASK", help="the holes: an image of IMAGE's size, non-zero where "
                   "pixels are missing")
    p.add_argument("-o", "--output", metavar="OUT", help="where to write the filled image")
    p.add_argument("--model", metavar="CKPT", help="a checkpoint of `fusegen train inpaint` (its best.pt)")
    p.add_argument("--mask-out", metavar="PATH", help="write a random hole mask here (PNG)")
    p.add_argument("--mask-kind", choices=["mixed", *MASK_KINDS], default="mixed",
                   help="--mask-out: free-form strokes, scattered missing pixels, boxes, or mixed "
                   "(default: one of the three at random)")
    p.add_argument("--seed", type=int, default=0, help="--mask-out: seed of the random mask (default: 0)")
    p.add_argument("--size", type=_size, metavar="WxH",
                   help="--mask-out without IMAGE: the mask's size, 256 or WxH (default: 256)")
    p.add_argument("--reference", metavar="FILE", help="the complete image, to report PSNR against")
    p.add_argument("--device", default="cpu", help="torch device to run on (default: cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import random_masks, read_image, read_mask, write_image, write_mask

    _check_arguments(args)
    device = parse_device(args.device)
    for path in (args.output, args.mask_out):
        if path is not None:
            check_writable_format(path)
    if args.mask_out and Path(args.mask_out).suffix.lower() in LOSSY:
        raise ValueError(f"--mask-out {args.mask_out}: a mask must be saved losslessly (PNG), not as "
                         f"{Path(args.mask_out).suffix}")
    _check_no_overwrite(args)

    # Everything is read and checked before anything is written.
    image = read_image(args.image, dtype=torch.uint8) if args.image else None  # (C, H, W)
    size = tuple(image.shape[-2:]) if image is not None else args.size or (256, 256)
    reference = read_image(args.reference, dtype=torch.uint8) if args.reference else None
    if reference is not None and reference.shape != image.shape:
        raise ValueError(f"--reference is {describe_image(reference)} but IMAGE is {describe_image(image)}")
    model = _load_inpainter(args.model, device) if args.model else None
    if model is not None and model.channels != image.shape[0]:
        kind = "grey" if model.channels == 1 else "colour"
        raise ValueError(f"{args.model} fills {kind} images and {args.image} is {describe_image(image)}; "
                         f"train a model with --channels {image.shape[0]}")
    if args.mask_out:
        generator = torch.Generator().manual_seed(args.seed)
        missing = random_masks(1, size[0], size[1], args.mask_kind, generator=generator)[0]
        write_mask(missing, args.mask_out)
        print(f"wrote a {args.mask_kind} mask of {size[1]}x{size[0]} pixels (seed {args.seed}, "
              f"{missing.float().mean():.1%} missing): {args.mask_out}")
        if model is None:
            return 0
        reference = image if reference is None else reference
        damaged_path = damaged_copy_path(args.output)
        write_image(image.masked_fill(missing, 255), damaged_path)
        print(f"damaged copy (holes in white): {damaged_path}")
    else:
        missing = read_mask(args.mask, size=size)  # a ValueError giving both sizes when they differ

    x = image.float().div(255.0).to(device)
    start = time.perf_counter()
    filled = model.inpaint(x, missing.to(device))
    if filled.is_cuda:
        torch.cuda.synchronize(filled.device)
    seconds = time.perf_counter() - start
    result = (filled.cpu() * 255.0).round().clamp(0, 255).to(torch.uint8)
    write_image(result, args.output)
    print(f"filled {missing.float().mean():.1%} of {args.image} ({describe_image(image)}) with {args.model} "
          f"in {seconds:.3f} s on {device}: {args.output}")
    if reference is not None:
        print(f"PSNR: {_psnr_8bit(result, reference):.2f} dB over the image, "
              f"{_psnr_8bit(result, reference, missing):.2f} dB over the missing pixels")
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    if args.mask is not None and args.mask_out is not None:
        raise ValueError("--mask reads the holes and --mask-out draws them: give one of the two")
    if args.mask_out is None:
        if args.image is None:
            raise ValueError("IMAGE is required (or --mask-out PATH to write a random mask)")
        if args.mask is None:
            raise ValueError("--mask MASK is required: an image of IMAGE's size, non-zero where pixels "
                             "are missing (--mask-out PATH writes a random one)")
    elif args.image is not None and args.size is not None:
        raise ValueError("--size is for --mask-out without IMAGE (with IMAGE the mask takes its size)")
    filling = args.mask is not None or args.output is not None or args.model is not None
    if filling:
        if args.output is None:
            raise ValueError("-o OUT is required: where to write the filled image")
        if args.model is None:
            raise ValueError("--model CKPT is required (train one: fusegen train inpaint --out DIR)")
        if args.image is None:
            raise ValueError("IMAGE is required to fill")
    elif args.reference is not None:
        raise ValueError("--reference is for filling an image (-o and --model)")


def _load_inpainter(path: str, device: torch.device):
    from ..load import load
    from ..models import InpaintingUNet

    model = load(path, device=device)
    if not isinstance(model, InpaintingUNet):
        raise ValueError(f"{path}: a {type(model).__name__} is not an inpainting model "
                         f"(train one: fusegen train inpaint --out DIR)")
    return model


def _psnr_8bit(image: torch.Tensor, reference: torch.Tensor, region: torch.Tensor | None = None) -> float:
    from ..metrics import psnr

    if region is not None and not bool(region.any()):
        return float("inf")
    return float(psnr(image.double(), reference.double(), data_range=255.0, region=region))


def _check_no_overwrite(args: argparse.Namespace) -> None:
    """No output may replace a file the command reads, nor another output."""
    inputs = {Path(p).resolve(): flag for p, flag in ((args.image, "IMAGE"), (args.mask, "--mask"),
                                                      (args.reference, "--reference"),
                                                      (args.model, "--model")) if p}
    outputs = [(Path(p), flag) for p, flag in ((args.output, "-o"), (args.mask_out, "--mask-out")) if p]
    if args.mask_out and args.output:
        outputs.append((damaged_copy_path(args.output), "the damaged copy"))
    seen: dict[Path, str] = {}
    for path, what in outputs:
        where = path.resolve()
        if where in inputs:
            raise ValueError(f"{what} ({path}) is {inputs[where]}: the command would overwrite what it "
                             f"reads; write it elsewhere")
        if where in seen:
            raise ValueError(f"{what} and {seen[where]} are the same file ({path})")
        seen[where] = what


def damaged_copy_path(output: str) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}-damaged{out.suffix}")
