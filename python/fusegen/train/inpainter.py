"""Training an inpainting U-Net on images with random holes."""

from __future__ import annotations

import torch

from ..data import MASK_KINDS, MaskedImages, kind_groups
from ..metrics import psnr
from ..models import InpaintingUNet
from ..models.inpaint import smooth_fill
from . import distributed
from .task import Task


DISTANCES = ("l1", "l2", "psnr", "relative")
# Gradients are clipped to this norm: the errors of large holes come in bursts that would
# otherwise fill Adam's second moments and stall the learning of small corrections for
# hundreds of steps (experiments/inpaint).
MAX_GRAD_NORM = 0.01
# distance="psnr": the MSE floor of each image's hole term (a 50 dB ceiling), so that a patch
# filled exactly does not dominate the gradient.
PSNR_FLOOR = 1e-5


def inpainting_loss(predicted: torch.Tensor, clean: torch.Tensor, missing: torch.Tensor, *,
                    hole_weight: float = 6.0, valid_weight: float = 1.0, tv_weight: float = 0.0,
                    distance: str = "l1", baseline: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The pixel terms of Liu et al.'s (2018) loss: ``valid_weight`` x the error over the known
    pixels + ``hole_weight`` x the error over the missing ones (each a sum divided by the number
    of values, so the hole term weighs with the hole's area), + ``tv_weight`` x the total
    variation of the composite (prediction in the holes, the image elsewhere) over the pixel
    pairs that touch a hole. The error is the absolute difference (``distance="l1"``, Liu et
    al.'s) or its square (``"l2"``, what PSNR scores). ``"psnr"``: squares too, but the hole term
    is the mean over the images of ``10 log10(MSE over the image's holes + 1e-5)`` -- the
    negative of the mean hole PSNR, which weighs every image alike as mean PSNR does, where a
    plain mean lets the patches with the largest errors (textures) dominate; images without
    holes are left out of it. ``"relative"``: the batch's images fall into the blocks of
    :func:`fusegen.data.kind_groups` (a stratified batch's mask kinds); the hole term is the
    mean over the blocks of the block's squared error over its holes divided by that of
    ``baseline`` (a fill the model corrects, without gradient). Within a block the images are
    pooled, as PSNR over a whole image pools its regions; across blocks each kind weighs by its
    relative gain, as the per-kind mean PSNR does, so the large errors of big holes do not
    drown the small ones of scattered pixels. Returns the weighted ``"loss"`` and its
    ``"hole"``, ``"valid"``, ``"tv"`` terms.

    ``predicted``, ``clean``: (N, C, H, W); ``missing``: bool (N, 1 or C, H, W), True = missing.
    (Liu et al.'s perceptual and style terms need a pre-trained VGG, which fusegen does without.)
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")
    if distance == "relative" and (baseline is None or baseline.shape != predicted.shape):
        raise ValueError(f"distance='relative' needs a baseline of the prediction's shape "
                         f"{tuple(predicted.shape)}, got "
                         f"{None if baseline is None else tuple(baseline.shape)}")
    error = (predicted - clean).abs() if distance == "l1" else (predicted - clean).square()
    in_holes = torch.where(missing, error, torch.zeros((), dtype=error.dtype, device=error.device))
    if distance == "relative":
        with torch.no_grad():
            base = torch.where(missing, (baseline - clean).square(), torch.zeros((), dtype=error.dtype,
                                                                              device=error.device))
        groups = kind_groups(len(error)).to(error.device)

        def per_group(t: torch.Tensor) -> torch.Tensor:  # each block's sum over its images
            return t.new_zeros(len(MASK_KINDS)).index_add(0, groups, t.flatten(1).sum(1))

        ours, fill = per_group(in_holes), per_group(base)
        scored = fill > 0  # a block the baseline fills exactly (or without holes) is left out
        hole = (ours[scored] / fill[scored]).mean() if bool(scored.any()) else in_holes.sum() * 0
    elif distance == "psnr":
        count = missing.expand_as(error).flatten(1).sum(1)
        mse = in_holes.flatten(1).sum(1) / count.clamp(min=1)
        hole = (10 * torch.log10(mse[count > 0] + PSNR_FLOOR)).mean() if bool((count > 0).any()) \
            else in_holes.sum()
    else:
        hole = in_holes.mean()
    valid = torch.where(missing, torch.zeros((), dtype=error.dtype, device=error.device), error).mean()
    loss = hole_weight * hole + valid_weight * valid
    tv = torch.zeros((), dtype=error.dtype, device=error.device)
    if tv_weight:
        composite = torch.where(missing, predicted, clean)
        near_x = (missing[..., :, 1:] | missing[..., :, :-1]).to(error.dtype)
        near_y = (missing[..., 1:, :] | missing[..., :-1, :]).to(error.dtype)
        tv = ((composite[..., :, 1:] - composite[..., :, :-1]).abs() * near_x).mean() + \
             ((composite[..., 1:, :] - composite[..., :-1, :]).abs() * near_y).mean()
        loss = loss + tv_weight * tv
    return {"loss": loss, "hole": hole, "valid": valid, "tv": tv}


class InpaintingTask(Task):
    """Adam on :func:`inpainting_loss` of an :class:`~fusegen.models.InpaintingUNet`'s prediction
    (the known pixels zeroed in its input); validated on the PSNR of the inpainted validation
    images, known pixels kept (higher is better). The default loss for a model that corrects a
    fill, its squared error over the holes relative to the fill's, per mask kind, with clipped
    gradients, is the one of those measured that learned corrections which carry over to
    unseen photographs (L1 as in Liu et al., MSE, per-patch PSNR did not; see
    ``experiments/inpaint``).

    Args:
        model: the network.
        lr: Adam's learning rate.
        hole_weight, valid_weight, tv_weight, distance: the loss (:func:`inpainting_loss`);
            ``distance`` None: ``"relative"`` for a model that corrects a fill (the gain over
            that fill, each mask kind alike), ``"psnr"`` for one without.
        max_grad_norm: the gradients' norm is clipped to it (None: not clipped).

        preview: a :class:`~fusegen.data.MaskedImages` whose first image of each mask kind
            makes the sample grids (rows: damaged -- holes in white --, inpainted, original);
            None: no grids.

    Batches are ``(clean, missing)`` (:class:`~fusegen.data.MaskedPatches`); validation data
    is a :class:`~fusegen.data.MaskedImages`. After each validation, ``psnr_by_kind`` holds the
    mean PSNR of each mask kind.
    """

    kind = "inpaint"
    metric = "psnr"
    higher_is_better = True

    def __init__(self, model: InpaintingUNet, lr: float = 2e-3, *, hole_weight: float = 6.0,
                 valid_weight: float = 1.0, tv_weight: float = 0.0, distance: str | None = None,
                 max_grad_norm: float | None = MAX_GRAD_NORM, preview: MaskedImages | None = None) -> None:
        super().__init__(model, lr)
        with_fill = getattr(model, "fill", "none") != "none"
        distance = ("relative" if with_fill else "psnr") if distance is None else distance
        if distance == "relative" and not with_fill:
            raise ValueError("distance='relative' measures the correction of a fill; the model has fill='none'")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be None or > 0, got {max_grad_norm!r}")
        self.max_grad_norm = max_grad_norm
        self.weights = dict(hole_weight=hole_weight, valid_weight=valid_weight, tv_weight=tv_weight,
                            distance=distance)
        self.psnr_by_kind: dict[str, float] = {}
        self.preview = preview

    def setup(self, device, dist, amp) -> None:
        super().setup(device, dist, amp)
        self.net = distributed.wrap(self.model, dist, device)
        self.optimizers = {"inpaint": torch.optim.Adam(self.optimizer_params(self.model), self.lr)}

    def step(self, batch) -> dict[str, float]:
        clean, missing = batch
        opt = self.optimizers["inpaint"]
        opt.zero_grad(set_to_none=True)
        known = torch.where(missing, torch.zeros((), dtype=clean.dtype, device=clean.device), clean)
        valid = (~missing).to(clean.dtype)
        baseline = None
        if self.weights["distance"] == "relative":  # the fill, computed once for the model and the loss
            with torch.no_grad():
                baseline = smooth_fill(known, valid)
        with self.autocast():
            predicted = self.net(known, valid, fill=baseline)
        terms = inpainting_loss(predicted.float(), clean, missing, baseline=baseline, **self.weights)
        self.scaler.scale(terms["loss"]).backward()
        if self.max_grad_norm is not None:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.scaler.step(opt)
        self.scaler.update()
        return {k: float(v.detach()) for k, v in terms.items() if k != "tv" or self.weights["tv_weight"]}

    @torch.no_grad()
    def validate(self, data: MaskedImages) -> float:
        self.model.eval()
        scores = []
        for i in range(0, len(data), 16):
            clean = data.clean[i:i + 16].to(self.device)
            filled = self.model.inpaint(clean, data.missing[i:i + 16].to(self.device))
            scores.append(psnr(filled.double(), clean.double()).cpu())
        self.model.train()
        scores = torch.cat(scores)
        kinds = data.kinds
        self.psnr_by_kind = {k: float(scores[[j for j, n in enumerate(kinds) if n == k]].mean())
                             for k in dict.fromkeys(kinds)}
        return float(scores.mean())

    @torch.no_grad()
    def samples(self) -> tuple[torch.Tensor, int] | None:
        if self.preview is None:
            return None
        first = [self.preview.kinds.index(k) for k in dict.fromkeys(self.preview.kinds)]
        clean, missing = self.preview.clean[first].to(self.device), self.preview.missing[first].to(self.device)
        self.model.eval()
        filled = self.model.inpaint(clean, missing)
        self.model.train()
        damaged = clean.masked_fill(missing, 1.0)
        return torch.stack([damaged, filled, clean], 1).flatten(0, 1).cpu(), 3
