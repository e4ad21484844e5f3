"""``fusegen evaluate``: distance-to-real metrics of a generated image set against a real one."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from ..checkpoint import read_torch_file
from ._common import parse_device


# (key, label, which way is better) in the order printed.
ROWS = [
    ("frechet_distance", "Fréchet distance", "lower is better"),
    ("kid", "KID (mean ± std)", "lower is better"),
    ("precision", "precision", "higher is better"),
    ("recall", "recall", "higher is better"),
    ("density", "density", "about 1 is best"),
    ("coverage", "coverage", "higher is better"),
]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="compare generated images with real ones (Fréchet distance, KID, precision/recall, ...)",
        description="Compare a set of generated images (FAKE) with real ones (REAL). Each is an image "
        "folder (files in class sub-folders give labels) or a .pt file holding a tensor (N, C, H, W) "
        "in [0, 1] or a dict with 'images' and optional 'labels'. Features come from a small CNN: "
        "random (fixed seed) or trained on REAL's labels.",
    )
    p.add_argument("real", metavar="REAL", help="real images: folder or .pt file")
    p.add_argument("fake", metavar="FAKE", help="generated images: folder or .pt file")
    p.add_argument("--features", choices=("random", "classifier"), default="random",
                   help="feature extractor: fixed-seed random CNN, or a CNN trained on REAL's labels "
                   "(default: random)")
    p.add_argument("--extractor", metavar="FILE",
                   help="cache of the feature extractor: loaded if FILE exists, else built and saved "
                   "there (keeps numbers comparable between runs)")
    p.add_argument("--feature-dim", type=int, default=64,
                   help="feature size of a new extractor; each set needs more images than this "
                   "(default: 64)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs for --features classifier "
                   "(default: 10)")
    p.add_argument("--k", type=int, default=3, help="neighbour for precision/recall (default: 3)")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID subsets (default: 100)")
    p.add_argument("--kid-subset-size", type=int, default=1000,
                   help="KID subset size, capped at the smaller set (default: 1000)")
    p.add_argument("--risk", type=int, default=0, metavar="N",
                   help="also run the per-sample risks and list the N riskiest generated images")
    p.add_argument("--seed", type=int, default=0, help="seed of extractor, KID subsets and tests "
                   "(default: 0)")
    p.add_argument("--device", default="cpu", help="torch device to run on (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..metrics import FeatureExtractor, evaluate

    device = parse_device(args.device)
    if args.risk < 0:
        raise ValueError(f"--risk must be >= 0, got {args.risk}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    real, labels = load_images(args.real)
    fake, _ = load_images(args.fake)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"REAL images are {_describe(real)} but FAKE images are {_describe(fake)}")
    extractor = _extractor(args, real, labels, FeatureExtractor, device)
    results = evaluate(real.to(device), fake.to(device), extractor, k=args.k,
                       kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size,
                       risk=args.risk > 0, seed=args.seed)
    results["extractor"] = extractor.description
    if args.json:
        print(json.dumps({key: _jsonable(v) for key, v in results.items()}))
    else:
        _print_table(args, real, fake, results)
    return 0


def _extractor(args, real, labels, FeatureExtractor, device):
    if args.extractor and Path(args.extractor).exists():
        return FeatureExtractor.load(args.extractor, map_location=device)
    if args.features == "classifier":
        if labels is None:
            raise ValueError("--features classifier needs labels: put REAL's images in one "
                             "sub-folder per class, or save a dict with 'labels' in the .pt file")
        extractor = FeatureExtractor.train_classifier(real, labels, feature_dim=args.feature_dim,
                                                      epochs=args.epochs, seed=args.seed, device=device)
    else:
        extractor = FeatureExtractor.random(real.shape[1], feature_dim=args.feature_dim,
                                            seed=args.seed).to(device)
    if args.extractor:
        extractor.save(args.extractor)
    return extractor


def _print_table(args, real, fake, r) -> None:
    print(f"real: {r['n_real']} images ({_describe(real)}) from {args.real}")
    print(f"fake: {r['n_fake']} images ({_describe(fake)}) from {args.fake}")
    print(f"features: {r['extractor']}, {r['feature_dim']}-d")
    for key, label, better in ROWS:
        value = (f"{r['kid_mean']:.5g} ± {r['kid_std']:.2g}" if key == "kid" else f"{r[key]:.5g}")
        print(f"  {label:<18} {value:<22} ({better})")
    if args.risk:
        print(f"classifier two-sample test: balanced accuracy {r['c2st_accuracy']:.3f} "
              f"(0.5 = indistinguishable), p = {r['c2st_p_value']:.3g}")
        risk = r["confidence_risk"]
        worst = risk.argsort(descending=True)[:args.risk]
        print(f"riskiest {len(worst)} generated images (index: P(fake), realism, 1-NN distance):")
        for i in worst.tolist():
            print(f"  {i}: {float(risk[i]):.3f}, {float(r['realism'][i]):.3g}, "
                  f"{float(r['knn_distance'][i]):.3g}")


def load_images(path: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images (N, C, H, W) float32 in [0, 1] and labels (N,) or None, from a folder or a .pt file."""
    p = Path(path)
    if p.is_dir():
        return _load_folder(p)
    if p.suffix != ".pt":
        raise ValueError(f"{path}: expected an image folder or a .pt file")
    data = read_torch_file(p, what="tensor file")
    labels = None
    if isinstance(data, dict):
        if "images" not in data:
            raise ValueError(f"{path}: a dict must hold 'images' (and optionally 'labels')")
        data, labels = data["images"], data.get("labels")
    if not isinstance(data, torch.Tensor) or data.dim() != 4:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"{path}: expected images of shape (N, C, H, W), got {shape}")
    if data.dtype == torch.uint8:
        data = data.float() / 255
    elif not data.dtype.is_floating_point:
        raise ValueError(f"{path}: images must be uint8 or floating point in [0, 1], got {data.dtype}")
    data = data.float()
    if data.numel() and (data.min() < 0 or data.max() > 1):
        raise ValueError(f"{path}: image values must lie in [0, 1], got "
                         f"[{float(data.min()):.3g}, {float(data.max()):.3g}]")
    if labels is not None and (not isinstance(labels, torch.Tensor) or labels.shape != (data.shape[0],)):
        raise ValueError(f"{path}: 'labels' must be a tensor of shape ({data.shape[0]},)")
    return data, labels


def _load_folder(folder: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    from PIL import Image

    from ..data import read_image
    from ..data.files import GREY_MODES, IMAGE_SUFFIXES

    files = sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{folder}: no image files found")
    grey = True
    for f in files:
        with Image.open(f) as im:
            grey = grey and im.mode in GREY_MODES
    arrays = [read_image(f, channels=1 if grey else 3) for f in files]
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"{folder}: images must all have one size, found "
                         f"{sorted({tuple(a.shape[1:]) for a in arrays})}")
    images = torch.stack(arrays)
    # Files one level down, in class folders, give labels (sorted folder names -> 0, 1, ...).
    parents = [f.parent for f in files]
    if all(par.parent == folder for par in parents):
        names = sorted({par.name for par in parents})
        labels = torch.tensor([names.index(par.name) for par in parents])
        return images.contiguous(), labels
    return images.contiguous(), None


def _jsonable(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _describe(images: torch.Tensor) -> str:
    return f"{images.shape[1]}x{images.shape[2]}x{images.shape[3]}"
