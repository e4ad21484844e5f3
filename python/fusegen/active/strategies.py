"""Query strategies: which unlabelled pool items to label next.

A strategy is called as ``strategy(context, k)`` and returns ``k`` distinct unlabelled pool
indices (a long tensor). Built-in strategies, by name (:func:`make_strategy`):

* ``"random"`` -- uniform draws: the baseline every other strategy must beat.
* ``"entropy"`` -- the highest predictive entropy of the current classifier (uncertainty sampling).
* ``"disagreement"`` -- query by committee: K classifiers trained on the labelled set from
  different initial weights (optionally on bootstrap resamples); score ``"vote_entropy"`` (the
  default: entropy of the members' votes) or ``"mutual_information"`` (the mean KL divergence of
  each member from the committee's averaged prediction, i.e. BALD's H[mean p] - mean H[p] with a
  committee in place of dropout samples). The defaults won a pilot on digits (see BENCHMARKS.md);
  mutual information with bootstraps lost to random there.
* ``"discriminator"`` -- Discriminative Active Learning (Gissin & Shalev-Shwartz 2019): a small
  MLP learns labelled-vs-unlabelled in an embedding space, and the items it most confidently calls
  unlabelled (least like the labelled set) are queried, in sub-batches with a retrain between them.
  (A binary classifier on embeddings, not the GAN's discriminator.)
* ``"kcenter"`` -- the greedy k-center core-set (Sener & Savarese 2018): repeatedly the item
  farthest from everything labelled or chosen, in an embedding space.

Embeddings (the ``embedding`` option of the last two): ``"learner"`` -- the current classifier's
penultimate features (as in both papers; the default), ``"pixels"`` -- the flattened images, or any
function mapping images (N, C, H, W) to features (N, D), e.g. a
:class:`fusegen.metrics.FeatureExtractor` or a VAE encoder (a latent space).

Scoring functions (:func:`entropy`, :func:`mutual_information`, :func:`vote_entropy`,
:func:`kcenter_greedy`, :func:`discriminative_selection`) work on plain tensors and are exported
for reuse and testing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F

from ..ops import weighted_sum
from .learner import Learner

# ---------------------------------------------------------------------------- scores


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of each row of probabilities (N, C); 0 log 0 counts as 0."""
    _check_probs(probs, "probs", 2)
    return -torch.special.xlogy(probs, probs).sum(-1)


def committee_mean(member_probs: torch.Tensor) -> torch.Tensor:
    """The committee's averaged prediction (N, C) of member probabilities (K, N, C), by the fused
    :func:`fusegen.ops.weighted_sum` with weights 1/K."""
    _check_probs(member_probs, "member_probs", 3)
    k = member_probs.shape[0]
    weights = torch.full((k,), 1.0 / k, dtype=member_probs.dtype, device=member_probs.device)
    return weighted_sum(member_probs.contiguous(), weights)


def mutual_information(member_probs: torch.Tensor) -> torch.Tensor:
    """Disagreement (N,) of a committee's probabilities (K, N, C): H[mean_k p_k] - mean_k H[p_k],
    which equals the mean KL divergence of the members from their average. 0 when they agree."""
    mean = committee_mean(member_probs)
    per_member = -torch.special.xlogy(member_probs, member_probs).sum(-1).mean(0)
    return (-torch.special.xlogy(mean, mean).sum(-1) - per_member).clamp_min(0)


def vote_entropy(member_probs: torch.Tensor) -> torch.Tensor:
    """Entropy (N,) of the members' votes (their argmax classes) of probabilities (K, N, C)."""
    _check_probs(member_probs, "member_probs", 3)
    votes = F.one_hot(member_probs.argmax(-1), member_probs.shape[-1]).to(member_probs.dtype)
    share = votes.mean(0)
    return -torch.special.xlogy(share, share).sum(-1)


def kcenter_greedy(features: torch.Tensor, labelled: torch.Tensor, k: int,
                   candidates: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Greedy k-center selection: ``k`` rows of ``features`` (N, D), each the candidate farthest
    (Euclidean) from the labelled rows and the ones already chosen.

    ``labelled``: indices (or an (N,) bool mask) of the centres there already; ``candidates``:
    indices that may be chosen (default: every unlabelled row). With nothing labelled, the first
    pick is drawn at random with ``generator``. Returns a long tensor of ``k`` distinct indices.
    """
    n = features.shape[0]
    labelled = _indices(labelled, n)
    allowed = torch.zeros(n, dtype=torch.bool, device=features.device)
    allowed[_indices(candidates, n).to(features.device) if candidates is not None else slice(None)] = True
    allowed[labelled.to(features.device)] = False
    _check_k(k, int(allowed.sum()))
    feats = features.float()
    if labelled.numel():
        centres = feats[labelled.to(features.device)]
        nearest = torch.cat([torch.cdist(chunk, centres).min(1).values for chunk in feats.split(4096)])
    else:
        nearest = torch.full((n,), math.inf, device=features.device)
    chosen = []
    for _ in range(k):
        score = nearest.masked_fill(~allowed, -1.0)
        if math.isinf(float(score.max())):  # nothing labelled yet: a random first centre
            pool = allowed.nonzero().flatten()
            i = int(pool[torch.randint(len(pool), (1,), generator=generator)])
        else:
            i = int(score.argmax())
        chosen.append(i)
        allowed[i] = False
        nearest = torch.minimum(nearest, (feats - feats[i]).norm(dim=1))
    return torch.tensor(chosen, dtype=torch.long)


def discriminative_selection(features: torch.Tensor, labelled: torch.Tensor, k: int,
                             sub_batches: int = 4, hidden: int = 64, steps: int = 200,
                             lr: float = 1e-2, seed: int = 0) -> torch.Tensor:
    """Discriminative Active Learning: ``k`` unlabelled rows of ``features`` (N, D) that a
    labelled-vs-unlabelled classifier most confidently calls unlabelled.

    The classifier is an MLP (one hidden layer of ``hidden`` units; 0: logistic regression) on
    standardised features, trained full-batch with Adam for ``steps`` steps with the two classes
    weighted equally. The ``k`` picks are made in ``sub_batches`` rounds, each retraining the
    classifier with the earlier picks counted as labelled, so that a batch does not pile up in one
    unexplored region (Gissin & Shalev-Shwartz 2019).
    """
    n = features.shape[0]
    is_labelled = torch.zeros(n, dtype=torch.bool, device=features.device)
    is_labelled[_indices(labelled, n).to(features.device)] = True
    _check_k(k, int((~is_labelled).sum()))
    if sub_batches < 1:
        raise ValueError(f"sub_batches must be >= 1, got {sub_batches}")
    x = features.float()
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    chosen: list[int] = []
    sizes = [k // sub_batches + (1 if b < k % sub_batches else 0) for b in range(sub_batches)]
    for b, size in enumerate(size for size in sizes if size > 0):
        if not is_labelled.any():  # nothing labelled to tell apart: random picks
            p_unlabelled = torch.rand(n, generator=torch.Generator().manual_seed(seed + b)).to(x.device)
        else:
            p_unlabelled = _labelled_vs_unlabelled(x, is_labelled, hidden, steps, lr, seed + b)
        p_unlabelled = p_unlabelled.masked_fill(is_labelled, -1.0)
        picks = p_unlabelled.topk(size).indices
        is_labelled[picks] = True
        chosen.extend(picks.tolist())
    return torch.tensor(chosen, dtype=torch.long)


def _labelled_vs_unlabelled(x: torch.Tensor, is_labelled: torch.Tensor, hidden: int, steps: int,
                            lr: float, seed: int) -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hidden:
            net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                                      torch.nn.Linear(hidden, 1))
        else:
            net = torch.nn.Linear(x.shape[1], 1)
    net = net.to(x.device)
    target = (~is_labelled).float()  # 1: unlabelled
    n_lab = float(is_labelled.sum())
    weight = torch.where(is_labelled, 0.5 / n_lab, 0.5 / (len(x) - n_lab))
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = (F.binary_cross_entropy_with_logits(net(x).squeeze(1), target, reduction="none")
                    * weight).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        return torch.sigmoid(net(x).squeeze(1))


# ---------------------------------------------------------------------------- context


@dataclass
class QueryContext:
    """What a strategy may look at when choosing: the pool's images, what is labelled, the fitted
    classifier, and a seed. Results of the expensive looks are cached in ``cache``.

    images: the pool (N, C, H, W). labelled, labels: labelled indices and their labels.
    learner: the classifier fitted on them this round. seed: this round's seed (reproducible
    choices); generator: a CPU torch.Generator seeded with it. embedding: the default embedding.
    """

    images: torch.Tensor
    labelled: torch.Tensor
    labels: torch.Tensor
    learner: Learner
    seed: int = 0
    embedding: str | Callable[[torch.Tensor], torch.Tensor] = "learner"
    generator: torch.Generator = field(init=False)
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)
        mask = torch.zeros(len(self.images), dtype=torch.bool)
        mask[self.labelled.cpu()] = True
        self.labelled_mask = mask
        self.unlabelled = (~mask).nonzero().flatten()

    @property
    def size(self) -> int:
        return len(self.images)

    def probabilities(self) -> torch.Tensor:
        """The learner's class probabilities (len(unlabelled), C) for the unlabelled items."""
        if "probs" not in self.cache:
            self.cache["probs"] = self.learner.predict_proba(self.images[self.unlabelled])
        return self.cache["probs"]

    def embed(self, embedding: str | Callable | None = None) -> torch.Tensor:
        """Features (N, D) of the whole pool in ``embedding`` (default: the context's)."""
        embedding = self.embedding if embedding is None else embedding
        key = f"embed:{embedding if isinstance(embedding, str) else id(embedding)}"
        if key not in self.cache:
            if embedding == "learner":
                feats = self.learner.features(self.images)
            elif embedding == "pixels":
                feats = self.images.flatten(1)
            elif callable(embedding):
                with torch.no_grad():
                    feats = torch.cat([torch.as_tensor(embedding(chunk)).flatten(1)
                                       for chunk in self.images.split(512)])
            else:
                raise ValueError(f"embedding must be 'learner', 'pixels' or a function of images, "
                                 f"got {embedding!r}")
            self.cache[key] = feats.float()
        return self.cache[key]


# ---------------------------------------------------------------------------- strategies


class Strategy:
    """Base class: subclasses set ``name`` and implement :meth:`select`."""

    name = "strategy"

    def __call__(self, context: QueryContext, k: int) -> torch.Tensor:
        _check_k(k, len(context.unlabelled))
        chosen = self.select(context, k)
        return chosen.long().cpu()

    def select(self, context: QueryContext, k: int) -> torch.Tensor:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{self.name}({opts})" if opts else self.name

    def __repr__(self) -> str:
        return self.describe()


STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator adding a :class:`Strategy` subclass to :data:`STRATEGIES` under its name."""
    STRATEGIES[cls.name] = cls
    return cls


@register_strategy
class RandomStrategy(Strategy):
    """Uniform draws from the unlabelled items: the baseline."""

    name = "random"

    def select(self, context, k):
        order = torch.randperm(len(context.unlabelled), generator=context.generator)
        return context.unlabelled[order[:k]]


@register_strategy
class EntropyStrategy(Strategy):
    """The ``k`` items of highest predictive entropy under the current classifier."""

    name = "entropy"

    def select(self, context, k):
        scores = entropy(context.probabilities())
        return context.unlabelled[scores.topk(k).indices.cpu()]


@register_strategy
class DisagreementStrategy(Strategy):
    """Query by committee: ``committee`` classifiers with different seeds (on bootstrap resamples
    of the labelled set when ``bootstrap``); ``measure`` is ``"vote_entropy"`` or
    ``"mutual_information"`` (mean KL from the averaged prediction)."""

    name = "disagreement"
    MEASURES = {"mutual_information": mutual_information, "vote_entropy": vote_entropy}

    def __init__(self, committee: int = 4, measure: str = "vote_entropy", bootstrap: bool = False):
        if isinstance(committee, bool) or not isinstance(committee, int) or committee < 2:
            raise ValueError(f"committee must be an integer >= 2, got {committee!r}")
        if measure not in self.MEASURES:
            raise ValueError(f"measure must be one of {sorted(self.MEASURES)}, got {measure!r}")
        self.committee, self.measure, self.bootstrap = committee, measure, bootstrap

    def options(self):
        return {"committee": self.committee, "measure": self.measure, "bootstrap": self.bootstrap}

    def member_probabilities(self, context: QueryContext) -> torch.Tensor:
        """(committee, len(unlabelled), C) probabilities of freshly trained members."""
        x, y = context.images[context.labelled], context.labels
        pool = context.images[context.unlabelled]
        probs = []
        for m in range(self.committee):
            member = context.learner.clone_config()
            member.config = _cold(member.config)
            member.fit(x, y, seed=context.seed * 7919 + 101 * (m + 1), bootstrap=self.bootstrap)
            probs.append(member.predict_proba(pool))
        return torch.stack(probs)

    def select(self, context, k):
        scores = self.MEASURES[self.measure](self.member_probabilities(context))
        return context.unlabelled[scores.topk(k).indices.cpu()]


@register_strategy
class DiscriminatorStrategy(Strategy):
    """Discriminative Active Learning in ``embedding`` space (see :func:`discriminative_selection`)."""

    name = "discriminator"

    def __init__(self, embedding: str | Callable | None = None, sub_batches: int = 4,
                 hidden: int = 64, steps: int = 100):
        if sub_batches < 1 or steps < 1 or hidden < 0:
            raise ValueError("sub_batches and steps must be >= 1 and hidden >= 0, got "
                             f"{sub_batches}, {steps}, {hidden}")
        self.embedding, self.sub_batches, self.hidden, self.steps = embedding, sub_batches, hidden, steps

    def options(self):
        return {"embedding": _name(self.embedding), "sub_batches": self.sub_batches,
                "hidden": self.hidden, "steps": self.steps}

    def select(self, context, k):
        feats = context.embed(self.embedding)
        return discriminative_selection(feats, context.labelled, k, self.sub_batches, self.hidden,
                                        self.steps, seed=context.seed)


@register_strategy
class KCenterStrategy(Strategy):
    """Greedy k-center core-set in ``embedding`` space (see :func:`kcenter_greedy`)."""

    name = "kcenter"

    def __init__(self, embedding: str | Callable | None = None):
        self.embedding = embedding

    def options(self):
        return {"embedding": _name(self.embedding)}

    def select(self, context, k):
        feats = context.embed(self.embedding)
        return kcenter_greedy(feats, context.labelled, k, generator=context.generator)


def make_strategy(strategy: str | Strategy | Callable, **options: Any) -> Strategy | Callable:
    """A strategy from its name (with its options), or ``strategy`` itself if it is callable."""
    if isinstance(strategy, str):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
        try:
            return STRATEGIES[strategy](**options)
        except TypeError as exc:
            raise TypeError(f"strategy {strategy!r}: {exc}") from None
    if options:
        raise TypeError("options are only for strategies given by name")
    if not callable(strategy):
        raise TypeError(f"strategy must be a name ({', '.join(STRATEGIES)}) or a function "
                        f"(context, k) -> indices, got {type(strategy).__name__}")
    return strategy


def strategy_name(strategy: Any) -> str:
    return getattr(strategy, "name", None) or getattr(strategy, "__name__", None) or type(strategy).__name__


# ---------------------------------------------------------------------------- helpers


def _cold(config):
    """A committee member always trains from its own initial weights."""
    from dataclasses import replace

    return replace(config, warm_start=False)


def _name(embedding) -> str:
    if embedding is None or isinstance(embedding, str):
        return embedding or "context default"
    return getattr(embedding, "__name__", type(embedding).__name__)


def _check_probs(probs: object, name: str, dim: int) -> None:
    if not isinstance(probs, torch.Tensor) or not probs.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor")
    if probs.dim() != dim:
        raise ValueError(f"{name} must have {dim} dimensions, got shape {tuple(probs.shape)}")


def _check_k(k: int, available: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (items to query) must be an integer >= 1, got {k!r}")
    if k > available:
        raise ValueError(f"cannot query {k} items: only {available} are unlabelled")


def _indices(indices: torch.Tensor | None, n: int) -> torch.Tensor:
    if indices is None:
        return torch.empty(0, dtype=torch.long)
    indices = torch.as_tensor(indices)
    if indices.dtype == torch.bool:
        if indices.shape != (n,):
            raise ValueError(f"a mask must have shape ({n},), got {tuple(indices.shape)}")
        return indices.nonzero().flatten().cpu()
    return indices.long().flatten().cpu()
