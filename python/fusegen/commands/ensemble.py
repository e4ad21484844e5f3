"""``fusegen ensemble``: combine trained models (mixture, average or soup), learn the weights,
score the ensemble beside each member, write it."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from ._common import parse_device

MODES = ("auto", "mixture", "average", "soup")
METHODS = ("lstsq", "psnr", "mmd", "coverage")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ensemble",
        help="combine trained models (mixture of generators, average of denoisers, parameter soup), "
        "learn the weights, report each member beside the ensemble",
        description="Combine checkpoints with weights: 'mixture' (generators: each sample from one "
        "member, member k with probability w_k), 'average' (denoisers / VAE reconstructions: "
        "output-space weighted average), 'soup' (one model with averaged parameters; members "
        "fine-tuned from one initialisation). Weights are given (--weights) or learned (--learn) on "
        "validation data: least squares or PSNR for restoration, squared MMD in feature space for "
        "generators. Prints the ensemble beside each member on the same metric and data; -o writes "
        "a checkpoint that fusegen.load, `fusegen sample` and `fusegen denoise --method dncnn "
        "--model` read (a soup: a plain model checkpoint).",
    )
    p.add_argument("checkpoints", metavar="CKPT", nargs="+",
                   help="checkpoints of the members (from fusegen train, or saved ensembles)")
    p.add_argument("--mode", choices=MODES, default="auto",
                   help="how to combine (default: auto -- average for denoisers, mixture for generators)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--weights", metavar="W,W,...",
                       help="one weight >= 0 per member in order (the --nlm and --bm3d members "
                       "last, in that order); "
                       "normalised to sum 1 (default: uniform)")
    group.add_argument("--learn", action="store_true", help="learn the weights from --data")
    p.add_argument("--method", choices=METHODS,
                   help="how --learn fits: lstsq (average, default), psnr (gradient descent on the mean "
                   "validation PSNR; average or soup of denoisers), mmd (mixture, default: squared MMD "
                   "in feature space, per class for conditional members), coverage (mixture: the "
                   "weights in tenths with the best coverage + precision of the real features)")
    p.add_argument("--nlm", action="store_true",
                   help="add a non-local-means denoiser (at --sigma) after the checkpoints")
    p.add_argument("--bm3d", action="store_true",
                   help="add a BM3D denoiser (at --sigma) as the last member")
    p.add_argument("--names", metavar="A,B,...", help="member names for the table "
                   "(default: from the checkpoint paths)")
    p.add_argument("--sigma", type=float, default=25.0,
                   help="denoisers: noise level (0-255 scale) of the validation and test pairs and of "
                   "--nlm and --bm3d (default: 25)")
    p.add_argument("--data", metavar="DATA",
                   help="learning data. Denoisers: 'photos' (scikit-image's training photographs -- "
                   "those DnCNN trains on, so prefer a held-out folder), a folder of images, digits or "
                   "faces (default: photos). Generators and VAEs: digits, faces, a folder or an IDX "
                   "file (default: digits), split in halves: one to learn on, one to report on")
    p.add_argument("--test", metavar="DATA", default="test-photos",
                   help="denoisers: the images the table is measured on -- 'test-photos' "
                   "(scikit-image photographs no fusegen recipe trains on) or as --data "
                   "(default: test-photos)")
    p.add_argument("--patch", type=int, default=64,
                   help="denoisers: validation patch size for --learn (default: 64)")
    p.add_argument("--max-pairs", type=int, default=256,
                   help="denoisers: at most this many validation patches (default: 256)")
    p.add_argument("--steps", type=int, default=200, help="--method psnr: gradient steps (default: 200)")
    p.add_argument("-n", type=int, default=1000,
                   help="generators: samples per member to learn on and per table row (default: 1000)")
    p.add_argument("--features", choices=("auto", "classifier", "random"), default="auto",
                   help="generators: feature extractor -- a small CNN trained on the data's labels, or "
                   "the fixed-seed random one (default: classifier when the data has labels)")
    p.add_argument("--extractor", metavar="FILE",
                   help="generators: cache of the feature extractor (loaded if FILE exists, else "
                   "built and saved there)")
    p.add_argument("--seed", type=int, default=0, help="seed of noise, splits and samples (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device to run on (default: cpu)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-o", "--output", metavar="OUT.pt", help="write the ensemble (or the soup) here")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if not (math.isfinite(args.sigma) and args.sigma > 0):
        raise ValueError(f"--sigma must be a number > 0, got {args.sigma}")
    for flag, value, low in (("--patch", args.patch, 11), ("--max-pairs", args.max_pairs, 1),
                             ("-n", args.n, 2), ("--steps", args.steps, 1)):
        if value < low:
            raise ValueError(f"{flag} must be >= {low}, got {value}")
    if args.method and not args.learn:
        raise ValueError("--method goes with --learn")
    if args.output and Path(args.output).suffix != ".pt":
        raise ValueError(f"-o must name a .pt file, got {args.output!r}")


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import save_model
    from ..data import add_noise
    from ..load import load
    from ..models import Ensemble, build_model
    from ..models.ensemble import normalize_weights

    device = parse_device(args.device)
    _check_args(args)
    members = [load(path, device=device) for path in args.checkpoints]
    names = _names(args)
    members += [build_model(kind, {"sigma": args.sigma}).to(device) for kind in _classical(args)]
    weights = None
    if args.weights is not None:
        weights = normalize_weights(_numbers(args.weights), len(members), "--weights")
    ensemble = Ensemble(members, weights=weights, mode=args.mode, names=names).to(device).eval()
    generators = ensemble.interface == "sample"
    vae = ensemble.interface == "reconstruct"
    if args.learn and args.mode == "soup" and generators:
        raise ValueError("--learn for a soup needs denoisers (a loss on validation pairs); give a "
                         "generator soup --weights")

    result: dict = {"mode": ensemble.mode, "members": list(ensemble.names),
                    "checkpoints": list(args.checkpoints) + [f"({kind})" for kind in _classical(args)]}
    if generators or vae:
        fit_data, report_data = _image_halves(args, members[0])
    if generators:
        extractor = _extractor(args, fit_data, device)
    baselines = None if args.weights is None and not args.learn else {"uniform": None}
    if args.learn:
        if generators:
            ensemble.fit_weights(real=fit_data.images.to(device), feature_fn=extractor, n=args.n,
                                 method=args.method, generator=torch.Generator().manual_seed(args.seed),
                                 real_labels=_labels(ensemble, fit_data, "cpu"))
        elif vae:
            ensemble.fit_weights(fit_data.images.to(device), method=args.method, steps=args.steps,
                                 labels=_labels(ensemble, fit_data, device))
        else:
            noisy, clean = _validation_pairs(args, _channels(members))
            ensemble.fit_weights(noisy.to(device), clean.to(device), method=args.method, steps=args.steps)
        result["fit"] = ensemble.last_fit
    result["weights"] = ensemble.weights.detach().double().cpu().tolist()

    if generators:
        rows = ensemble.report(real=report_data.images.to(device), feature_fn=extractor, n=args.n,
                               generator=torch.Generator().manual_seed(args.seed + 1), baselines=baselines,
                               real_labels=_labels(ensemble, report_data, "cpu"))
        result["report_on"] = f"{args.data or 'digits'}: {len(report_data)} held-out real images, " \
                              f"{args.n} samples per row; features: {extractor.description}"
    elif vae:
        rows = ensemble.report(report_data.images.to(device), labels=_labels(ensemble, report_data, device),
                               baselines=baselines)
        result["report_on"] = (f"{args.data or 'digits'}: reconstructions of {len(report_data)} "
                               f"held-out images")
    else:
        images = _restoration_images(args.test, _channels(members))
        noisy = [add_noise(image, args.sigma, torch.Generator().manual_seed(args.seed + 1000 + i)).to(device)
                 for i, image in enumerate(images)]
        rows = ensemble.report(noisy, [image.to(device) for image in images], baselines=baselines)
        result["report_on"] = f"{args.test}: {len(images)} images at sigma {args.sigma:g}, mean per image"
    result["rows"] = rows

    if args.output:
        if ensemble.mode == "soup":
            path = save_model(ensemble.soup_model(), args.output,
                              soup={"checkpoints": result["checkpoints"], "weights": result["weights"]})
        else:
            path = ensemble.save(args.output, checkpoints=result["checkpoints"])
        result["output"] = str(path)
    if args.json:
        print(json.dumps(result, default=float))
    else:
        _print_result(result, ensemble)
    return 0


def _print_result(result: dict, ensemble) -> None:
    from ..models import format_report

    print(f"{ensemble.mode} of {len(ensemble.members)} members: "
          + ", ".join(f"{n} {w:.3f}" for n, w in zip(ensemble.names, result["weights"])))
    if "fit" in result:
        fit = result["fit"]
        print(f"learned by {fit['method']}: {fit['objective']} {fit['before']:.5g} (before) -> "
              f"{fit['after']:.5g}")
    print(f"measured on {result['report_on']}")
    print(format_report(result["rows"]))
    if "output" in result:
        what = "soup (one model)" if ensemble.mode == "soup" else "ensemble"
        print(f"wrote the {what} to {result['output']}")


# ----------------------------------------------------------------------------- helpers

def _numbers(text: str) -> list[float]:
    try:
        return [float(t) for t in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"--weights must be numbers like 0.3,0.7, got {text!r}") from None


def _classical(args) -> list[str]:
    """The model kinds of the classical denoisers asked for (--nlm, --bm3d), in member order."""
    return [kind for kind in ("nlm", "bm3d") if getattr(args, kind)]


def _names(args) -> list[str]:
    count = len(args.checkpoints) + len(_classical(args))
    if args.names:
        names = [n.strip() for n in args.names.split(",")]
        if len(names) != count:
            raise ValueError(f"--names must give {count} names (one per member), got {len(names)}")
        return names
    names = []
    for path in args.checkpoints:
        p = Path(path)
        names.append(f"{p.parent.name}/{p.name}" if p.parent.name else p.name)
    if len(set(names)) < len(names):
        names = [f"{n}#{k}" for k, n in enumerate(names)]
    return names + _classical(args)


def _channels(members) -> int:
    known = [c for c in (getattr(m, "channels", None) for m in members) if c is not None]
    return known[0] if known else 1


def _restoration_images(spec: str, channels: int) -> list[torch.Tensor]:
    from ..data import photo
    from ..train.recipes import TEST_PHOTOS, denoising_images

    if spec == "test-photos":
        return [photo(name, channels) for name in TEST_PHOTOS]
    return denoising_images(spec, channels)


def _validation_pairs(args, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    from ..data import add_noise, extract_patches

    images = [im for im in _restoration_images(args.data or "photos", channels)
              if min(im.shape[-2:]) >= args.patch]
    if not images:
        raise ValueError(f"--data {args.data or 'photos'}: no image is at least --patch {args.patch} pixels")
    clean = extract_patches(images, args.patch, stride=args.patch)
    g = torch.Generator().manual_seed(args.seed)
    if len(clean) > args.max_pairs:
        clean = clean[torch.randperm(len(clean), generator=g)[:args.max_pairs]]
    return add_noise(clean, args.sigma, g), clean


def _image_halves(args, member):
    from ..data import load_dataset
    from ..train.recipes import split

    config = getattr(member, "config", {}) or {}
    if "members" in config:  # a saved ensemble as a member: its first member's shape
        config = config["members"][0]["config"]
    dataset = load_dataset(args.data or "digits", image_size=config.get("image_size", 32),
                           channels=config.get("channels", 1))
    if len(dataset) < 4:
        raise ValueError(f"--data {args.data}: {len(dataset)} images are too few to split")
    fit, report = split(dataset, 0.5, args.seed)
    return fit, report


def _labels(ensemble, data, device):
    if not ensemble.num_classes:
        return None
    if data.num_classes < 2:
        raise ValueError("the members are conditional: --data needs labels")
    return data.labels.to(device)


def _extractor(args, data, device):
    from ..metrics import FeatureExtractor

    if args.extractor and Path(args.extractor).exists():
        return FeatureExtractor.load(args.extractor, map_location=device)
    labelled = data.num_classes >= 2
    kind = args.features if args.features != "auto" else ("classifier" if labelled else "random")
    if kind == "classifier":
        if not labelled:
            raise ValueError("--features classifier needs labelled --data (digits, or a folder with "
                             "one sub-folder per class)")
        extractor = FeatureExtractor.train_classifier(data.images, data.labels, epochs=5,
                                                      seed=args.seed, device=device)
    else:
        extractor = FeatureExtractor.random(data.images.shape[1], seed=args.seed).to(device)
    if args.extractor:
        extractor.save(args.extractor)
    return extractor
