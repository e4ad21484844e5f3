"""Training a (conditional) ConvVAE on the negative ELBO."""

from __future__ import annotations

import torch

from ..models import ConvVAE
from . import distributed
from .task import Task


class VAETask(Task):
    """Adam (lr 1e-3) on ``recon + beta * kl``; validated on the negative ELBO of the validation
    images (lower is better), with its own random generator for the latent draws."""

    kind = "vae"
    metric = "neg_elbo"
    higher_is_better = False

    def __init__(self, model: ConvVAE, lr: float = 1e-3, grid_seed: int = 1234, grid_size: int = 64) -> None:
        super().__init__(model, lr)
        self.num_classes = model.num_classes
        self.make_sample_grid(self.num_classes, model.config["latent_dim"], grid_seed, grid_size)

    def setup(self, device, dist, amp) -> None:
        super().setup(device, dist, amp)
        self.net = distributed.wrap(self.model, dist, device)
        self.optimizers = {"vae": torch.optim.Adam(self.optimizer_params(self.model), self.lr)}

    def step(self, batch) -> dict[str, float]:
        images, labels = batch
        y = labels if self.num_classes else None
        opt = self.optimizers["vae"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            # Through the DDP wrapper (its forward), so gradients are all-reduced.
            logits, mu, logvar = self.net(images, y)
        losses = self.model.elbo_terms(logits, images, mu, logvar)
        self.scaler.scale(losses["loss"]).backward()
        self.scaler.step(opt)
        self.scaler.update()
        return {k: float(v.detach()) for k, v in losses.items()}

    @torch.no_grad()
    def validate(self, data) -> float:
        self.model.eval()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(4321)
            total = 0.0
            for start in range(0, len(data), 256):
                x = data.images[start:start + 256].to(self.device)
                y = data.labels[start:start + 256].to(self.device) if self.num_classes else None
                total += float(self.model.loss(x, y)["loss"]) * len(x)
        self.model.train()
        return total / len(data)

    def samples(self):
        self.model.eval()
        y = self.grid_labels.to(self.device) if self.grid_labels is not None else None
        with torch.no_grad():
            images = self.model.mean_image(self.model.decode(self.grid_z.to(self.device), y)).cpu()
        self.model.train()
        return images, self.grid_row
