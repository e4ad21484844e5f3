"""``fusegen denoise``: denoise a PNG/JPEG image with non-local means, BM3D or a trained DnCNN;
time it, score it."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from ._common import check_writable_format, describe_image, parse_device

METHODS = ("nlm", "bm3d", "dncnn")
STAGES = ("basic", "final")

# Options that belong to some methods only: dest -> (flag, the methods it is for).
METHOD_OPTIONS = {"h": ("--h", ("nlm",)), "patch": ("--patch", ("nlm",)),
                  "search": ("--search", ("nlm", "bm3d")), "stage": ("--stage", ("bm3d",)),
                  "model": ("--model", ("dncnn",)), "self_ensemble": ("--self-ensemble", ("dncnn",))}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "denoise",
        help="denoise a PNG/JPEG image (grey or colour) with non-local means, BM3D or a DnCNN",
        description="Denoise an 8-bit grey or colour image with non-local means (default), BM3D "
        "or a trained DnCNN. Sigma and h are on the 0-255 scale. Without --h/--patch/--search, "
        "fusegen.ops.nlm_denoise's table gives NLM's from sigma; BM3D takes its default profile "
        "(fusegen.ops.bm3d.bm3d_params).",
    )
    p.add_argument("input", metavar="IN", help="image file to denoise (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="where to write the result")
    p.add_argument("--sigma", type=float, help="noise standard deviation, 0-255 scale "
                   "(default: the --add-noise level)")
    p.add_argument("--h", type=float, help="--method nlm: filtering strength, 0-255 scale "
                   "(default: table)")
    p.add_argument("--patch", type=int, help="--method nlm: odd patch size (default: table)")
    p.add_argument("--search", type=int, help="--method nlm or bm3d: odd search-window size "
                   "(default: NLM's table, BM3D's profile)")
    p.add_argument("--method", choices=METHODS, default="nlm",
                   help="denoiser (default: nlm); dncnn needs --model")
    p.add_argument("--stage", choices=STAGES,
                   help="--method bm3d: 'final' (both stages, default) or 'basic' (the hard-"
                   "thresholding estimate only: faster, a lower PSNR)")
    p.add_argument("--model", metavar="CKPT",
                   help="--method dncnn: a checkpoint from `fusegen train dncnn` (its best.pt)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="--method dncnn: average the model's results on the 8 flips and quarter "
                   "turns of IN (8x the time, usually a little more PSNR)")
    p.add_argument("--add-noise", type=float, metavar="S",
                   help="first add Gaussian noise of standard deviation S (0-255) to IN, for demos; "
                   "the noisy copy is written next to OUT and IN becomes the PSNR reference")
    p.add_argument("--seed", type=int, default=0, help="seed of the added noise (default: 0)")
    p.add_argument("--reference", metavar="FILE", help="clean image to report PSNR against")
    p.add_argument("--device", default="cpu", help="torch device to run on (default: cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import add_noise, read_image, write_image

    sigma = args.sigma if args.sigma is not None else args.add_noise
    _check_method_options(args)
    if args.method == "dncnn":
        if args.model is None:
            raise ValueError("--method dncnn needs --model CKPT (train one: fusegen train dncnn --out DIR)")
    elif sigma is None:
        raise ValueError("--sigma is required (or --add-noise, whose level it then takes)")
    if args.add_noise is not None and not (math.isfinite(args.add_noise) and args.add_noise >= 0):
        raise ValueError(f"--add-noise must be a number >= 0, got {args.add_noise}")
    device = parse_device(args.device)
    check_writable_format(args.output)
    _check_no_overwrite(args)

    # Everything is read and checked before anything is written.
    image = read_image(args.input, dtype=torch.uint8)  # (C, H, W), C = 1 or 3
    reference = read_image(args.reference, dtype=torch.uint8) if args.reference else None
    if reference is not None and reference.shape != image.shape:
        raise ValueError(f"--reference has shape {describe_image(reference)} but the input has "
                         f"{describe_image(image)}")
    model = _load_dncnn(args.model, device) if args.method == "dncnn" else None
    if args.add_noise is not None:
        reference = image if reference is None else reference
        image = add_noise(image, args.add_noise, torch.Generator().manual_seed(args.seed))
        noisy_path = noisy_copy_path(args.output)
        write_image(image, noisy_path)
        print(f"noisy copy (sigma {args.add_noise:g}, seed {args.seed}): {noisy_path}")

    x = image.to(device)
    x = x[0] if x.shape[0] == 1 else x  # grey as (H, W)
    start = time.perf_counter()
    if model is None:
        y = _classical(args, x, sigma)
    else:  # the model works on floats in [0, 1]; the file is 8-bit
        y = model.denoise((x if x.dim() == 3 else x[None]).float() / 255.0, args.self_ensemble)
        y = (y * 255.0).round().clamp(0, 255).to(torch.uint8)
        y = y if x.dim() == 3 else y[0]
    if y.is_cuda:
        torch.cuda.synchronize(y.device)
    seconds = time.perf_counter() - start
    write_image(y.cpu(), args.output)

    level = f", sigma {sigma:g}" if model is None else f", model {args.model}"
    level += f", {args.stage} stage" if args.stage else ""
    print(f"denoised {args.input} ({describe_image(image)}) with {args.method}{level}, "
          f"in {seconds:.3f} s on {device}: {args.output}")
    if reference is not None:
        print(f"PSNR: input {_psnr_8bit(image, reference):.2f} dB, "
              f"denoised {_psnr_8bit(y.cpu().reshape(image.shape), reference):.2f} dB")
    return 0


def _check_method_options(args: argparse.Namespace) -> None:
    """An option given with a method it does not apply to is an error, not silently ignored."""
    for dest, (flag, methods) in METHOD_OPTIONS.items():
        value = getattr(args, dest)
        if value is not None and value is not False and args.method not in methods:
            raise ValueError(f"{flag} is for --method {' or '.join(methods)}, got --method {args.method}")


def _classical(args: argparse.Namespace, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """NLM or BM3D on the 8-bit image (sigma on the 0-255 scale); None options: the defaults."""
    if args.method == "bm3d":
        from ..ops.bm3d import bm3d_denoise

        stage = {} if args.stage is None else {"stage": args.stage}
        return bm3d_denoise(x, sigma, search_size=args.search, **stage)
    from ..ops import nlm_denoise

    return nlm_denoise(x, sigma, h=args.h, patch_size=args.patch, search_size=args.search)


def _load_dncnn(path: str, device: torch.device):
    from ..load import load
    from ..models import RestorationModel

    model = load(path, device=device)
    if not (isinstance(model, RestorationModel) or getattr(model, "restores", False)):  # or an ensemble
        raise ValueError(f"{path}: a {type(model).__name__} is not a denoiser")
    return model


def _psnr_8bit(image: torch.Tensor, reference: torch.Tensor) -> float:
    from ..metrics import psnr

    return float(psnr(image.double(), reference.double(), data_range=255.0))


def _check_no_overwrite(args: argparse.Namespace) -> None:
    """The result (and the noisy copy) must not replace a file the command reads."""
    inputs = {Path(p).resolve(): flag for p, flag in ((args.input, "IN"), (args.reference, "--reference"),
                                                      (args.model, "--model")) if p}
    outputs = [(Path(args.output), "-o")]
    if args.add_noise is not None:
        outputs.append((noisy_copy_path(args.output), "the noisy copy"))
    for path, what in outputs:
        if path.resolve() in inputs:
            raise ValueError(f"{what} ({path}) is {inputs[path.resolve()]}: the command would overwrite "
                             f"what it reads; write the result elsewhere")


def noisy_copy_path(output: str) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}-noisy{out.suffix}")
