"""A judge of generated digits that fusegen's training never sees (an evaluation, not a test).

Generated images (any size, values in [0, 1]) are area-averaged to the digits' native 8x8 and
compared with scikit-learn's real digits there:

* **label accuracy**: the share a classifier trained on real digits (a plain-PyTorch CNN at 8x8,
  not fusegen's feature extractor) gives the conditioning label;
* **within-class diversity**: for each class, the mean pairwise distance between the samples of
  that class, divided by the same for the real digits of the class, averaged over classes; in
  two spaces, the classifier's penultimate features and the 8x8 pixels (1.0 = as varied as
  the real digits; mode collapse goes toward 0);
* **precision / recall / coverage** (Kynkäänniemi et al.; Naeem et al.) in the classifier's
  features, samples drawn with the real labels against all real digits.

``ceiling()`` scores the real digits after the round trip through fusegen's data pipeline
(``fusegen.data.digits(32)`` upsampled, then averaged back to 8x8): what a perfect generator at
32 px can reach.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusegen.metrics import density_coverage, precision_recall

NATIVE = 8


class _Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * 16, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def real_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 digits, (n, 1, 8, 8) in [0, 1], and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return torch.from_numpy(bunch.images).float()[:, None] / 16, torch.from_numpy(bunch.target)


def to_native(images: torch.Tensor) -> torch.Tensor:
    images = images.float()
    if images.shape[1] == 3:
        images = images.mean(1, keepdim=True)
    return F.adaptive_avg_pool2d(images, NATIVE) if images.shape[-1] != NATIVE else images


def _mean_pairwise(x: torch.Tensor) -> float:
    d = torch.cdist(x.double(), x.double(), compute_mode="donot_use_mm_for_euclid_dist")
    n = len(x)
    return float(d.sum() / (n * (n - 1))) if n > 1 else 0.0


class Judge:
    def __init__(self, seed: int = 0, epochs: int = 30) -> None:
        self.images, self.labels = real_digits()
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        self.net = _Classifier()
        opt = torch.optim.Adam(self.net.parameters(), 1e-3)
        n = len(self.images)
        for _ in range(epochs):
            for batch in torch.randperm(n, generator=g).split(64):
                # small random shifts: the judge must not read a digit's position as its class
                x = self.images[batch]
                dx, dy = torch.randint(-1, 2, (2,), generator=g).tolist()
                x = torch.roll(x, (dy, dx), (2, 3))
                opt.zero_grad()
                F.cross_entropy(self.net(x), self.labels[batch]).backward()
                opt.step()
        self.net.eval()
        self.real_features = self.features(self.images)
        self.real_diversity = {space: self._per_class(self._space(space, self.images), self.labels)
                               for space in ("features", "pixels")}

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.features(to_native(images))

    def _space(self, space: str, images: torch.Tensor) -> torch.Tensor:
        return self.features(images) if space == "features" else to_native(images).flatten(1)

    def _per_class(self, x: torch.Tensor, labels: torch.Tensor) -> list[float]:
        return [_mean_pairwise(x[labels == c]) for c in range(10)]

    @torch.no_grad()
    def score(self, images: torch.Tensor, labels: torch.Tensor,
              matched: torch.Tensor | None = None) -> dict:
        """Scores of ``images`` drawn for ``labels`` (ideally the same number per class);
        ``matched``: samples drawn with the real digits' labels, for precision/recall/coverage
        (default: ``images``)."""
        labels = labels.cpu()
        predicted = self.net(to_native(images)).argmax(1)
        per_class_acc = [float((predicted[labels == c] == c).float().mean()) for c in range(10)]
        result = {"label_accuracy": float((predicted == labels).float().mean()),
                  "worst_class_accuracy": min(per_class_acc)}
        for space in ("features", "pixels"):
            ratios = [d / r for d, r in zip(self._per_class(self._space(space, images), labels),
                                            self.real_diversity[space])]
            result[f"diversity_{space}"] = sum(ratios) / len(ratios)
        fake_features = self.features(matched if matched is not None else images)
        pr = precision_recall(self.real_features, fake_features)
        dc = density_coverage(self.real_features, fake_features)
        result.update(precision=pr.precision, recall=pr.recall, density=dc.density,
                      coverage=dc.coverage)
        return result

    def ceiling(self) -> dict:
        from fusegen.data import digits

        real = digits(32)
        return self.score(real.images, real.labels)


@torch.no_grad()
def score_faces(images: torch.Tensor) -> dict:
    """Unlabelled faces: the samples' mean pairwise distance over the real faces' (diversity),
    and precision / recall / coverage, all on 16x16 area-averaged pixels, against the 100 faces
    of ``fusegen.data.faces(32)``."""
    from fusegen.data import faces

    def pixels(x):
        return F.adaptive_avg_pool2d(x.float().mean(1, keepdim=True), 16).flatten(1)

    real, fake = pixels(faces(32).images), pixels(images)
    pr = precision_recall(real, fake)
    dc = density_coverage(real, fake)
    return {"diversity_pixels": _mean_pairwise(fake) / _mean_pairwise(real), "precision": pr.precision,
            "recall": pr.recall, "density": dc.density, "coverage": dc.coverage}


def draw(model, per_class: int = 100, seed: int = 123, labels: torch.Tensor | None = None):
    """``per_class`` samples of each of 10 classes (or one per entry of ``labels``) from a
    conditional generator with ``.sample``; returns (images, labels)."""
    g = torch.Generator().manual_seed(seed)
    if labels is None:
        labels = torch.arange(10).repeat_interleave(per_class)
    images = torch.cat([model.sample(len(chunk), labels=chunk, generator=g) for chunk in labels.split(200)])
    return images, labels


def judge_checkpoint(judge: Judge, path, per_class: int = 100, seed: int = 123) -> dict:
    import fusegen

    model = fusegen.load(path)
    images, labels = draw(model, per_class, seed)
    matched, _ = draw(model, seed=seed + 1, labels=judge.labels)
    return judge.score(images, labels, matched)


if __name__ == "__main__":
    import json
    import sys

    judge = Judge()
    print(json.dumps({"ceiling": judge.ceiling()}, indent=1))
    for path in sys.argv[1:]:
        print(path, json.dumps(judge_checkpoint(judge, path)))
