"""``fusegen.train.train``: data + model + task + trainer for one model kind, in one call.

This is what ``fusegen train`` runs; Python users call it the same way.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..atomic import remove_stale_temporaries
from ..data import (MASK_KINDS, PHOTOS, ImageDataset, MaskedImages, MaskedPatches, NoisyPairs,
                    extract_patches, load_dataset, photo, read_image, resize_square)
from ..data.files import IMAGE_SUFFIXES
from ..models import DCGAN, ConvVAE, DnCNN, InpaintingUNet
from ..transfer.training import FineTune
from .denoiser import DenoiserTask
from .gan import GANTask
from .inpainter import InpaintingTask
from .trainer import Trainer, TrainSettings
from .vae import VAETask

# One name per model kind, the same as in checkpoints and fusegen.load.
KINDS = ("dcgan", "vae", "dncnn", "inpaint")
KIND_ALIASES = {"gan": "dcgan"}  # older scripts said "gan"
# Scikit-image photographs DnCNN trains on by default; the rest (camera, coins, moon, ...)
# stay unseen for evaluation.
TRAIN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "page", "text", "brick", "grass", "gravel")
TEST_PHOTOS = tuple(p for p in PHOTOS if p not in TRAIN_PHOTOS)

# Inpainting: the side of the images the model is made to fill (the held-out photographs are
# scored at 256 x 256). Training masks are drawn at this size and cropped with their patches, so
# that strokes and boxes have the widths they have on such images.
INPAINT_MASK_SIZE = 256
# The scales the training photographs are cut at: full size and halved, as the held-out ones are
# about halved to reach 256 x 256 (the pilots did not compare this with full size alone).
INPAINT_SCALES = (1.0, 0.5)
# Validation: the held-out photographs at INPAINT_MASK_SIZE, with these many seeded masks per
# photograph and mask kind, drawn from a seed other than the experiments' (0).
INPAINT_VAL_MASKS, INPAINT_VAL_SEED = 4, 1
# The defaults of `fusegen train inpaint` (the best measured recipe: experiments/inpaint).
INPAINT_DEFAULTS = dict(width=16, depth=5, batch_size=16, lr=1e-3, patch_size=64, fill="biharmonic",
                        full_width=32, full_depth=4, reach=2)
# The defaults of `fusegen train gan` (the best measured recipe: experiments/generation).
GAN_DEFAULTS = dict(latent_dim=100, width=32, lr=2e-4, d_lr=None, ema_decay=0.999, mode_seeking=1.0,
                    loss="ns", augment="none", spectral_norm=False, minibatch_std=0, class_loss=2.0)

# The defaults of `fusegen train vae` (the best measured recipe: experiments/generation).
VAE_DEFAULTS = dict(latent_dim=16, width=32, lr=1e-3, beta=0.5, likelihood="bernoulli")


def split(dataset: ImageDataset, val_fraction: float, seed: int,
          sample_weights: torch.Tensor | None = None) -> tuple[ImageDataset, ImageDataset | None]:
    """A seeded random train/validation split (no validation set when ``val_fraction`` is 0).

    ``sample_weights`` (one weight >= 0 per image of ``dataset``): the training part is redrawn,
    as many images with replacement, image i with probability proportional to its weight, so
    that training sees the heavy images more often (the validation part stays as it is)."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(len(dataset) * val_fraction))
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=generator) if n_val else torch.arange(len(dataset))
    fit, held_out = order[n_val:], order[:n_val]
    if sample_weights is not None:
        w = check_sample_weights(sample_weights, len(dataset))[fit]
        if not float(w.sum()) > 0:
            raise ValueError("sample_weights are 0 on every training image")
        fit = fit[torch.multinomial(w, len(fit), replacement=True, generator=generator)]
    train_part = dataset.subset(fit) if n_val or sample_weights is not None else dataset
    return train_part, dataset.subset(held_out) if n_val else None


def check_sample_weights(weights: object, n: int) -> torch.Tensor:
    """``weights`` as a float64 (n,) tensor of finite numbers >= 0, or a ValueError/TypeError."""
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"sample_weights must be a torch.Tensor of {n} weights, got {type(weights).__name__}")
    if weights.shape != (n,) or weights.is_complex():
        raise ValueError(f"sample_weights must be ({n},) real numbers, one per image, got "
                         f"{weights.dtype} of shape {tuple(weights.shape)}")
    w = weights.detach().double().cpu()
    if not (torch.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("sample_weights must be finite and >= 0")
    return w


def denoising_images(source: str | os.PathLike, channels: int) -> list[torch.Tensor]:
    """Clean images for a denoiser: ``"photos"`` (scikit-image's training photographs), a folder
    of images (read at their own size), or ``"digits"`` / ``"faces"`` (upsampled to 64x64)."""
    if str(source) == "photos":
        return [photo(name, channels) for name in TRAIN_PHOTOS]
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise OSError(f"{path}: no image files found")
        return [read_image(p, channels) for p in files]
    return list(load_dataset(source, image_size=64, channels=channels).images)


def denoising_pairs(source, channels: int, patch_size: int, sigma, val_fraction: float,
                    seed: int) -> tuple[NoisyPairs, NoisyPairs | None]:
    patches = extract_patches(denoising_images(source, channels), patch_size, stride=patch_size // 2)
    order = torch.randperm(len(patches), generator=torch.Generator().manual_seed(seed))
    n_val = int(round(len(patches) * val_fraction))
    val = NoisyPairs(patches[order[:n_val]], sigma, seed=seed) if n_val else None
    return NoisyPairs(patches[order[n_val:]], sigma, seed=seed, augment=True), val


def inpainting_data(source, channels: int, patch_size: int, mask_kind: str, val_fraction: float,
                    seed: int) -> tuple[MaskedPatches, MaskedImages | None]:
    """Training patches with random holes and a fixed validation set for an inpainting model.

    ``"photos"``: patches of the training photographs at :data:`INPAINT_SCALES`, validated on
    the held-out photographs (:data:`TEST_PHOTOS`) at :data:`INPAINT_MASK_SIZE` pixels with
    :data:`INPAINT_VAL_MASKS` seeded masks per photograph and kind. Other sources: patches of
    the images at their own size; ``val_fraction`` of them are held out, each with one seeded
    mask per kind. Training masks of ``mask_kind`` are drawn at :data:`INPAINT_MASK_SIZE` and
    cropped with the patches.
    """
    images = denoising_images(source, channels)
    photos = str(source) == "photos"
    if photos:
        images = [scaled for image in images for scaled in _rescaled(image, INPAINT_SCALES, patch_size)]
    patches = extract_patches(images, patch_size, stride=patch_size // 2)
    if photos:
        held_out = torch.cat([resize_square(photo(name, channels)[None], INPAINT_MASK_SIZE) for name in TEST_PHOTOS])
        val = MaskedImages(held_out, mask_kind, INPAINT_VAL_MASKS, seed=INPAINT_VAL_SEED)
    else:
        order = torch.randperm(len(patches), generator=torch.Generator().manual_seed(seed))
        n_val = int(round(len(patches) * val_fraction))
        val = MaskedImages(patches[order[:n_val]], mask_kind, 1, seed=INPAINT_VAL_SEED) if n_val else None
        patches = patches[order[n_val:]]
    return MaskedPatches(patches, mask_kind, INPAINT_MASK_SIZE, augment=True), val


def _rescaled(image: torch.Tensor, scales: tuple[float, ...], smallest: int) -> list[torch.Tensor]:
    """``image`` (C, H, W) at each scale (area-resized) whose shorter side keeps ``smallest`` pixels."""
    out = []
    for scale in scales:
        size = [round(s * scale) for s in image.shape[-2:]]
        if min(size) < smallest:
            continue
        out.append(image if scale == 1 else F.interpolate(image[None], size=size, mode="area")[0])
    return out


def given(value, default):
    """``value``, or ``default`` where it is None: 0 is a value, not "use the default"."""
    return default if value is None else value


def check_options(kind: str = "", **options) -> None:
    """Explicit model and training options must make sense (None means "the default")."""
    minimum = {"batch_size": 1, "latent_dim": 1, "width": 1, "depth": 1 if kind == "inpaint" else 3,
               "patch_size": 1, "steps": 1}
    for name, low in minimum.items():
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    lr, beta = options.get("lr"), options.get("beta")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if beta is not None and not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")


def prepare_output(out: str | os.PathLike, resume, overwrite: bool) -> None:
    """Refuse to train a fresh run over an earlier one, unless told to replace it; remove the
    temporary files of a checkpoint write that was killed."""
    out = Path(out)
    remove_stale_temporaries(out)
    old = [out / name for name in ("last.pt", "best.pt") if (out / name).exists()]
    if not old or resume is not None:
        return
    if not overwrite:
        raise FileExistsError(f"{out} already holds a training run ({', '.join(p.name for p in old)}): "
                              f"continue it with --resume {out / 'last.pt'}, or pass --overwrite to "
                              f"replace it")
    for path in old:
        path.unlink()
    for grid in (out / "samples").glob("step_*.png"):
        grid.unlink()


def train(kind: str, data: str | os.PathLike, out: str | os.PathLike, steps: int = 1000, *,
          conditional: bool = False, image_size: int | None = None, channels: int | None = None,
          batch_size: int | None = None, lr: float | None = None, seed: int = 0,
          device: str = "auto", resume: str | os.PathLike | None = None,
          sample_every: int = 0, checkpoint_every: int = 0, val_every: int = 0,
          patience: int = 0, val_fraction: float = 0.1, amp: bool = True,
          lr_schedule: str = "constant", channels_last: bool = False, progress: bool = True,
          latent_dim: int | None = None, width: int | None = None, spectral_norm: bool | None = None,
          ema_decay: float | None = None, ema_method: str = "foreach", mode_seeking: float | None = None,
          gan_loss: str | None = None, augment: str | None = None, d_lr: float | None = None,
          minibatch_std: int | None = None, class_loss: float | None = None, sample_weights: torch.Tensor | None = None,
          beta: float | None = None, likelihood: str | None = None,
          depth: int | None = None, sigma: float | tuple[float, float] = 25.0, patch_size: int | None = None,
          mask_kind: str = "mixed", fill: str | None = None, classes=None,
          init: str | os.PathLike | None = None, freeze: int | None = None, freeze_part: str | None = None, backbone_lr: float | None = None,
          overwrite: bool = False) -> dict[str, Any]:
    """Train a model and write its checkpoints into ``out``; returns the trainer's summary.

    Args:
        kind: ``"dcgan"`` (DCGAN; ``"gan"`` is accepted too), ``"vae"`` (ConvVAE), ``"dncnn"``
            (DnCNN denoiser) or ``"inpaint"`` (InpaintingUNet): the model kind names of
            checkpoints and :func:`fusegen.load`.
        data: ``"digits"``, ``"faces"``, a folder of images or an IDX file; for ``"dncnn"`` and
            ``"inpaint"`` also ``"photos"`` (scikit-image's photographs, their default in
            ``fusegen train``).
        out: output folder (``last.pt``, ``best.pt``, ``samples/``).
        steps: total optimizer steps (when resuming, the total including the earlier run).
        conditional: condition the GAN/VAE on the data's class labels.
        classes: train a GAN/VAE on these classes only (names or indices, e.g. ``[5, 6, 7]``),
            relabelled 0, 1, ... in that order (the checkpoint's ``class_names`` say which is which).
        image_size, channels: image shape for GAN/VAE (16, 32 or 64 -- default 32; 1 or 3 --
            default 1).
        batch_size, lr: default 64 and 2e-4 (GAN), 64 and 1e-3 (VAE), 32 and 1e-3 (DnCNN),
            :data:`INPAINT_DEFAULTS` (inpainting).
        resume: a ``last.pt`` to continue from exactly (a fine-tune keeps its frozen blocks).
        latent_dim, width, spectral_norm, ema_decay, ema_method: GAN/VAE model options.
        mode_seeking, class_loss, gan_loss, augment, d_lr, minibatch_std: GAN only (the
            defaults: :data:`GAN_DEFAULTS`): the weights of the mode-seeking term and of the
            auxiliary classification loss (conditional only), ``"ns"`` or ``"hinge"``, DiffAugment
            (:func:`fusegen.train.augment.diff_augment`), the discriminator's learning rate, the
            minibatch standard deviation group (:class:`GANTask`, :class:`~fusegen.models.DCGAN`).
        beta, likelihood: VAE KL weight and decoder likelihood (:data:`VAE_DEFAULTS`).
        sample_weights: GAN/VAE only, one weight >= 0 per image of the data: the training part is
            redrawn with these probabilities (:func:`split`; boosting uses it).
        depth, sigma, patch_size: DnCNN options (depth 17; sigma in 0..255 units, one value or a
            (low, high) range; patch size 40).
        width, depth, fill, patch_size, mask_kind: inpainting options (:data:`INPAINT_DEFAULTS`;
            :class:`~fusegen.models.InpaintingUNet`'s ``fill``; the patch size a multiple of
            ``2**depth``); the masks' kind: ``"mixed"`` (strokes, pixels and boxes, the
            default) or one of them, for training and validation (:func:`inpainting_data`).
        init, freeze, freeze_part, backbone_lr: fine-tuning (:mod:`fusegen.transfer`): start from
            the weights of checkpoint ``init`` that fit (the report is printed and stored in the
            checkpoints and summary as ``"transfer"``), freeze the first ``freeze`` blocks of
            ``freeze_part`` (default: a DCGAN's discriminator -- FreezeD --, a VAE's encoder),
            train the loaded parameters at ``backbone_lr`` (default ``lr``) and new ones at ``lr``.
        overwrite: ``out`` may already hold a run (``last.pt``/``best.pt``) only when it is
            resumed or when ``overwrite`` is true; then its checkpoints and sample grids are
            deleted first, so the new run never mixes with the old one.
        Model options left None (image_size, channels, latent_dim, width, depth, spectral_norm,
        beta) are those of the checkpoint the run starts from (``resume``, else ``init``).
        The remaining arguments are :class:`TrainSettings` fields.
    """
    # One function on purpose: it is the one place where the CLI's flat options become a model,
    # a task and trainer settings; most of its length is the argument list and this docstring.
    kind = KIND_ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind not in ("dncnn", "inpaint") and str(data) == "photos":
        raise ValueError("'photos' is denoising and inpainting data (dncnn, inpaint); use digits, faces, "
                         "a folder or an IDX file")
    if mask_kind != "mixed" and mask_kind not in MASK_KINDS:
        raise ValueError(f"mask_kind must be one of {', '.join(MASK_KINDS)} or mixed, got {mask_kind!r}")
    if kind != "inpaint" and mask_kind != "mixed":
        raise ValueError(f"--mask-kind applies to inpaint, not {kind}")
    if kind != "inpaint" and fill is not None:
        raise ValueError(f"--fill applies to inpaint, not {kind}")
    gan_only = dict(gan_loss=gan_loss, augment=augment, d_lr=d_lr, minibatch_std=minibatch_std, class_loss=class_loss,
                    mode_seeking=mode_seeking, ema_decay=ema_decay)
    given_gan = [name for name, value in gan_only.items() if value is not None]
    if kind != "dcgan" and given_gan:
        raise ValueError(f"{', '.join(given_gan)} apply to gan (dcgan), not {kind}")
    if kind != "vae" and likelihood is not None:
        raise ValueError(f"likelihood applies to vae, not {kind}")
    if sample_weights is not None and kind not in ("dcgan", "vae"):
        raise ValueError(f"sample_weights apply to gan and vae, not {kind}")
    check_options(kind, batch_size=batch_size, lr=lr, latent_dim=latent_dim, width=width, depth=depth,
                  beta=beta, patch_size=patch_size, steps=steps)
    fine_tune = FineTune(kind, init=init, freeze=freeze, freeze_part=freeze_part,
                         backbone_lr=backbone_lr, resume=resume)
    o = fine_tune.inherit(dict(image_size=image_size, channels=channels, latent_dim=latent_dim,
                               width=width, depth=depth, spectral_norm=spectral_norm, beta=beta, fill=fill,
                               minibatch_std=minibatch_std, likelihood=likelihood))
    image_size, channels = given(o["image_size"], 32), given(o["channels"], 1)
    depth = given(o["depth"], INPAINT_DEFAULTS["depth"] if kind == "inpaint" else 17)
    latent_dim, width = o["latent_dim"], o["width"]
    spectral_norm = bool(given(o["spectral_norm"], GAN_DEFAULTS["spectral_norm"] if kind == "dcgan" else False))
    beta, likelihood, minibatch_std = o["beta"], o["likelihood"], o["minibatch_std"]
    torch.manual_seed(seed)  # the model's initial weights
    extra: dict[str, Any] = {}
    if kind in ("dncnn", "inpaint"):
        if conditional:
            raise ValueError(f"--conditional applies to gan and vae, not {kind}")
        if classes is not None:
            raise ValueError(f"--classes applies to gan and vae, not {kind}")
    if kind == "inpaint":
        patch_size = given(patch_size, INPAINT_DEFAULTS["patch_size"])
        if patch_size % 2 ** depth:
            raise ValueError(f"patch_size must be a multiple of 2**depth = {2 ** depth}, got {patch_size}")
        train_data, val_data = inpainting_data(data, channels, patch_size, mask_kind, val_fraction, seed)
        arch = {k: INPAINT_DEFAULTS[k] for k in ("full_width", "full_depth", "reach")}
        if fine_tune.source_config:  # the full-resolution level of the checkpoint the run starts from
            source = fine_tune.source_config
            arch = dict(full_width=source.get("full_width"), full_depth=source.get("full_depth", 1),
                        reach=source.get("reach"))
        model = InpaintingUNet(channels, width=given(o["width"], INPAINT_DEFAULTS["width"]), depth=depth,
                               fill=given(o["fill"], INPAINT_DEFAULTS["fill"]), **arch)
        fine_tune.apply(model)
        task = InpaintingTask(model, given(lr, INPAINT_DEFAULTS["lr"]), preview=val_data)
        batch_size = given(batch_size, INPAINT_DEFAULTS["batch_size"])
    elif kind == "dncnn":
        train_data, val_data = denoising_pairs(data, channels, given(patch_size, 40), sigma, val_fraction, seed)
        model = DnCNN(channels=channels, depth=depth, width=given(width, 64))
        fine_tune.apply(model)
        task = DenoiserTask(model, given(lr, 1e-3))
        batch_size = given(batch_size, 32)
    else:
        dataset = load_dataset(data, image_size, channels)
        if classes is not None:
            dataset = dataset.select_classes(classes)
        if conditional and dataset.num_classes < 2:
            raise ValueError(f"--conditional needs labelled data with at least 2 classes; {data} has "
                             f"{dataset.num_classes}")
        num_classes = dataset.num_classes if conditional else 0
        if conditional:
            extra["class_names"] = list(dataset.class_names)
        train_data, val_data = split(dataset, val_fraction, seed, sample_weights)
        if kind == "dcgan":
            d = GAN_DEFAULTS
            model = DCGAN(given(latent_dim, d["latent_dim"]), channels, image_size, given(width, d["width"]),
                          num_classes, spectral_norm=spectral_norm,
                          minibatch_std=given(minibatch_std, d["minibatch_std"]),
                          aux_classifier=bool(num_classes and given(class_loss, d["class_loss"]) > 0))
            fine_tune.apply(model)  # before the task: the GAN's EMA starts from the loaded generator
            task = GANTask(model, given(lr, d["lr"]), given(ema_decay, d["ema_decay"]), ema_method,
                           mode_seeking=given(mode_seeking, d["mode_seeking"]),
                           loss=given(gan_loss, d["loss"]), augment=given(augment, d["augment"]),
                           d_lr=given(d_lr, d["d_lr"]),
                           class_loss=given(class_loss, d["class_loss"]) if num_classes else 0.0)
        else:
            v = VAE_DEFAULTS
            model = ConvVAE(channels, image_size, given(latent_dim, v["latent_dim"]), given(width, v["width"]),
                            num_classes, beta=given(beta, v["beta"]), likelihood=given(likelihood, v["likelihood"]))
            fine_tune.apply(model)
            task = VAETask(model, given(lr, v["lr"]))
        batch_size = given(batch_size, 64)
    prepare_output(out, resume, overwrite)  # after every check: a refused run deletes nothing
    settings = TrainSettings(steps=steps, batch_size=batch_size, seed=seed, device=device,
                             sample_every=sample_every, checkpoint_every=checkpoint_every,
                             val_every=val_every if val_data is not None else 0, patience=patience,
                             amp=amp, lr_schedule=lr_schedule,
                             channels_last=channels_last, progress=progress)
    if fine_tune.active:
        fine_tune.attach(task)
        extra["transfer"] = fine_tune.record
        if progress and int(os.environ.get("RANK", "0")) == 0:
            print(fine_tune.describe(task.lr), flush=True)
    summary = Trainer(task, train_data, out, settings, val_data, extra=extra).fit(resume=resume)
    if fine_tune.active:
        summary["transfer"] = fine_tune.record
    return summary
