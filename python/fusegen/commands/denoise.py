"""``fusegen denoise``: denoise a PNG/JPEG image with non-local means or a trained DnCNN; time it,
score it."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from ._common import parse_device

METHODS = ("nlm", "dncnn")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "denoise",
        help="denoise a PNG/JPEG image (grey or colour) with non-local means or a DnCNN",
        description="Denoise an 8-bit grey or colour image. Sigma and h are on the 0-255 scale. "
        "Without --h/--patch/--search, fusegen.ops.nlm_denoise's table gives them from sigma.",
    )
    p.add_argument("input", metavar="IN", help="image file to denoise (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="where to write the result")
    p.add_argument("--sigma", type=float, help="noise standard deviation, 0-255 scale "
                   "(default: the --add-noise level)")
    p.add_argument("--h", type=float, help="filtering strength, 0-255 scale (default: table)")
    p.add_argument("--patch", type=int, help="odd patch size (default: table)")
    p.add_argument("--search", type=int, help="odd search-window size (default: table)")
    p.add_argument("--method", choices=METHODS, default="nlm",
                   help="denoiser (default: nlm); dncnn needs --model")
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
    from ..ops import nlm_denoise

    sigma = args.sigma if args.sigma is not None else args.add_noise
    if args.method == "dncnn":
        if args.model is None:
            raise ValueError("--method dncnn needs --model CKPT (train one: fusegen train dncnn --out DIR)")
    elif args.model is not None:
        raise ValueError("--model is for --method dncnn")
    elif args.self_ensemble:
        raise ValueError("--self-ensemble is for --method dncnn")
    elif sigma is None:
        raise ValueError("--sigma is required (or --add-noise, whose level it then takes)")
    if args.add_noise is not None and not (math.isfinite(args.add_noise) and args.add_noise >= 0):
        raise ValueError(f"--add-noise must be a number >= 0, got {args.add_noise}")
    device = parse_device(args.device)
    _check_writable_format(args.output)

    image = read_image(args.input)
    reference = read_image(args.reference) if args.reference else None
    if args.add_noise is not None:
        reference = image if reference is None else reference
        image = add_noise(image, args.add_noise, args.seed)
        noisy_path = noisy_copy_path(args.output)
        write_image(noisy_path, image)
        print(f"noisy copy (sigma {args.add_noise:g}, seed {args.seed}): {noisy_path}")
    if reference is not None and reference.shape != image.shape:
        raise ValueError(f"--reference has shape {_describe(reference)} but the input has "
                         f"{_describe(image)}")

    x = torch.from_numpy(image).to(device)
    x = x.permute(2, 0, 1) if x.dim() == 3 else x  # (H, W, C) -> (C, H, W)
    model = _load_dncnn(args.model, device) if args.method == "dncnn" else None
    start = time.perf_counter()
    if model is None:
        y = nlm_denoise(x, sigma, h=args.h, patch_size=args.patch, search_size=args.search)
    else:  # the model works on floats in [0, 1]; the file is 8-bit
        y = model.denoise((x if x.dim() == 3 else x[None]).float() / 255.0, args.self_ensemble)
        y = (y * 255.0).round().clamp(0, 255).to(torch.uint8)
        y = y if x.dim() == 3 else y[0]
    if y.is_cuda:
        torch.cuda.synchronize(y.device)
    seconds = time.perf_counter() - start
    y = y.permute(1, 2, 0) if y.dim() == 3 else y
    result = y.cpu().numpy()
    write_image(args.output, result)

    level = f", sigma {sigma:g}" if model is None else f", model {args.model}"
    print(f"denoised {args.input} ({_describe(image)}) with {args.method}{level}, "
          f"in {seconds:.3f} s on {device}: {args.output}")
    if reference is not None:
        print(f"PSNR: input {psnr(image, reference):.2f} dB, "
              f"denoised {psnr(result, reference):.2f} dB")
    return 0


def _load_dncnn(path: str, device: torch.device):
    from ..load import load
    from ..models import RestorationModel

    model = load(path, device=device)
    if not (isinstance(model, RestorationModel) or getattr(model, "restores", False)):  # or an ensemble
        raise ValueError(f"{path}: a {type(model).__name__} is not a denoiser")
    return model


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise ValueError("reading and writing images needs Pillow: pip install pillow") from None
    return Image


def read_image(path: str) -> np.ndarray:
    """An 8-bit image as (H, W) for grey or (H, W, 3) for colour; alpha is dropped."""
    Image = _pillow()
    with Image.open(path) as im:
        mode = "L" if im.mode in ("1", "L", "I", "I;16", "F", "LA") else "RGB"
        return np.asarray(im.convert(mode), dtype=np.uint8).copy()


def write_image(path: str | Path, image: np.ndarray) -> None:
    _pillow().fromarray(image).save(path)


def add_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """image plus Gaussian noise, rounded and saturated to 8 bits like a real noisy capture."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


def psnr(image: np.ndarray, reference: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def noisy_copy_path(output: str) -> Path:
    out = Path(output)
    return out.with_name(f"{out.stem}-noisy{out.suffix}")


def _check_writable_format(path: str) -> None:
    """Fail before the work, not after it, when Pillow cannot write OUT's format."""
    Image = _pillow()
    suffix = Path(path).suffix.lower()
    if suffix not in Image.registered_extensions():
        raise ValueError(f"cannot write {path!r}: unknown image file extension {suffix!r}")


def _describe(image: np.ndarray) -> str:
    kind = "grey" if image.ndim == 2 else "colour"
    return f"{image.shape[1]}x{image.shape[0]} {kind}"
