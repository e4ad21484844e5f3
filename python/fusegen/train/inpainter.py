"""Training an inpainting U-Net on images with random holes."""

from __future__ import annotations

import torch

from ..data import MaskedImages
from ..metrics import psnr
from ..models import InpaintingUNet
from . import distributed
from .task import Task


DISTANCES = ("l1", "l2", "psnr")
# distance="psnr": the MSE floor of each image's hole term (a 50 dB ceiling), so that a patch
# filled exactly does not dominate the gradient.
PSNR_FLOOR = 1e-5


def inpainting_loss(predicted: torch.Tensor, clean: torch.Tensor, missing: torch.Tensor, *,
                    hole_weight: float = 6.0, valid_weight: float = 1.0, tv_weight: float = 0.0,
                    distance: str = "l1") -> dict[str, torch.Tensor]:
    """The pixel terms of Liu et al.'s (2018) loss: ``valid_weight`` x the error over the known
    pixels + ``hole_weight`` x the error over the missing ones (each a sum divided by the number
    of values, so the hole term weighs with the hole's area), + ``tv_weight`` x the total
    variation of the composite (prediction in the holes, the image elsewhere) over the pixel
    pairs that touch a hole. The error is the absolute difference (``distance="l1"``, Liu et
    al.'s) or its square (``"l2"``, what PSNR scores). ``"psnr"``: squares too, but the hole term
    is the mean over the images of ``10 log10(MSE over the image's holes + 1e-5)`` -- the
    negative of the mean hole PSNR, which weighs every image alike as mean PSNR does, where a
    plain mean lets the patches with the largest errors (textures) dominate; images without
    holes are left out of it. Returns the weighted ``"loss"`` and its ``"hole"``, ``"valid"``,
    ``"tv"`` terms.

    ``predicted``, ``clean``: (N, C, H, W); ``missing``: bool (N, 1 or C, H, W), True = missing.
    (Liu et al.'s perceptual and style terms need a pre-trained VGG, which fusegen does without.)
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")
    error = (predicted - clean).abs() if distance == "l1" else (predicted - clean).square()
    in_holes = torch.where(missing, error, torch.zeros((), dtype=error.dtype, device=error.device))
    if distance == "psnr":
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
    images, known pixels kept (higher is better). The default loss, 6 x the negative hole PSNR
    per patch + the MSE over the known pixels, was the steadiest of those measured (L1 as in
    Liu et al., MSE, per-patch PSNR; see ``experiments/inpaint``).

    Args:
        model: the network.
        lr: Adam's learning rate.
        hole_weight, valid_weight, tv_weight, distance: the loss (:func:`inpainting_loss`).

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
                 valid_weight: float = 1.0, tv_weight: float = 0.0, distance: str = "psnr",
                 preview: MaskedImages | None = None) -> None:
        super().__init__(model, lr)
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
        with self.autocast():
            predicted = self.net(known, (~missing).to(clean.dtype))
        terms = inpainting_loss(predicted.float(), clean, missing, **self.weights)
        self.scaler.scale(terms["loss"]).backward()
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
