"""Image features for the set metrics, without downloading any weights.

Inception features need weights from the internet; fusegen instead uses a domain feature extractor:
a small CNN trained on the data set's own labels (its penultimate layer gives the features), a
fixed-seed random CNN when there are no labels, or any ``nn.Module`` you pass.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..atomic import atomic_write
from ..checkpoint import read_torch_file

_FORMAT = "fusegen.metrics.FeatureExtractor/1"


class SmallCNN(nn.Module):
    """Three 3x3 convolutions, global 4x4 pooling and a linear feature layer; any image size >= 4x4.

    ``features(x)`` is the pre-activation of the penultimate layer; ``forward`` adds the ReLU and the
    class head used for training.
    """

    def __init__(self, in_channels: int, feature_dim: int = 64, width: int = 32, num_classes: int = 0):
        super().__init__()
        self.config = dict(in_channels=in_channels, feature_dim=feature_dim, width=width,
                           num_classes=num_classes)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, num_classes)) if num_classes else None
        # He initialisation keeps the activations' scale through the ReLUs, so that even untrained
        # (random) features have a spread of order 1, like the features the kernels were made for.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images * 2 - 1)  # [0, 1] images centred on 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise RuntimeError("this SmallCNN has no class head (num_classes=0)")
        return self.head(self.features(images))


class _Features(nn.Module):
    """SmallCNN's feature layer as a plain module, so that a FeatureExtractor can wrap it."""

    def __init__(self, net: SmallCNN):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.features(images)


class FeatureExtractor(nn.Module):
    """Maps images (N, C, H, W) in [0, 1] to features (N, D) for the set metrics.

    ``FeatureExtractor(module)`` wraps any ``nn.Module`` (its output is flattened to (N, D));
    ``FeatureExtractor()`` uses the fixed-seed random network, built for the channel count of the
    first images it sees. ``FeatureExtractor.train_classifier`` and ``FeatureExtractor.random``
    build fusegen's small CNN, which ``save``/``load`` can cache.

    Distances are only comparable between numbers computed with the same extractor: cache it.
    """

    def __init__(self, module: nn.Module | None = None):
        super().__init__()
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module or None, got {type(module).__name__}")
        self.module = module
        self.net: SmallCNN | None = None  # set when the module is fusegen's own, which can be saved
        self.description = "custom module" if module is not None else "random network (lazy)"

    # ------------------------------------------------------------------ construction

    @classmethod
    def _of(cls, net: SmallCNN, description: str) -> FeatureExtractor:
        extractor = cls(_Features(net))
        extractor.net = net
        extractor.description = description
        return extractor.eval()

    @classmethod
    def random(cls, in_channels: int, feature_dim: int = 64, width: int = 32, seed: int = 0
               ) -> FeatureExtractor:
        """The label-free fallback: the small CNN with fixed-seed random weights.

        Random convolutional features still separate textures, colours and shapes, but less
        sharply than trained ones; prefer :meth:`train_classifier` when labels exist.
        """
        for name, value in (("in_channels", in_channels), ("feature_dim", feature_dim), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = SmallCNN(in_channels, feature_dim, width)
        return cls._of(net, f"random network (seed {seed}, {feature_dim} features)")

    @classmethod
    def train_classifier(cls, images: torch.Tensor, labels: torch.Tensor, feature_dim: int = 64,
                         width: int = 32, epochs: int = 10, batch_size: int = 128, lr: float = 2e-3,
                         seed: int = 0, device: str | torch.device | None = None) -> FeatureExtractor:
        """Train the small CNN to classify ``images`` by ``labels``; features are its penultimate layer.

        Args:
            images: (N, C, H, W) floating-point images in [0, 1], H and W >= 4.
            labels: (N,) integer class labels in [0, num_classes).
            feature_dim: size of the feature layer.
            epochs, batch_size, lr: Adam training schedule.
            seed: seed of the initial weights and the batch order.
            device: where to train (default: the images' device).

        The training accuracy of the last epoch is kept in ``extractor.train_accuracy``.
        """
        images = _check_images(images, "images")
        if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"labels must be a 1-D tensor with one label per image ({images.shape[0]}), "
                             f"got {tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__}")
        if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.min() < 0:
            raise ValueError("labels must hold integer class indices >= 0")
        num_classes = int(labels.max()) + 1
        if num_classes < 2:
            raise ValueError("labels must name at least 2 classes to train a classifier")
        device = torch.device(device) if device is not None else images.device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = SmallCNN(images.shape[1], feature_dim, width, num_classes).to(device)
        gen = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        net.train()
        correct = 0
        with torch.enable_grad():
            for _ in range(epochs):
                correct = 0
                for idx in torch.randperm(images.shape[0], generator=gen).split(batch_size):
                    x, y = images[idx].to(device), labels[idx].to(device)
                    logits = net(x)
                    loss = F.cross_entropy(logits, y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    correct += int((logits.argmax(1) == y).sum())
        extractor = cls._of(net, f"classifier on {num_classes} classes ({feature_dim} features)")
        extractor.train_accuracy = correct / images.shape[0]
        return extractor

    # ------------------------------------------------------------------ use

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.module is None:
            fallback = FeatureExtractor.random(images.shape[1])
            self.module, self.net, self.description = fallback.module, fallback.net, fallback.description
            self.module.to(images.device)
        return self.module(images).flatten(1)

    @torch.no_grad()
    def extract(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Features (N, D) of images (N, C, H, W) in [0, 1], in batches of ``batch_size``, in eval mode.

        Batches run on the extractor's device; the features stay there.
        """
        images = _check_images(images, "images")
        if self.net is not None and images.shape[1] != self.net.config["in_channels"]:
            raise ValueError(f"images have {images.shape[1]} channels but this extractor takes "
                             f"{self.net.config['in_channels']}")
        was_training = self.training
        self.eval()
        try:
            param = next(self.parameters(), None)
            device = param.device if param is not None else images.device
            return torch.cat([self(images[i:i + batch_size].to(device))
                              for i in range(0, images.shape[0], batch_size)])
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ caching

    def save(self, path: str | os.PathLike) -> None:
        """Write the extractor to ``path`` atomically (a crash never leaves a half-written cache).

        Only fusegen's own networks (``random``, ``train_classifier``) can be saved; save a custom
        module with ``torch.save`` yourself.
        """
        if self.net is None:
            raise TypeError("only extractors made by FeatureExtractor.random or "
                            "FeatureExtractor.train_classifier can be saved; this one wraps a custom module")
        path = Path(path)
        state = {"format": _FORMAT, "config": self.net.config, "description": self.description,
                 "state_dict": {k: v.cpu() for k, v in self.net.state_dict().items()}}
        with atomic_write(path) as f:
            torch.save(state, f)

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> FeatureExtractor:
        """Read an extractor written by :meth:`save` (weights only: no code is unpickled)."""
        state = read_torch_file(path, map_location, what="feature extractor file")
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a fusegen feature extractor file")
        net = SmallCNN(**state["config"])
        net.load_state_dict(state["state_dict"])
        return cls._of(net.to(map_location), state["description"])


def _check_images(images: object, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W), got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(images.shape)}")
    if not images.dtype.is_floating_point:
        raise TypeError(f"{name} must be floating-point images in [0, 1], got dtype {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} holds no images")
    if images.shape[2] < 4 or images.shape[3] < 4:
        raise ValueError(f"{name} must be at least 4x4 pixels, got {images.shape[2]}x{images.shape[3]}")
    return images.float() if images.dtype in (torch.float16, torch.bfloat16) else images
