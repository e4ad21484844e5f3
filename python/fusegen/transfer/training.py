"""Fine-tuning in ``fusegen.train.train`` (``fusegen train ... --init CKPT --freeze N``): which
checkpoint a run starts from, the model options it inherits, and what a resume must keep."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from .freeze import PARTS, freeze as freeze_blocks
from .load import load_partial
from .report import TransferReport

# ``train()`` options that are model options (same name in the model's config).
MODEL_OPTIONS = ("image_size", "channels", "latent_dim", "width", "depth", "spectral_norm", "minibatch_std",
                 "beta", "likelihood", "fill")


class FineTune:
    """The transfer settings of one training run, checked against the checkpoints it starts from.

    Args:
        model_kind: the model kind being trained (``"dcgan"``, ``"vae"``, ``"dncnn"``).
        init: a checkpoint of the same kind whose weights initialize the model (partially: see
            :func:`~fusegen.transfer.load_partial`).
        freeze: number of blocks to freeze (:func:`~fusegen.transfer.freeze`); None means 0,
            or, when resuming a fine-tune, the number it was started with.
        freeze_part: which part's blocks (default: the discriminator of a DCGAN, the encoder of
            a VAE); None as for ``freeze``.
        backbone_lr: learning rate of the pre-trained (loaded) parameters; None: the run's lr.
        resume: the ``last.pt`` a run continues from. A resumed fine-tune keeps its frozen blocks,
            learning rates and report (stored in the checkpoint's ``"transfer"`` entry); ``init``
            is then not read again (the weights come from ``resume``).
    """

    def __init__(self, model_kind: str, *, init: str | os.PathLike | None = None,
                 freeze: int | None = None, freeze_part: str | None = None,
                 backbone_lr: float | None = None,
                 resume: str | os.PathLike | None = None) -> None:
        from ..checkpoint import load_checkpoint

        self.model_kind, self.init = model_kind, None if init is None else str(init)
        self.payload: dict[str, Any] | None = None   # the init checkpoint, when it is read
        self.record: dict[str, Any] | None = None    # what a fine-tune stores in checkpoints
        self.source_config: dict[str, Any] | None = None
        if backbone_lr is not None and not backbone_lr > 0:
            raise ValueError(f"--backbone-lr must be > 0, got {backbone_lr}")
        if freeze is not None and (isinstance(freeze, bool) or not isinstance(freeze, int) or freeze < 0):
            raise ValueError(f"--freeze must be an int >= 0, got {freeze!r}")
        parts = PARTS.get(model_kind, ())
        if freeze_part is not None and len(parts) < 2:
            raise ValueError(f"--freeze-part applies to gan and vae, not {model_kind}")
        if freeze_part is not None and freeze_part not in parts:
            raise ValueError(f"--freeze-part must be one of {', '.join(parts)} for a {model_kind}, "
                             f"got {freeze_part!r}")
        if resume is not None:
            resumed = load_checkpoint(resume)
            self.source_config = dict(resumed.get("config") or {})
            stored = resumed.get("transfer")
            if stored is None:
                if init is not None or freeze or freeze_part is not None or backbone_lr is not None:
                    raise ValueError(f"{resume}: this run was not started with --init; --init, "
                                     "--freeze, --freeze-part and --backbone-lr cannot be added "
                                     "when resuming it")
                return
            for name, value in (("freeze", freeze), ("freeze_part", freeze_part),
                                ("backbone_lr", backbone_lr)):
                if value is not None and value != stored[name]:
                    raise ValueError(f"{resume}: this fine-tune was started with "
                                     f"--{name.replace('_', '-')} {stored[name]}, not {value}; "
                                     "leave it out to keep it")
            self.init, self.record = stored["init"], dict(stored)
            return
        if init is None:
            if freeze or freeze_part is not None or backbone_lr is not None:
                raise ValueError("--freeze, --freeze-part and --backbone-lr need --init CKPT, "
                                 "the pre-trained checkpoint to fine-tune")
            return
        self.payload = load_checkpoint(init)
        if self.payload.get("kind") != model_kind:
            raise ValueError(f"{init}: a {self.payload.get('kind')} checkpoint cannot initialize "
                             f"a {model_kind} model")
        self.source_config = dict(self.payload.get("config") or {})
        self.record = {"init": str(init), "freeze": freeze or 0,
                       "freeze_part": freeze_part or (parts[0] if parts else None),
                       "backbone_lr": backbone_lr, "frozen": [], "report": None}

    @property
    def active(self) -> bool:
        """True for a fine-tune (started, or resumed, from an ``init`` checkpoint)."""
        return self.record is not None

    def inherit(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` (``train()``'s model options) with each None one taken from the model
        configuration of the checkpoint the run starts from (``resume``, else ``init``)."""
        config = self.source_config or {}
        return {k: config.get(k) if v is None and k in MODEL_OPTIONS else v
                for k, v in options.items()}

    def apply(self, model: nn.Module) -> TransferReport | None:
        """Load the ``init`` weights into ``model`` (not when resuming) and freeze its blocks;
        call it before the training task is built (a GAN's EMA copies the loaded generator)."""
        if self.record is None:
            return None
        if self.payload is not None:
            report = load_partial(model, self.payload)
            report.source = self.init
            self.record["report"] = report.as_dict()
        else:
            report = TransferReport.from_dict(self.record["report"])
        self.record["frozen"] = freeze_blocks(model, self.record["freeze"], self.record["freeze_part"])
        self.report = report
        return report

    def attach(self, task) -> None:
        """Give the training task the pre-trained parameter names and their learning rate."""
        if self.record is None:
            return
        names = {name for name, _ in task.model.named_parameters()}
        task.pretrained = frozenset(k for k in self.report.loaded if k in names)
        task.backbone_lr = self.record["backbone_lr"]

    def describe(self, lr: float) -> str:
        """The report, the frozen blocks and the learning rates, for the console."""
        r = self.record
        frozen = ", ".join(r["frozen"]) if r["frozen"] else "none"
        backbone = lr if r["backbone_lr"] is None else r["backbone_lr"]
        return (f"{self.report}\nfrozen blocks ({r['freeze_part']}): {frozen}\n"
                f"learning rates: {lr:g} for new layers, {backbone:g} for pre-trained ones")
