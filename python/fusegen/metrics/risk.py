"""Per-sample risk scores: which generated samples look least like the real set.

Each function takes (n, d) real and generated features and returns one score per generated
sample, so that the worst samples can be inspected or filtered.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch.nn import functional as F

from . import _checks
from ._distances import distance_chunks, kth_neighbour_distance, kth_neighbour_radii


class TwoSampleTest(NamedTuple):
    """Result of :func:`classifier_two_sample_test`."""

    accuracy: float
    p_value: float
    fake_risk: torch.Tensor


def realism_score(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3,
                  keep_fraction: float = 0.5, batch_size: int | None = None) -> torch.Tensor:
    """Realism score of each generated sample (Kynkäänniemi et al., 2019).

    ``max_i radius_i / |fake - real_i|`` over real samples i, where radius_i is the distance from
    real_i to its k-th nearest real neighbour. A score >= 1 means the sample lies inside some real
    ball (it would count towards precision); below 1 it lies outside all of them. Range
    [0, inf); **higher is better** (more realistic); the lowest scores are the riskiest samples.
    As in the paper, only the ``keep_fraction`` of real balls with the smallest radii are used, so
    that a few huge balls around real outliers do not make everything look realistic.

    Returns:
        (n_fake,) tensor.
    """
    real, fake = _checks.pair(real_feats, fake_feats)
    k = _checks.neighbours(k, real.shape[0], "real_feats")
    if not 0 < keep_fraction <= 1:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    radii = kth_neighbour_radii(real, k, batch_size)
    keep = radii.argsort()[:max(1, math.ceil(keep_fraction * real.shape[0]))]
    real, radii = real[keep], radii[keep]
    tiny = torch.finfo(real.dtype).tiny  # a generated copy of a real sample scores huge, not inf
    scores = torch.empty(fake.shape[0], dtype=real.dtype, device=real.device)
    for start, d in distance_chunks(fake, real, batch_size):
        scores[start:start + d.shape[0]] = (radii / d.clamp_min(tiny)).amax(dim=1)
    return scores


def knn_distance(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 1,
                 batch_size: int | None = None) -> torch.Tensor:
    """Distance from each generated sample to its k-th nearest real sample.

    Large values flag generated samples far from anything real; values near 0 (with k = 1) flag
    near-copies of real samples (memorisation). Range [0, inf), in feature units; **lower means
    closer to the real set**.

    Returns:
        (n_fake,) tensor.
    """
    real, fake = _checks.pair(real_feats, fake_feats)
    k = _checks.positive_int(k, "k")
    if k > real.shape[0]:
        raise ValueError(f"k={k} is larger than real_feats' {real.shape[0]} samples")
    return kth_neighbour_distance(fake, real, k, batch_size)


def classifier_two_sample_test(real_feats: torch.Tensor, fake_feats: torch.Tensor, folds: int = 2,
                               hidden: int = 0, steps: int = 100, weight_decay: float = 1e-3,
                               seed: int = 0) -> TwoSampleTest:
    """Classifier two-sample test (Lopez-Paz & Oquab, 2017) with a per-sample "confidence risk".

    Trains a small classifier to tell real from generated features: logistic regression by
    default, or with ``hidden > 0`` one hidden layer of ReLU units, which also catches non-linear
    differences but costs about ``hidden / 2`` times as much per iteration. It is fitted by
    full-batch L-BFGS (at most ``steps`` iterations) with an L2 penalty ``weight_decay`` on the
    weights. With ``folds``-fold cross-fitting, every sample is scored by a classifier that did
    not train on it.

    * ``accuracy``: held-out balanced accuracy, in [0, 1]. 0.5 means the classifier cannot tell
      the sets apart (**closer to 0.5 is better**); 1 means they are fully separable.
    * ``p_value``: one-sided p-value of that accuracy under "the sets come from one distribution"
      (normal approximation); small values mean the difference is real, not chance.
    * ``fake_risk``: (n_fake,) held-out probability that each generated sample is generated, in
      [0, 1]; **lower is better**. Samples the classifier confidently calls fake are the riskiest.
      Only meaningful when the accuracy is clearly above 0.5.
    """
    real, fake = _checks.pair(real_feats, fake_feats)
    folds = _checks.positive_int(folds, "folds")
    if folds < 2:
        raise ValueError(f"folds must be >= 2 so that every sample is scored held-out, got {folds}")
    for name, x in (("real_feats", real), ("fake_feats", fake)):
        if x.shape[0] < folds:
            raise ValueError(f"{name} has {x.shape[0]} samples, fewer than folds={folds}")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
        raise ValueError(f"hidden must be an integer >= 0, got {hidden!r}")
    steps = _checks.positive_int(steps, "steps")
    gen = torch.Generator().manual_seed(seed)
    x = torch.cat([real, fake]).float()
    y = torch.cat([torch.zeros(real.shape[0]), torch.ones(fake.shape[0])]).to(x.device)
    # Stratified folds: each fold holds the same share of real and of generated samples.
    fold = torch.cat([torch.randperm(real.shape[0], generator=gen) % folds,
                      torch.randperm(fake.shape[0], generator=gen) % folds]).to(x.device)
    prob = torch.empty_like(y)
    for f in range(folds):
        train, test = fold != f, fold == f
        model = _train_classifier(x[train], y[train], hidden, steps, weight_decay, gen)
        prob[test] = torch.sigmoid(model(x[test]))
    n_real = real.shape[0]
    real_correct = (prob[:n_real] < 0.5).double().mean()
    fake_correct = (prob[n_real:] >= 0.5).double().mean()
    accuracy = float((real_correct + fake_correct) / 2)
    # Under the null hypothesis each held-out call is a coin flip: per-class accuracy has
    # variance 1/(4 n), and the balanced accuracy averages the two classes.
    std = math.sqrt((0.25 / n_real + 0.25 / fake.shape[0]) / 4)
    p_value = 0.5 * math.erfc((accuracy - 0.5) / std / math.sqrt(2))
    return TwoSampleTest(accuracy, p_value, prob[n_real:].to(fake.dtype))


def _train_classifier(x: torch.Tensor, y: torch.Tensor, hidden: int, steps: int,
                      weight_decay: float, gen: torch.Generator):
    """Full-batch L-BFGS on standardised features, classes weighted to count equally.

    L-BFGS rather than Adam: on 5k x 64 features it converges in a few dozen passes over the
    data where Adam needed hundreds, and it has no learning rate to tune.
    """
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    d = x.shape[1]
    if hidden:
        params = [torch.randn(d, hidden, generator=gen) / math.sqrt(d), torch.zeros(hidden),
                  torch.randn(hidden, generator=gen) / math.sqrt(hidden), torch.zeros(())]
    else:
        params = [torch.zeros(d), torch.zeros(())]
    params = [p.to(x.device).requires_grad_() for p in params]
    weights = params[::2]  # the penalty spares the biases

    def logits(z: torch.Tensor) -> torch.Tensor:
        if hidden:
            z = torch.relu(z @ params[0] + params[1])
        return z @ params[-2] + params[-1]

    n_fake = y.sum()
    pos_weight = (y.numel() - n_fake) / n_fake.clamp_min(1)
    z = (x - mean) / std  # standardised once: per iteration it would cost more than the model
    optimizer = torch.optim.LBFGS(params, lr=1, max_iter=steps, history_size=10,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(logits(z), y, pos_weight=pos_weight)
        loss = loss + weight_decay / 2 * sum(w.pow(2).sum() for w in weights)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)

    def predict(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return logits((inputs - mean) / std)

    return predict
