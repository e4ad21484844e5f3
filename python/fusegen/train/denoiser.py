"""Training a DnCNN on noisy/clean pairs: residual learning of the noise."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..metrics import psnr
from ..models import DnCNN
from . import distributed
from .task import Task


class DenoiserTask(Task):
    """Adam (lr 1e-3) on the mean squared error between the predicted and the true noise
    (Zhang et al. 2017); validated on the PSNR of denoised validation pairs (higher is better)."""

    kind = "dncnn"
    metric = "psnr"
    higher_is_better = True

    def __init__(self, model: DnCNN, lr: float = 1e-3) -> None:
        super().__init__(model, lr)
        self._val: tuple[torch.Tensor, torch.Tensor] | None = None

    def setup(self, device, dist, amp) -> None:
        super().setup(device, dist, amp)
        self.net = distributed.wrap(self.model, dist, device)
        self.optimizers = {"dncnn": torch.optim.Adam(self.optimizer_params(self.model), self.lr)}

    def step(self, batch) -> dict[str, float]:
        noisy, clean = batch
        opt = self.optimizers["dncnn"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            predicted = self.net(noisy)
        loss = F.mse_loss(predicted.float(), noisy - clean)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)
        self.scaler.update()
        return {"loss": float(loss.detach())}

    @torch.no_grad()
    def validate(self, data) -> float:
        if self._val is None:  # the pairs' noise is fixed by their seed: build them once
            pairs = [data[i] for i in range(len(data))]
            self._val = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
        noisy, clean = self._val
        self.model.eval()
        restored = torch.cat([self.model.denoise(noisy[i:i + 64].to(self.device)).cpu()
                              for i in range(0, len(noisy), 64)])
        self.model.train()
        return float(psnr(restored.double(), clean.double()).mean())
