"""Freezing the first N blocks of a model, and optimizer groups with separate learning rates.

A frozen block's parameters get ``requires_grad=False`` and the block stays in eval mode even
when the model is switched to training mode: its batch normalization uses, and keeps, the
running statistics it was pre-trained with. (The alternative, normalizing with each batch's
statistics, would let the frozen layers' outputs drift with the new data; keeping them fixed
makes a frozen block the same function before and during fine-tuning.)
"""

from __future__ import annotations

import types
from collections.abc import Iterable

from torch import nn

from ..models import DCGAN, ConvVAE, DCGANDiscriminator, DCGANGenerator, DnCNN, InpaintingUNet

# The parts of each model that have freezable blocks, the default (first) one first.
PARTS = {"dcgan": ("discriminator", "generator"), "vae": ("encoder", "decoder"), "dncnn": ("layers",),
         "inpaint": ("encoder", "decoder")}


def _children(prefix: str, seq: nn.Sequential) -> list[tuple[str, nn.Module]]:
    return [(f"{prefix}{i}", m) for i, m in enumerate(seq)]


def _discriminator(d: DCGANDiscriminator, p: str) -> list[tuple[str, nn.Module]]:
    return _children(f"{p}features.", d.features) + [(f"{p}head", d.head)]


def blocks(model: nn.Module, part: str | None = None) -> list[tuple[str, nn.Module]]:
    """The freezable blocks of ``model`` (or of its ``part``), in order from that part's input,
    as ``(name in model, module)``.

    * ``DCGAN``: part ``"discriminator"`` (the default: FreezeD, Mo et al. 2020) --
      ``features.0 ..`` then ``head``; or ``"generator"`` -- ``blocks.0 ..`` from the latent.
    * ``ConvVAE``: ``"encoder"`` (default) -- ``encoder.0 ..`` then ``to_stats``; or
      ``"decoder"`` -- ``from_latent`` then ``decoder.0 ..``.
    * ``DnCNN``: ``layers.0 ..`` from the noisy image.
    * ``InpaintingUNet``: ``"encoder"`` (default) -- ``encoder.0``, ``stem.0 ..`` (the rest of
      the full-resolution level), ``encoder.1 ..`` from the image; or
      ``"decoder"`` -- ``decoder.0 ..`` from the bottleneck.
    A bare ``DCGANGenerator`` / ``DCGANDiscriminator`` or an ``nn.Sequential`` works too.
    Label embeddings are never blocks: they stay trainable.
    """
    options: dict[str, list[tuple[str, nn.Module]]]
    if isinstance(model, DCGAN):
        options = {"discriminator": _discriminator(model.discriminator, "discriminator."),
                   "generator": _children("generator.blocks.", model.generator.blocks)}
    elif isinstance(model, ConvVAE):
        options = {"encoder": _children("encoder.", model.encoder) + [("to_stats", model.to_stats)],
                   "decoder": [("from_latent", model.from_latent)] + _children("decoder.", model.decoder)}
    elif isinstance(model, DnCNN):
        options = {"layers": _children("layers.", model.layers)}
    elif isinstance(model, InpaintingUNet):
        encoder = _children("encoder.", model.encoder)
        options = {"encoder": encoder[:1] + _children("stem.", model.stem) + encoder[1:],
                   "decoder": _children("decoder.", model.decoder)}
    elif isinstance(model, DCGANDiscriminator):
        options = {"discriminator": _discriminator(model, "")}
    elif isinstance(model, DCGANGenerator):
        options = {"generator": _children("blocks.", model.blocks)}
    elif isinstance(model, nn.Sequential):
        options = {"layers": _children("", model)}
    else:
        raise TypeError(f"no known blocks in a {type(model).__name__}; freeze works on DCGAN, "
                        "ConvVAE, DnCNN, InpaintingUNet, their parts, and nn.Sequential")
    if part is None:
        part = next(iter(options))
    if part not in options:
        raise ValueError(f"a {type(model).__name__} has no part {part!r}; its parts: "
                         f"{', '.join(options)}")
    return options[part]


def _part_name(model: nn.Module, part: str | None) -> str:
    if part is not None:
        return part
    return {DCGAN: "discriminator", ConvVAE: "encoder", InpaintingUNet: "encoder"}.get(type(model), "part")


def _always_eval(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def freeze(model: nn.Module, n: int, part: str | None = None) -> list[str]:
    """Freeze the first ``n`` blocks of ``model`` (see :func:`blocks` for what a block is and
    which ``part`` is the default); returns the frozen blocks' names.

    Their parameters get ``requires_grad=False`` (optimizers built with :func:`param_groups`
    leave them out) and they stay in eval mode through ``model.train()``, so their batch-norm
    running statistics are used and never updated. ``n = 0`` freezes nothing; ``n`` larger
    than the number of blocks is a ``ValueError``. Undo with :func:`unfreeze`.
    """
    found = blocks(model, part)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"the number of blocks to freeze must be an int >= 0, got {n!r}")
    if n > len(found):
        names = ", ".join(name for name, _ in found)
        where = _part_name(model, part)
        where = f"{type(model).__name__}" + ("" if where in ("layers", "part") else f"'s {where}")
        raise ValueError(f"cannot freeze {n} blocks: this {where} has {len(found)} ({names})")
    for _, block in found[:n]:
        block.requires_grad_(False)
        for m in block.modules():
            # An instance attribute shadows nn.Module.train for this module only; it survives
            # copy.deepcopy (the EMA copy, exported models). State dicts are unchanged.
            m.train = types.MethodType(_always_eval, m)
            m._fusegen_frozen = True
        block.eval()
    return [name for name, _ in found[:n]]


def unfreeze(model: nn.Module) -> list[str]:
    """Undo :func:`freeze` everywhere in ``model`` (parameters trainable, modes follow
    ``model.train()`` again); returns the names of the modules unfrozen. The mode is set to
    the model's."""
    names = []
    for name, m in model.named_modules():
        if m.__dict__.pop("_fusegen_frozen", False):
            m.__dict__.pop("train", None)
            m.requires_grad_(True)
            m.training = model.training
            names.append(name)
    return names


def frozen(model: nn.Module) -> list[str]:
    """Names of the modules of ``model`` that :func:`freeze` froze (sub-modules included)."""
    return [name for name, m in model.named_modules() if m.__dict__.get("_fusegen_frozen")]


def param_groups(module: nn.Module, lr: float, backbone_lr: float | None = None,
                 pretrained: Iterable[str] = ()) -> list[dict]:
    """Optimizer parameter groups for fine-tuning ``module``: its trainable parameters, those
    named in ``pretrained`` (names as in ``module.named_parameters()``, e.g. a
    :class:`TransferReport`'s ``loaded``) at ``backbone_lr`` (default ``lr``), the others -- new
    or re-shaped layers -- at ``lr``. Frozen parameters (``requires_grad=False``) are left out.
    Groups are named ``"new"`` and ``"pretrained"``; empty ones are dropped."""
    pretrained = set(pretrained)
    new, old = [], []
    for name, p in module.named_parameters():
        if p.requires_grad:
            (old if name in pretrained else new).append(p)
    if not new and not old:
        raise ValueError("every parameter is frozen: nothing left to train")
    groups = [{"name": "new", "params": new, "lr": lr},
              {"name": "pretrained", "params": old, "lr": lr if backbone_lr is None else backbone_lr}]
    return [g for g in groups if g["params"]]
