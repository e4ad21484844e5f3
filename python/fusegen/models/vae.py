"""A convolutional variational autoencoder (Kingma & Welling 2014) on fused blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import ContinuousBernoulli

from ..nn import FusedConvNormAct
from .dcgan import check_image_shape, resolve_labels


LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")


def continuous_bernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    """The mean of a continuous Bernoulli with these logits, ``1 / (1 - exp(-l)) - 1 / l``
    (1/2 at l = 0), computed in float64 so that it reaches 0 and 1 for large |l| (torch's
    ``ContinuousBernoulli.mean`` clamps its probabilities and stops at 0.063 / 0.937 in float32)."""
    l = logits.double()
    small = l.abs() < 1e-3
    safe = torch.where(small, torch.ones_like(l), l)
    mean = torch.where(small, 0.5 + l / 12, -1 / torch.expm1(-safe) - 1 / safe)
    return mean.clamp(0, 1).to(logits.dtype)


class ConvVAE(nn.Module):
    """Encoder Conv+BN+LeakyReLU blocks down to 4x4, a Gaussian latent, decoder
    ConvTranspose+BN+ReLU blocks back up to one value per pixel.

    Images are in [0, 1]. The loss is the negative ELBO with a beta weight on the KL term
    (Higgins et al. 2017), averaged over the batch: ``recon + beta * kl``, where ``recon`` is the
    negative log-likelihood of the pixels under the decoder, summed over pixels:

    * ``"bernoulli"``: binary cross-entropy with the decoder's logits (mean image: their sigmoid);
    * ``"continuous_bernoulli"``: the normalised density on [0, 1] of Loaiza-Ganem & Cunningham
      (2019), ``torch.distributions.ContinuousBernoulli`` (mean image: its mean);
    * ``"gaussian"``: a Gaussian around ``sigmoid(logits)`` whose variance is the batch's mean
      squared error (the calibrated decoder of Rybkin et al. 2021, "sigma-VAE"): the loss
      becomes ``pixels / 2 * log(mse)``, which weighs reconstruction against the KL term by
      how well the decoder already reconstructs.

    Args:
        channels: 1 or 3. image_size: 16, 32 or 64. latent_dim: size of z.
        width: channels of the first encoder block (doubled at each halving).
        num_classes: 0, or the number of classes for a conditional VAE: a learned label
            embedding is given to the encoder's head and to the decoder.
        beta: weight of the KL term.
        likelihood: the decoder's pixel likelihood, one of ``LIKELIHOODS`` (above).
    """

    kind = "vae"

    def __init__(self, channels: int = 1, image_size: int = 32, latent_dim: int = 16,
                 width: int = 32, num_classes: int = 0, embed_dim: int = 16,
                 beta: float = 1.0, likelihood: str = "bernoulli") -> None:
        super().__init__()
        halvings = check_image_shape(image_size, channels, num_classes)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.config = dict(channels=channels, image_size=image_size, latent_dim=latent_dim,
                           width=width, num_classes=num_classes, embed_dim=embed_dim, beta=beta,
                           likelihood=likelihood)
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        extra = embed_dim if num_classes else 0
        enc, c = [], channels
        for i in range(halvings):
            enc.append(FusedConvNormAct(c, width * 2**i, 4, 2, 1, activation="leaky_relu"))
            c = width * 2**i
        self.encoder = nn.Sequential(*enc)
        self.top = (c, 4)
        flat = c * 16
        self.to_stats = nn.Linear(flat + extra, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim + extra, flat)
        dec = []
        for i in reversed(range(1, halvings)):
            dec.append(FusedConvNormAct(width * 2**i, width * 2 ** (i - 1), 4, 2, 1, transposed=True))
        dec.append(FusedConvNormAct(width, channels, 4, 2, 1, transposed=True, norm="none",
                                    activation="none"))
        self.decoder = nn.Sequential(*dec)

    @property
    def num_classes(self) -> int:
        return self.config["num_classes"]

    def _label_code(self, labels: torch.Tensor | None, n: int) -> list[torch.Tensor]:
        if self.embed is None:
            if labels is not None:
                raise ValueError("this VAE is unconditional: it takes no labels")
            return []
        if labels is None:
            raise ValueError("this VAE is conditional: pass labels")
        return [self.embed(labels)]

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """The posterior's mean and log-variance, each (n, latent_dim)."""
        h = self.encoder(x).flatten(1)
        stats = self.to_stats(torch.cat([h, *self._label_code(labels, len(x))], dim=1))
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's pixel logits (n, C, H, W); :meth:`mean_image` turns them into images."""
        h = self.from_latent(torch.cat([z, *self._label_code(labels, len(z))], dim=1))
        h = F.relu(h).view(len(z), self.top[0], self.top[1], self.top[1])
        return self.decoder(h)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None):
        """Reconstruction logits, mean and log-variance, with z drawn by reparameterization."""
        mu, logvar = self.encode(x, labels)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z, labels), mu, logvar

    def loss(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``{"loss": recon + beta * kl, "recon": ..., "kl": ...}``, means over the batch."""
        logits, mu, logvar = self(x, labels)
        return self.elbo_terms(logits, x, mu, logvar)

    def elbo_terms(self, logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor,
                   logvar: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms from a forward pass's outputs (see :meth:`loss`)."""
        logits, x = logits.float(), x.float()
        likelihood = self.config["likelihood"]
        if likelihood == "bernoulli":
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        elif likelihood == "continuous_bernoulli":
            recon = -ContinuousBernoulli(logits=logits).log_prob(x).sum() / len(x)
        else:
            mse = (torch.sigmoid(logits) - x).square().mean()
            recon = 0.5 * x[0].numel() * torch.log(mse + 1e-8)
        mu, logvar = mu.float(), logvar.float()
        kl = -0.5 * torch.sum(1 + logvar - mu.square() - logvar.exp()) / len(x)
        return {"loss": recon + self.config["beta"] * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def sample(self, n: int, labels=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images decoded from the prior, shape (n, C, H, W), values in [0, 1]."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config["latent_dim"], generator=generator).to(device)
        y = resolve_labels(labels, n, self.num_classes, generator, device)
        return self.mean_image(self.decode(z, y))

    def mean_image(self, logits: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image in [0, 1] for its ``logits``."""
        logits = logits.float()
        if self.config["likelihood"] == "continuous_bernoulli":
            return continuous_bernoulli_mean(logits)
        return torch.sigmoid(logits)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        """Mean reconstructions of images ``x`` (n, C, H, W) in [0, 1], through the posterior mean."""
        y = resolve_labels(labels, len(x), self.num_classes, None, x.device) if (
            labels is not None or self.num_classes == 0) else None
        if self.num_classes and y is None:
            raise ValueError("this VAE is conditional: pass labels")
        mu, _ = self.encode(x, y)
        return self.mean_image(self.decode(mu, y))

