"""``fusegen train {gan,vae,dncnn,inpaint}``: train a model, with checkpoints, sample grids and resume."""

from __future__ import annotations

import argparse
import json

# The inpainting defaults as the help shows them: fusegen.train.recipes.INPAINT_DEFAULTS (a test
# checks they agree; importing the trainer here would slow every fusegen command down).
INPAINT_HELP = {"batch_size": 16, "lr": "1e-3", "width": 16, "depth": 5, "patch_size": 64, "fill": "biharmonic",
                "full_width": 32, "full_depth": 4, "reach": 2}
MASK_KINDS = ("strokes", "pixels", "boxes")  # fusegen.data.MASK_KINDS
VAE_HELP = {"latent_dim": 16, "width": 32, "lr": "1e-3", "beta": 0.5, "likelihood": "bernoulli"}
BOOST_HELP = 4.0  # fusegen.train.boosting.BOOST_DEFAULT
# The GAN defaults as the help shows them: fusegen.train.recipes.GAN_DEFAULTS (a test checks).
GAN_HELP = {"latent_dim": 100, "width": 32, "lr": "2e-4", "ema_decay": 0.999, "mode_seeking": 1.0,
            "loss": "ns", "augment": "none", "spectral_norm": False, "minibatch_std": 0, "class_loss": 2.0}


def _sigma(text: str) -> float | tuple[float, float]:
    """``25`` or a range ``0-55`` (blind denoising)."""
    try:
        if "-" in text.strip("-"):
            low, high = text.split("-", 1)
            return float(low), float(high)
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or a range like 0-55, got {text!r}") from None


def _classes(text: str) -> list[str]:
    """``5,6,7`` -> ["5", "6", "7"] (names or indices, resolved against the data's classes)."""
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated classes like 5,6,7, got {text!r}")
    return names


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a GAN, VAE, DnCNN denoiser or inpainting U-Net",
        description="Train a model; writes OUT/last.pt (resumable), OUT/best.pt (best validation "
                    "metric) and OUT/samples/*.png. Run under torchrun for several processes.")
    p.add_argument("kind", choices=["dcgan", "vae", "dncnn", "inpaint", "gan"],
                   help="the model to train: dcgan, vae, dncnn or inpaint (gan: another name for dcgan)")
    p.add_argument("--data", default=None,
                   help="digits, faces, a folder of images or an IDX images file; for dncnn and "
                        "inpaint also 'photos' (default: digits for gan/vae, photos for dncnn/inpaint)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--steps", type=int, default=1000, help="total training steps (default 1000)")
    p.add_argument("--conditional", action="store_true", help="condition on the data's class labels")
    p.add_argument("--classes", type=_classes, default=None, metavar="C1,C2,..",
                   help="gan/vae: train on these classes only (names or indices, e.g. 5,6,7,8,9), "
                        "relabelled 0,1,.. in that order")
    p.add_argument("--image-size", type=int, default=None, choices=[16, 32, 64],
                   help="gan/vae image size (default 32, or that of --init/--resume)")
    p.add_argument("--channels", type=int, default=None, choices=[1, 3],
                   help="1 grayscale (default, or that of --init/--resume), 3 colour")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"per process (default 64; dncnn 32; inpaint {INPAINT_HELP['batch_size']})")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {GAN_HELP['lr']} gan, {VAE_HELP['lr']} vae, 1e-3 dncnn, "
                        f"{INPAINT_HELP['lr']} inpaint)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--resume", default=None, metavar="CKPT", help="continue exactly from this last.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its checkpoints and sample grids); "
                        "without it, a folder holding last.pt or best.pt is refused")
    p.add_argument("--sample-every", type=int, default=500, help="save a sample grid every N steps")
    p.add_argument("--checkpoint-every", type=int, default=500, help="write last.pt every N steps")
    p.add_argument("--val-every", type=int, default=250, help="evaluate the validation metric every N steps")
    p.add_argument("--patience", type=int, default=0,
                   help="stop after N validations without improvement (default 0: never)")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="no mixed precision on CUDA")
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine", "step"],
                   help="constant (default); cosine decay to 0; step: lr/10 for the last quarter")
    p.add_argument("--channels-last", action="store_true",
                   help="channels-last weights and batches (faster convolutions on oneDNN CPUs "
                        "and CUDA tensor cores)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    g = p.add_argument_group("model options (left out: those of --init's or --resume's checkpoint, "
                             "else the defaults)")
    g.add_argument("--latent-dim", type=int, default=None,
                   help=f"gan ({GAN_HELP['latent_dim']}) / vae ({VAE_HELP['latent_dim']}) latent size")
    g.add_argument("--width", type=int, default=None,
                   help=f"feature channels (gan {GAN_HELP['width']}, dncnn 64, vae {VAE_HELP['width']}, inpaint "
                        f"{INPAINT_HELP['width']}: its first stride-2 level, below "
                        f"{INPAINT_HELP['full_depth']} full-resolution blocks of {INPAINT_HELP['full_width']})")
    g.add_argument("--spectral-norm", action=argparse.BooleanOptionalAction, default=None,
                   help=f"gan: spectral norm in the discriminator, without its batch norm "
                        f"(default: {'on' if GAN_HELP['spectral_norm'] else 'off'})")
    g.add_argument("--minibatch-std", type=int, default=None, metavar="GROUP",
                   help=f"gan: the discriminator sees the spread of its features over groups of GROUP "
                        f"images (Karras et al. 2018); 0: off (default {GAN_HELP['minibatch_std']})")
    g.add_argument("--ema-decay", type=float, default=None,
                   help=f"gan: generator EMA decay (default {GAN_HELP['ema_decay']})")
    g.add_argument("--mode-seeking", type=float, default=None, metavar="WEIGHT",
                   help=f"gan: weight of the mode-seeking term against one image per class "
                        f"(Mao et al. 2019); 0: none (default {GAN_HELP['mode_seeking']})")
    g.add_argument("--loss", dest="gan_loss", default=None, choices=["ns", "hinge"],
                   help=f"gan: non-saturating logistic (ns) or hinge loss (default {GAN_HELP['loss']})")
    g.add_argument("--augment", default=None, metavar="POLICY",
                   help=f"gan: differentiable augmentation of the discriminator's inputs (DiffAugment): "
                        f"none or a comma-separated list of translation, cutout, color "
                        f"(default {GAN_HELP['augment']})")
    g.add_argument("--class-loss", type=float, default=None, metavar="WEIGHT",
                   help=f"gan, conditional: weight of an auxiliary classification loss (AC-GAN: the "
                        f"discriminator learns to classify real images, the generator to draw images it "
                        f"classifies as their label); 0: none (default {GAN_HELP['class_loss']})")
    g.add_argument("--d-lr", type=float, default=None,
                   help="gan: the discriminator's learning rate (default: --lr)")
    g.add_argument("--beta", type=float, default=None,
                   help=f"vae: weight of the KL term (default {VAE_HELP['beta']})")
    g.add_argument("--likelihood", default=None, choices=["bernoulli", "continuous_bernoulli", "gaussian"],
                   help=f"vae: the decoder's pixel likelihood (gaussian: with the variance calibrated "
                        f"to the batch's error; default {VAE_HELP['likelihood']})")
    g.add_argument("--depth", type=int, default=None,
                   help=f"dncnn: number of layers (default 17); inpaint: stride-2 levels "
                        f"(default {INPAINT_HELP['depth']})")
    g.add_argument("--sigma", type=_sigma, default=25.0, help="dncnn: noise level (0..255), or a range 0-55")
    g.add_argument("--patch-size", type=int, default=None,
                   help=f"dncnn/inpaint: training patch size (default 40 dncnn, "
                        f"{INPAINT_HELP['patch_size']} inpaint: a multiple of 2**depth)")
    g.add_argument("--fill", default=None, choices=["biharmonic", "none"],
                   help=f"inpaint: the network corrects a smooth biharmonic-like fill of the holes "
                        f"(biharmonic), or predicts the pixels alone, as Liu et al.'s (none); default "
                        f"{INPAINT_HELP['fill']}, or that of --init/--resume")
    g.add_argument("--mask-kind", default="mixed", choices=["mixed", *MASK_KINDS],
                   help="inpaint: the holes of training and validation: free-form strokes, missing "
                        "pixels, boxes, or mixed (default: each mask one of the three at random)")
    e = p.add_argument_group("generator ensembles (gan, vae)")
    e.add_argument("--members", type=int, default=1, metavar="K",
                   help="train K generators of --steps steps each into OUT/member-1 .. OUT/member-K "
                        "and write their mixture to OUT/ensemble.pt (default 1: one model in OUT). "
                        "Unless --boost is given, member t trains only on the t-th of K clusters of "
                        "each class (k-means in a classifier's features): the members specialise and "
                        "their mixture covers every part (the measured best: --partition)")
    e.add_argument("--partition", action="store_true",
                   help="with --members: the partition above (the default; this flag says it)")
    e.add_argument("--boost", type=float, default=None, metavar="FACTOR",
                   help=f"with --members, instead of the partition: member t trains on the data with "
                        f"the real images that members 1..t-1 miss weighted FACTOR times (AdaGAN-style "
                        f"boosting; {BOOST_HELP} was measured); 1: independent members with seeds "
                        f"--seed, --seed+1, ...")
    t = p.add_argument_group("transfer learning (fine-tuning)")
    t.add_argument("--init", metavar="CKPT", default=None,
                   help="start from this checkpoint's weights (those whose name and shape fit; the "
                        "rest is reported and trained from scratch)")
    t.add_argument("--freeze", type=int, default=None, metavar="N",
                   help="freeze the first N blocks (gan: of the discriminator, FreezeD; vae, inpaint: of "
                        "the encoder; dncnn: from the input), batch norm statistics included")
    t.add_argument("--freeze-part", default=None, choices=["discriminator", "generator", "encoder", "decoder"],
                   help="which part --freeze counts blocks in (gan: discriminator or generator; "
                        "vae, inpaint: encoder or decoder)")
    t.add_argument("--backbone-lr", type=float, default=None, metavar="LR",
                   help="learning rate of the pre-trained layers (default: --lr, which then applies "
                        "to the new, re-shaped layers)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..train import train, train_generator_ensemble

    data = args.data or ("photos" if args.kind in ("dncnn", "inpaint") else "digits")
    options = dict(
        conditional=args.conditional,
        image_size=args.image_size, channels=args.channels, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, device=args.device, overwrite=args.overwrite, sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every, val_every=args.val_every, patience=args.patience,
        amp=args.amp, lr_schedule=args.lr_schedule, channels_last=args.channels_last,
        progress=args.progress, latent_dim=args.latent_dim, width=args.width,
        spectral_norm=args.spectral_norm, ema_decay=args.ema_decay, mode_seeking=args.mode_seeking,
        gan_loss=args.gan_loss, augment=args.augment, d_lr=args.d_lr, minibatch_std=args.minibatch_std,
        class_loss=args.class_loss,
        beta=args.beta, likelihood=args.likelihood, classes=args.classes,
    )
    if args.members != 1 or args.boost is not None or args.partition:
        _check_ensemble_args(args)
        # Partitioned members unless --boost: the recipe whose mixture measured above its members.
        result = train_generator_ensemble(args.kind, data, args.out, args.steps, members=args.members,
                                          boost=args.boost, **options)
        brief = {"members": [s["checkpoint"] for s in result["members"]], "missed": result["missed"],
                 "seconds": result["seconds"], "ensemble": result["ensemble"]}
        print(json.dumps(brief, indent=2))
        return 0
    summary = train(
        args.kind, data, args.out, args.steps, resume=args.resume, depth=args.depth,
        sigma=args.sigma, patch_size=args.patch_size, mask_kind=args.mask_kind, fill=args.fill,
        init=args.init, freeze=args.freeze, freeze_part=args.freeze_part, backbone_lr=args.backbone_lr,
        **options,
    )
    if summary["checkpoint"]:  # process 0 under torchrun
        brief = {k: summary[k] for k in ("kind", "steps", "seconds", "stopped_early", "final_losses",
                                          "metric", "best_metric", "checkpoint", "best_checkpoint")}
        if "transfer" in summary:
            t, r = summary["transfer"], summary["transfer"]["report"]
            brief["transfer"] = {"init": t["init"], "loaded": len(r["loaded"]),
                                 "not_loaded": [m["key"] for m in r["mismatched"]] + r["missing"],
                                 "frozen": t["frozen"], "backbone_lr": t["backbone_lr"]}
        print(json.dumps(brief, indent=2))
    return 0


def _check_ensemble_args(args: argparse.Namespace) -> None:
    """--members / --boost train generator ensembles from scratch."""
    if args.kind not in ("gan", "dcgan", "vae"):
        raise ValueError(f"--members, --boost and --partition train generator ensembles (gan, vae), "
                         f"not {args.kind}")
    if args.members < 1:
        raise ValueError(f"--members must be >= 1, got {args.members}")
    if args.partition and args.boost is not None:
        raise ValueError("--partition and --boost are two ways to build the members: give one")
    for flag, value in (("--resume", args.resume), ("--init", args.init)):
        if value is not None:
            raise ValueError(f"{flag} does not go with --members/--boost: each member trains from scratch")
