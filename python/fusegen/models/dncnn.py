"""DnCNN (Zhang et al. 2017): a residual denoiser, Conv+ReLU, (Conv+BN+ReLU) x (depth-2), Conv."""

from __future__ import annotations

import torch
from torch import nn

from ..nn import FusedConvNormAct
from .restoration import RestorationModel


class DnCNN(RestorationModel):
    """Predicts the noise of a noisy image; :meth:`denoise` subtracts it (residual learning).

    Args:
        channels: 1 (grayscale) or 3 (colour).
        depth: number of convolution layers (17 in the paper for a known sigma, 20 for blind).
        width: feature channels of the hidden layers (64 in the paper).

    ``model(noisy)`` returns the predicted noise; train it with the mean squared error against
    ``noisy - clean``. Images are in [0, 1], so sigma 25 (of 255) is 25/255.
    """

    kind = "dncnn"

    def __init__(self, channels: int = 1, depth: int = 17, width: int = 64) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}")
        if depth < 3:
            raise ValueError(f"depth must be at least 3, got {depth!r}")
        self.config = dict(channels=channels, depth=depth, width=width)
        self.channels = channels
        layers = [FusedConvNormAct(channels, width, 3, 1, 1, norm="none", activation="relu")]
        layers += [FusedConvNormAct(width, width, 3, 1, 1) for _ in range(depth - 2)]
        layers.append(FusedConvNormAct(width, channels, 3, 1, 1, norm="none", activation="none",
                                       bias=False))
        self.layers = nn.Sequential(*layers)
        for m in self.modules():  # the paper's initialization (He et al.), BN scale 1
            if isinstance(m, FusedConvNormAct):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """The predicted noise."""
        return self.layers(noisy)

    def restore(self, batch: torch.Tensor) -> torch.Tensor:
        return batch - self(batch)
