"""DCGAN (Radford et al. 2016) on fused Conv -> BatchNorm -> activation blocks.

Generator: a latent vector (and, when conditional, a learned label embedding) is projected to a
4x4 map by a transposed convolution, then doubled in size by ConvTranspose+BN+ReLU blocks, and a
last transposed convolution + Tanh gives the image. Discriminator: Conv+LeakyReLU(0.2), then
Conv+BN+LeakyReLU(0.2) blocks halving the size down to 4x4, and a 4x4 convolution to one logit;
the conditional discriminator adds a projection term (Miyato & Koyama 2018).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..nn import FusedConvNormAct

IMAGE_SIZES = (16, 32, 64)


def check_image_shape(image_size: int, channels: int, num_classes: int) -> int:
    """Checks a generator's image shape; returns the number of x2 upsamplings from 4x4 to it."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0 (0: unconditional), got {num_classes!r}")
    return int(math.log2(image_size // 4))  # number of x2 size changes between 4x4 and the image


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.'s initialization: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02).

    The generator's label embedding keeps nn.Embedding's N(0, 1): at N(0, 0.02) the labels
    would be drowned by the N(0, 1) noise they are concatenated with, and conditioning would be
    learned slowly."""
    for m in module.modules():
        if isinstance(m, FusedConvNormAct):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            if m.norm_weight is not None:
                nn.init.normal_(m.norm_weight, 1.0, 0.02)
                nn.init.zeros_(m.norm_bias)


class DCGANGenerator(nn.Module):
    """Maps latent vectors (n, latent_dim) -- and labels (n,) when conditional -- to images
    (n, channels, image_size, image_size) in [-1, 1].

    Args:
        latent_dim: size of the noise vector z.
        channels: 1 (grayscale) or 3 (colour).
        image_size: 16, 32 or 64.
        width: channels of the last hidden block; earlier blocks double it (64 in the paper).
        num_classes: 0 for an unconditional generator; otherwise labels in [0, num_classes) are
            embedded (``embed_dim`` values) and concatenated to z.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 32,
                 width: int = 64, num_classes: int = 0, embed_dim: int = 16) -> None:
        super().__init__()
        doublings = check_image_shape(image_size, channels, num_classes)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_dim = latent_dim + (embed_dim if num_classes else 0)
        mult = 2 ** (doublings - 1)
        blocks = [FusedConvNormAct(in_dim, width * mult, 4, 1, 0, transposed=True)]  # 1 -> 4 px
        for _ in range(doublings - 1):
            blocks.append(FusedConvNormAct(width * mult, width * mult // 2, 4, 2, 1, transposed=True))
            mult //= 2
        blocks.append(FusedConvNormAct(width, channels, 4, 2, 1, transposed=True, bias=False,
                                       norm="none", activation="tanh"))
        self.blocks = nn.Sequential(*blocks)
        dcgan_init(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.blocks(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Maps images (n, channels, image_size, image_size) in [-1, 1] to real/fake logits (n,).

    Args:
        channels, image_size, width, num_classes: as for :class:`DCGANGenerator`.
        spectral_norm: constrain every convolution's spectral norm to 1 (Miyato et al. 2018);
            batch normalization is then left out, as in their SN-DCGAN.
        minibatch_std: group size of the minibatch standard deviation feature (Karras et al.
            2018): the last 4x4 features get one more channel, the spread of the features across
            each group of that many images of the batch, so the discriminator sees a batch of
            near-copies for what it is (a collapsed generator); 0: none.
        aux_classifier: a linear classifier of the labels on the summed last features, for the
            auxiliary classification loss of AC-GAN (Odena et al. 2017); conditional only.
    With ``num_classes > 0`` the logit gets a projection term ``<embed(y), sum_hw features>``.
    """

    def __init__(self, channels: int = 1, image_size: int = 32, width: int = 64,
                 num_classes: int = 0, spectral_norm: bool = False, minibatch_std: int = 0,
                 aux_classifier: bool = False) -> None:
        super().__init__()
        doublings = check_image_shape(image_size, channels, num_classes)
        if aux_classifier and not num_classes:
            raise ValueError("aux_classifier needs a conditional discriminator (num_classes > 0)")
        if isinstance(minibatch_std, bool) or not isinstance(minibatch_std, int) or minibatch_std < 0:
            raise ValueError(f"minibatch_std must be an integer group size >= 0 (0: none), got {minibatch_std!r}")
        self.num_classes, self.minibatch_std = num_classes, minibatch_std
        norm = "none" if spectral_norm else "batch"
        blocks = [FusedConvNormAct(channels, width, 4, 2, 1, bias=False, norm="none",
                                   activation="leaky_relu")]
        mult = 1
        for _ in range(doublings - 1):
            blocks.append(FusedConvNormAct(width * mult, width * mult * 2, 4, 2, 1, norm=norm,
                                           activation="leaky_relu", bias=False))
            mult *= 2
        self.features = nn.Sequential(*blocks)
        self.head = FusedConvNormAct(width * mult + (1 if minibatch_std else 0), 1, 4, 1, 0, bias=False,
                                     norm="none", activation="none")
        self.project = nn.Embedding(num_classes, width * mult) if num_classes else None
        self.classifier = nn.Linear(width * mult, num_classes) if aux_classifier else None
        dcgan_init(self)
        if self.project is not None:
            # Small, as the convolutions: a large projection term lets the discriminator win
            # at once (measured: the generator collapsed to a constant image).
            nn.init.normal_(self.project.weight, 0.0, 0.02)
        if spectral_norm:
            for m in self.modules():
                if isinstance(m, FusedConvNormAct):
                    nn.utils.parametrizations.spectral_norm(m, "weight")
            if self.project is not None:
                nn.utils.parametrizations.spectral_norm(self.project, "weight")

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                classify: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Real/fake logits (n,); with ``classify``, also the auxiliary classifier's class
        logits (n, num_classes) from the same pass."""
        h = self.features(x)
        logit = self.head(minibatch_stddev(h, self.minibatch_std) if self.minibatch_std else h).flatten()
        pooled = h.sum(dim=(2, 3))
        if self.project is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass labels")
            logit = logit + (self.project(labels) * pooled).sum(dim=1)
        if not classify:
            return logit
        if self.classifier is None:
            raise ValueError("this discriminator has no auxiliary classifier (aux_classifier=False)")
        return logit, self.classifier(pooled.float())


def minibatch_stddev(h: torch.Tensor, group: int) -> torch.Tensor:
    """``h`` (n, C, H, W) with one more channel: the standard deviation of the features across
    each group of images (images i, i + n/g, ... form a group of g, g the largest divisor of n
    up to ``group``), averaged over features and positions, broadcast over the map."""
    n, _, height, width = h.shape
    g = max(d for d in range(1, min(group, n) + 1) if n % d == 0)
    y = h.float().reshape(g, n // g, *h.shape[1:])
    spread = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
    spread = spread.to(h.dtype).reshape(1, n // g, 1, 1, 1).expand(g, -1, 1, height, width)
    return torch.cat([h, spread.reshape(n, 1, height, width)], dim=1)


class DCGAN(nn.Module):
    """A generator and a discriminator, with ``sample`` for users of a trained model.

    ``fusegen.load`` returns it in eval mode, with the generator's exponential moving average
    weights when the checkpoint has them. The training recipe of the paper (Adam, lr 2e-4,
    betas (0.5, 0.999)) is the trainer's default for this model.

    Args:
        latent_dim, channels, image_size, width, num_classes, embed_dim: see
            :class:`DCGANGenerator` (``width`` is shared with the discriminator).
        spectral_norm: spectral normalization in the discriminator.
        minibatch_std: the discriminator's minibatch standard deviation group (0: none).
        aux_classifier: the discriminator's auxiliary label classifier (conditional only).
    """

    kind = "dcgan"

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 32,
                 width: int = 64, num_classes: int = 0, embed_dim: int = 16,
                 spectral_norm: bool = False, minibatch_std: int = 0, aux_classifier: bool = False) -> None:
        super().__init__()
        self.config = dict(latent_dim=latent_dim, channels=channels, image_size=image_size,
                           width=width, num_classes=num_classes, embed_dim=embed_dim,
                           spectral_norm=spectral_norm, minibatch_std=minibatch_std,
                           aux_classifier=aux_classifier)
        self.generator = DCGANGenerator(latent_dim, channels, image_size, width, num_classes, embed_dim)
        self.discriminator = DCGANDiscriminator(channels, image_size, width, num_classes, spectral_norm,
                                                minibatch_std, aux_classifier)

    @property
    def num_classes(self) -> int:
        return self.config["num_classes"]

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The generator's images in [-1, 1]."""
        return self.generator(z, labels)

    @torch.no_grad()
    def sample(self, n: int, labels=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated images, shape (n, C, H, W), values in [0, 1].

        ``labels``: for a conditional model, class labels (a sequence or tensor of n ints, or one
        int for all); drawn uniformly when None. ``generator``: a ``torch.Generator`` (on the
        CPU) that makes the noise reproducible.
        """
        device = next(self.parameters()).device
        z = torch.randn(n, self.config["latent_dim"], generator=generator).to(device)
        y = resolve_labels(labels, n, self.num_classes, generator, device)
        return (self.generator(z, y).float() + 1) / 2


def resolve_labels(labels, n: int, num_classes: int, generator: torch.Generator | None,
                   device) -> torch.Tensor | None:
    """Labels as a (n,) long tensor on ``device``, checked; drawn uniformly if None."""
    if num_classes == 0:
        if labels is not None:
            raise ValueError("this model is unconditional: it takes no labels")
        return None
    if labels is None:
        return torch.randint(0, num_classes, (n,), generator=generator).to(device)
    y = torch.as_tensor(labels, dtype=torch.long)
    if y.numel() == 1:  # one label for every sample
        y = y.reshape(()).expand(n)
    if y.shape != (n,):
        raise ValueError(f"labels must be one int or {n} of them, got shape {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got {y.tolist()}")
    return y.to(device)
