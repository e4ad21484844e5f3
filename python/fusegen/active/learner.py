"""The label model an active-learning loop retrains each round: fusegen's small CNN classifier.

It is the same network as :class:`fusegen.metrics.SmallCNN` (three 3x3 convolutions, pooling, a
feature layer and a class head), trained with Adam on the labelled items for a fixed number of
steps, so that one round costs the same whatever the labelled count. ``warm_start`` fine-tunes the
previous round's weights instead of starting again from the seed's initial weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.nn import functional as F

from ..metrics.features import SmallCNN


@dataclass
class LearnerConfig:
    """How the classifier is built and trained.

    width, feature_dim: the SmallCNN's first convolution width and feature size.
    steps: Adam steps on the labelled set per fit (batches drawn with replacement).
    batch_size, lr, weight_decay: the optimizer's settings.
    warm_start: fine-tune the last fit's weights (for ``fine_tune_steps`` steps, default
        ``steps // 2``) rather than retrain from the initial weights.
    """

    width: int = 16
    feature_dim: int = 64
    steps: int = 150
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.0
    warm_start: bool = False
    fine_tune_steps: int | None = None

    def check(self) -> None:
        for name in ("width", "feature_dim", "steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"learner {name} must be an integer >= 1, got {value!r}")
        if self.fine_tune_steps is not None and (not isinstance(self.fine_tune_steps, int)
                                                 or self.fine_tune_steps < 1):
            raise ValueError(f"learner fine_tune_steps must be an integer >= 1 or None, "
                             f"got {self.fine_tune_steps!r}")
        if not self.lr > 0:
            raise ValueError(f"learner lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"learner weight_decay must be >= 0, got {self.weight_decay!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class Learner:
    """A SmallCNN classifier of ``num_classes`` classes for images with ``in_channels`` channels.

    ``fit(images, labels, seed)`` trains it (from scratch, or from the last weights with
    ``warm_start``); ``predict_proba``, ``predict``, ``features`` and ``accuracy`` use it.
    Images are (N, C, H, W) in [0, 1]; they are moved to ``device`` batch by batch.
    """

    def __init__(self, in_channels: int, num_classes: int, config: LearnerConfig | None = None,
                 device: str | torch.device = "cpu"):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        self.config = config or LearnerConfig()
        self.config.check()
        self.in_channels, self.num_classes = in_channels, num_classes
        self.device = torch.device(device)
        self.net: SmallCNN | None = None
        self.fits = 0

    def clone_config(self) -> Learner:
        """A new, untrained learner with this one's settings (for a committee)."""
        return Learner(self.in_channels, self.num_classes, self.config, self.device)

    def _new_net(self, seed: int) -> SmallCNN:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = SmallCNN(self.in_channels, self.config.feature_dim, self.config.width, self.num_classes)
        return net.to(self.device)

    def fit(self, images: torch.Tensor, labels: torch.Tensor, seed: int = 0,
            bootstrap: bool = False) -> Learner:
        """Train on ``images`` (N, C, H, W) and ``labels`` (N,); returns self.

        ``bootstrap``: train on N items drawn with replacement (a committee member's resample).
        """
        c = self.config
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (N, {self.in_channels}, H, W), got {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must be ({images.shape[0]},), got {tuple(labels.shape)}")
        if images.shape[0] == 0:
            raise ValueError("cannot fit a learner on no labelled images")
        gen = torch.Generator().manual_seed(seed)
        x, y = images.to(self.device), labels.to(self.device).long()
        if bootstrap:
            pick = torch.randint(0, len(x), (len(x),), generator=gen).to(self.device)
            x, y = x[pick], y[pick]
        warm = c.warm_start and self.net is not None
        steps = (c.fine_tune_steps or max(1, c.steps // 2)) if warm else c.steps
        if not warm:
            self.net = self._new_net(seed)
        net = self.net
        optimizer = torch.optim.Adam(net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        batch = min(c.batch_size, len(x))
        draws = torch.randint(0, len(x), (steps, batch), generator=gen).to(self.device)
        net.train()
        with torch.enable_grad():
            for step in range(steps):
                b = draws[step]
                loss = F.cross_entropy(net(x[b]), y[b])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        net.eval()
        self.fits += 1
        return self

    def _require_net(self) -> SmallCNN:
        if self.net is None:
            raise RuntimeError("this learner has not been fitted yet: call fit(images, labels)")
        return self.net

    @torch.no_grad()
    def _batched(self, fn, images: torch.Tensor, batch_size: int) -> torch.Tensor:
        out = [fn(images[i:i + batch_size].to(self.device)) for i in range(0, len(images), batch_size)]
        return torch.cat(out) if out else torch.empty(0, device=self.device)

    def logits(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        net = self._require_net()
        return self._batched(net, images, batch_size)

    def predict_proba(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Class probabilities (N, num_classes), on the learner's device."""
        return self.logits(images, batch_size).softmax(1)

    def predict(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        return self.logits(images, batch_size).argmax(1)

    def features(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """The penultimate layer (N, feature_dim) after its ReLU: what the class head sees."""
        net = self._require_net()
        return self._batched(lambda x: net.features(x).relu(), images, batch_size)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
        predicted = self.predict(images, batch_size)
        return float((predicted == labels.to(predicted.device)).float().mean())
