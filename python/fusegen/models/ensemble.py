"""Ensembles of trained models, each combined by the fused weighted sum (:func:`fusegen.ops.weighted_sum`).

Three ways to combine K models with weights ``w`` on the probability simplex (``w_k >= 0``,
``sum_k w_k = 1``):

* ``"mixture"`` (generators): each sample comes from one member, member ``k`` with probability
  ``w_k``. The samples are assembled with per-sample one-hot weights. A pixel average of GAN
  samples is *not* a sample of the mixture: it blurs the members' modes together.
* ``"average"`` (restoration models, VAE reconstructions): the output-space weighted average
  ``sum_k w_k f_k(x)``. Denoisers with different errors (NLM and DnCNN) can beat each member.
* ``"soup"``: one model whose parameters are the weighted average of same-architecture models'
  parameters (Wortsman et al. 2022). Meaningful for models fine-tuned from one initialisation:
  independently initialised networks differ by a permutation of their units and do not average.

Weights are fixed or learned from data: for restoration, by least squares on validation pairs
(exact on the simplex) or by gradient descent on their mean PSNR; for generators, by minimising
the squared MMD between the mixture's features and real features (exact on the simplex).
:meth:`Ensemble.report` scores the ensemble beside each member on the same metric.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import weighted_sum

__all__ = ["MODES", "Ensemble", "format_table", "least_squares_weights", "mmd_mixture_weights",
           "simplex_qp", "soup"]

MODES = ("mixture", "average", "soup")
# Learned weights are softmax(logits); a zero weight becomes this logit (softmax ~1e-30 of it).
_ZERO_LOGIT = -70.0
# Above this many members, simplex_qp solves by projected gradient instead of enumerating supports.
_MAX_ENUMERATED = 12


# ----------------------------------------------------------------------------- weights

def normalize_weights(weights: object, k: int, name: str = "weights") -> torch.Tensor:
    """``weights`` as a float64 (k,) tensor on the simplex: checked, then divided by their sum.

    ``None`` gives uniform weights 1/k. Otherwise k finite numbers >= 0, not all 0 (``[3, 1]``
    and ``[0.75, 0.25]`` are the same weights). Raises ``ValueError``/``TypeError`` naming
    ``name``, what was expected and what came.
    """
    if weights is None:
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    if isinstance(weights, torch.Tensor):
        if not (weights.is_floating_point() or weights.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"{name} must hold real numbers, got a {weights.dtype} tensor")
        w = weights.detach().to("cpu", torch.float64).flatten() if weights.dim() <= 1 else None
        if w is None:
            raise ValueError(f"{name} must have shape ({k},), got {tuple(weights.shape)}")
    else:
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
            raise TypeError(f"{name} must be a sequence of {k} numbers or a tensor, got "
                            f"{type(weights).__name__}")
        try:
            w = torch.tensor([float(v) for v in weights], dtype=torch.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be numbers, got {list(weights)!r}") from None
    if w.numel() != k:
        raise ValueError(f"{name} must have one weight per member ({k}), got {w.numel()}: {w.tolist()}")
    if not torch.isfinite(w).all():
        raise ValueError(f"{name} must be finite, got {w.tolist()}")
    if (w < 0).any():
        raise ValueError(f"{name} must be >= 0 (they are mixture proportions / convex "
                         f"combination weights), got {w.tolist()}")
    total = float(w.sum())
    if total <= 0:
        raise ValueError(f"{name} must not all be 0, got {w.tolist()}")
    return w / total


def _project_to_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of v (K,) onto {w >= 0, sum w = 1} (Held et al. / Duchi et al. 2008)."""
    u, _ = torch.sort(v, descending=True)
    css = u.cumsum(0) - 1
    ind = torch.arange(1, len(v) + 1, dtype=v.dtype, device=v.device)
    rho = int((u - css / ind > 0).nonzero().max())
    theta = css[rho] / (rho + 1)
    return (v - theta).clamp_min(0)


def simplex_qp(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The minimiser of ``w^T A w - 2 b^T w`` over the simplex ``{w >= 0, sum w = 1}``.

    Both weight-learning objectives are this quadratic: least squares on validation outputs and
    the squared MMD of a mixture. ``A`` (K, K) is made symmetric positive semi-definite (its
    negative eigenvalues, from estimation noise, are clamped to 0) plus a 1e-9 relative ridge,
    so the problem is convex with one minimiser. Up to 12 members the solution is exact: the
    minimiser restricted to its support solves the equality-constrained problem there, so every
    support's KKT system is solved and the best feasible one kept (at most 4095 K-by-K solves).
    Beyond that, accelerated projected gradient (5000 iterations) gives it to high accuracy.

    Returns float64 (K,) weights on the simplex.
    """
    A = torch.as_tensor(A, dtype=torch.float64).cpu()
    b = torch.as_tensor(b, dtype=torch.float64).cpu().flatten()
    K = b.numel()
    if A.shape != (K, K):
        raise ValueError(f"A must be ({K}, {K}) for b of {K} entries, got {tuple(A.shape)}")
    if not (torch.isfinite(A).all() and torch.isfinite(b).all()):
        raise ValueError("A and b must be finite")
    A = (A + A.T) / 2
    values, vectors = torch.linalg.eigh(A)
    A = (vectors * values.clamp_min(0)) @ vectors.T
    scale = max(float(A.diagonal().abs().mean()), float(b.abs().max()), 1e-300)
    A = A + 1e-9 * scale * torch.eye(K, dtype=torch.float64)

    def objective(w: torch.Tensor) -> float:
        return float(w @ A @ w - 2 * b @ w)

    if K > _MAX_ENUMERATED:
        return _simplex_qp_projected(A, b)
    best, best_value = None, math.inf
    for size in range(1, K + 1):
        for support in itertools.combinations(range(K), size):
            s = list(support)
            kkt = torch.zeros(size + 1, size + 1, dtype=torch.float64)
            kkt[:size, :size] = 2 * A[s][:, s]
            kkt[:size, size] = 1
            kkt[size, :size] = 1
            rhs = torch.cat([2 * b[s], torch.ones(1, dtype=torch.float64)])
            try:
                solution = torch.linalg.solve(kkt, rhs)
            except RuntimeError:  # singular: another support holds the minimiser
                continue
            if (solution[:size] < -1e-12).any():
                continue
            w = torch.zeros(K, dtype=torch.float64)
            w[s] = solution[:size].clamp_min(0)
            w = w / w.sum()
            value = objective(w)
            if value < best_value:
                best, best_value = w, value
    if best is None:  # cannot happen for a positive definite A; be safe
        return _simplex_qp_projected(A, b)
    return best


def _simplex_qp_projected(A: torch.Tensor, b: torch.Tensor, iterations: int = 5000) -> torch.Tensor:
    """FISTA with simplex projections for ``simplex_qp`` (any K)."""
    K = b.numel()
    step = 1.0 / (2 * float(torch.linalg.eigvalsh(A).max()) + 1e-300)
    w = torch.full((K,), 1.0 / K, dtype=torch.float64)
    y, t = w.clone(), 1.0
    for _ in range(iterations):
        w_next = _project_to_simplex(y - step * (2 * A @ y - 2 * b))
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        y = w_next + (t - 1) / t_next * (w_next - w)
        w, t = w_next, t_next
    return w


def _gram(outputs: Sequence[torch.Tensor], target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``A = Y Y^T / P``, ``b = Y t / P``, ``c = t.t / P`` of flattened outputs Y (K, P), in float64."""
    ys = [o.detach().flatten().double() for o in outputs]
    t = target.detach().flatten().double().to(ys[0].device)
    P = t.numel()
    Y = torch.stack(ys)
    return (Y @ Y.T).cpu() / P, (Y @ t).cpu() / P, float(t @ t) / P


def least_squares_weights(outputs: torch.Tensor | Sequence[torch.Tensor],
                          target: torch.Tensor) -> torch.Tensor:
    """Weights on the simplex minimising ``mean((sum_k w_k outputs[k] - target)^2)``.

    Args:
        outputs: the K members' outputs, a list of same-shaped tensors or one (K, ...) tensor.
        target: what they should be (the clean images), of one output's shape.

    The mean squared error over all pixels is the quantity whose log is the PSNR of the set taken
    as one signal, so these weights maximise that PSNR. Constrained to the simplex (a convex
    combination, solved exactly by :func:`simplex_qp`): the output stays in the members' range,
    and on the fitting data the result is never worse than the best member (each member alone is
    a feasible point). Unconstrained least squares could extrapolate with negative weights,
    which over-fits a small validation set.
    """
    outputs = list(outputs.unbind(0)) if isinstance(outputs, torch.Tensor) else list(outputs)
    if not outputs:
        raise ValueError("outputs must hold at least one member's output, got none")
    for k, o in enumerate(outputs):
        if o.shape != target.shape:
            raise ValueError(f"outputs[{k}] must have the target's shape {tuple(target.shape)}, "
                             f"got {tuple(o.shape)}")
    A, b, _ = _gram(outputs, target)
    return simplex_qp(A, b)


def _kernel_mean(x: torch.Tensor, y: torch.Tensor, same: bool, chunk: int = 2048) -> float:
    """Mean of KID's kernel ``(x.y / d + 1)^3`` over pairs; without the diagonal when ``same``."""
    d = x.shape[1]
    total = 0.0
    for start in range(0, x.shape[0], chunk):
        block = torch.addmm(torch.ones((), dtype=torch.float64, device=x.device),
                            x[start:start + chunk], y.T, alpha=1.0 / d).pow_(3)
        total += float(block.sum())
    if same:
        diagonal = ((x * x).sum(1) / d + 1).pow(3).sum()
        n = x.shape[0]
        return (total - float(diagonal)) / (n * (n - 1))
    return total / (x.shape[0] * y.shape[0])


def mmd_quadratic(member_features: Sequence[torch.Tensor], real_features: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(A, b, c)`` with ``MMD^2(sum_k w_k P_k, P_real) = w^T A w - 2 b^T w + c`` (KID's kernel).

    ``A[j, k]`` is the mean kernel between members j and k's features (unbiased: without the
    ``k(x, x)`` terms when j = k), ``b[k]`` the mean kernel between member k's features and the
    real ones, ``c`` the real set's within-set mean. Float64.
    """
    feats = [_check_features(f, f"member_features[{k}]") for k, f in enumerate(member_features)]
    real = _check_features(real_features, "real_features")
    if not feats:
        raise ValueError("member_features must hold one (n, d) tensor per member, got none")
    for k, f in enumerate(feats):
        if f.shape[1] != real.shape[1]:
            raise ValueError(f"member_features[{k}] has {f.shape[1]} features, real_features has "
                             f"{real.shape[1]}: use one feature extractor")
    feats = [f.double().to(real.device) for f in feats]
    real = real.double()
    K = len(feats)
    A = torch.zeros(K, K, dtype=torch.float64)
    for j in range(K):
        for k in range(j, K):
            A[j, k] = A[k, j] = _kernel_mean(feats[j], feats[k], same=j == k)
    b = torch.tensor([_kernel_mean(f, real, same=False) for f in feats], dtype=torch.float64)
    return A, b, _kernel_mean(real, real, same=True)


def mmd_mixture_weights(member_features: Sequence[torch.Tensor], real_features: torch.Tensor
                        ) -> torch.Tensor:
    """Mixture proportions on the simplex minimising the squared MMD between the mixture of the
    members' feature distributions and the real one, with the kernel of :func:`fusegen.metrics.kid`.

    Why MMD rather than the Fréchet distance: a mixture's feature distribution is the
    w-weighted mixture of the members' distributions, so its squared MMD to the real data is a
    quadratic in w (:func:`mmd_quadratic`), convex, solved exactly on the simplex from K
    samples sets drawn once. The Fréchet distance of a mixture goes through its covariance
    ``sum_k w_k (S_k + m_k m_k^T) - m m^T`` and a matrix square root: non-convex in w, it needs
    an iterative search and re-fitted Gaussians, and Gaussians describe a multi-modal mixture
    poorly. MMD also has no small-sample bias (the within-member terms are unbiased).

    Args:
        member_features: K tensors (n_k, d), features of samples drawn from each member.
        real_features: (n, d) features of real images, from the same extractor.
    """
    A, b, _ = mmd_quadratic(member_features, real_features)
    return simplex_qp(A, b)


def _check_features(f: object, name: str) -> torch.Tensor:
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, d), got {type(f).__name__}")
    if f.dim() != 2 or f.shape[0] < 2:
        raise ValueError(f"{name} must have shape (n, d) with n >= 2, got {tuple(f.shape)}")
    if not f.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {f.dtype}")
    if not torch.isfinite(f).all():
        raise ValueError(f"{name} holds non-finite values")
    return f


# ----------------------------------------------------------------------------- soups

def _state_check(models: Sequence[nn.Module], name: str = "models") -> list[dict[str, torch.Tensor]]:
    """The models' state dicts, after checking that they have one architecture."""
    if not models:
        raise ValueError(f"{name} must hold at least one model, got none")
    first = models[0]
    for k, m in enumerate(models):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name}[{k}] must be a torch.nn.Module, got {type(m).__name__}")
        if type(m) is not type(first):
            raise ValueError(f"a soup needs one architecture: {name}[{k}] is a {type(m).__name__}, "
                             f"{name}[0] a {type(first).__name__}")
        config, config0 = getattr(m, "config", None), getattr(first, "config", None)
        if isinstance(config, Mapping) and isinstance(config0, Mapping) and dict(config) != dict(config0):
            key = next(k2 for k2 in sorted(set(config) | set(config0)) if config.get(k2) != config0.get(k2))
            raise ValueError(f"a soup needs one architecture: {name}[{k}] has {key}={config.get(key)!r}, "
                             f"{name}[0] has {key}={config0.get(key)!r}")
    states = [m.state_dict() for m in models]
    keys0 = list(states[0])
    if not keys0:
        raise ValueError(f"a soup averages parameters, and {name}[0] ({type(first).__name__}) has none")
    for k, state in enumerate(states[1:], start=1):
        if list(state) != keys0:
            missing = [key for key in keys0 if key not in state]
            extra = [key for key in state if key not in states[0]]
            what = (f"lacks {missing[0]!r}" if missing else f"has an extra {extra[0]!r}") if (
                missing or extra) else "orders its entries differently"
            raise ValueError(f"a soup needs one architecture: {name}[{k}] {what} (compared with {name}[0])")
        for key in keys0:
            a, b = states[0][key], state[key]
            if a.shape != b.shape:
                raise ValueError(f"a soup needs one architecture: {name}[{k}][{key!r}] has shape "
                                 f"{tuple(b.shape)}, {name}[0] has {tuple(a.shape)}")
            if a.dtype != b.dtype:
                raise ValueError(f"{name}[{k}][{key!r}] is {b.dtype}, {name}[0] has {a.dtype}: "
                                 f"convert the models to one dtype first")
    return states


def _average_states(states: list[dict[str, torch.Tensor]], w: torch.Tensor, name: str = "models"
                    ) -> dict[str, torch.Tensor]:
    """Weighted average of state dicts: floats by the fused weighted sum (differentiable in w),
    integer buffers (BatchNorm's ``num_batches_tracked``) as the rounded weighted mean, booleans
    kept when all members agree."""
    out = {}
    for key, first in states[0].items():
        values = [s[key] for s in states]
        if first.is_floating_point():
            out[key] = weighted_sum(values, w.to(device=first.device))
        elif first.dtype == torch.bool:
            if any(not torch.equal(v, first) for v in values[1:]):
                raise ValueError(f"{name} disagree on the boolean buffer {key!r}: it cannot be averaged")
            out[key] = first.clone()
        elif first.is_complex():
            raise TypeError(f"{name}' entry {key!r} is complex ({first.dtype}): not supported")
        else:
            mean = sum(float(wk) * v.double() for wk, v in zip(w.detach().cpu(), values))
            out[key] = mean.round().to(first.dtype)
    return out


def soup(models: Sequence[nn.Module], weights: object = None) -> nn.Module:
    """One model whose parameters and floating-point buffers are the weighted average of
    ``models``' (a "model soup", Wortsman et al. 2022).

    Args:
        models: K modules of one class, configuration, and state-dict keys and shapes
            (otherwise ``ValueError`` naming the first difference).
        weights: K numbers >= 0 (normalised to sum 1), or None for the uniform soup.

    Integer buffers (BatchNorm's ``num_batches_tracked``) become the rounded weighted mean. The
    result is a copy of ``models[0]`` with the averaged state, in its train/eval mode. Average
    models fine-tuned from one initialisation: independently initialised networks do not align.
    """
    states = _state_check(list(models))
    w = normalize_weights(weights, len(states))
    model = copy.deepcopy(models[0])
    with torch.no_grad():
        averaged = _average_states(states, w.float())
    model.load_state_dict(averaged)
    return model


class _Method(nn.Module):
    """Calls one method of a module as its forward, so that torch.func.functional_call can run a
    soup's ``restore``/``denoise`` with the averaged (differentiable) parameters."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args, **kwargs):
        return getattr(self.module, self.method)(*args, **kwargs)


# ----------------------------------------------------------------------------- the ensemble

def _interface(m: nn.Module) -> str:
    if isinstance(m, Ensemble):  # a nested ensemble: what it can do in its mode
        if m.mode == "mixture":
            return "sample"
        if m.restores:
            return "denoise"
        return m.interface if m.interface in ("reconstruct", "sample") else "forward"
    if callable(getattr(m, "restore", None)) and callable(getattr(m, "denoise", None)):
        return "restore"
    if callable(getattr(m, "denoise", None)):
        return "denoise"
    if callable(getattr(m, "reconstruct", None)):
        return "reconstruct"
    if callable(getattr(m, "sample", None)):
        return "sample"
    return "forward"


class Ensemble(nn.Module):
    """K trained models combined with weights on the simplex, fixed or learned.

    Args:
        members: K modules (a ``list`` of models, as ``fusegen.load`` returns them), or
            ``{"kind": ..., "config": ...}`` specifications that :func:`build_model` builds
            (what a saved ensemble's configuration holds).
        weights: K numbers >= 0, normalised to sum 1 by dividing by their sum; None: uniform.
        mode: ``"mixture"`` (members have ``.sample``: generators), ``"average"`` (members have
            ``.denoise`` -- restoration models --, or ``.reconstruct`` -- VAEs --, or are plain
            modules whose outputs are averaged), ``"soup"`` (members of one architecture: one
            model with averaged parameters), or ``"auto"``: ``"average"`` when every member
            denoises, ``"mixture"`` when every member samples.
        learnable: weights as ``softmax(self.logits)``, an ``nn.Parameter`` that gradients reach
            through the fused weighted sum (stays on the simplex by construction); otherwise a
            buffer. :meth:`fit_weights` works either way.
        names: K display names for :meth:`report` (default: the members' kinds).

    Use: ``sample(n, labels=None, generator=None)`` (mixture, or soup of generators),
    ``denoise(x)`` (average or soup of restoration models), ``reconstruct(x)`` (VAEs),
    ``forward`` (differentiable: the combined outputs), :meth:`fit_weights`, :meth:`report`,
    :meth:`save` (``fusegen.load`` reads it back).
    """

    kind = "ensemble"

    def __init__(self, members: Sequence[nn.Module | Mapping[str, Any]], weights: object = None,
                 mode: str = "auto", learnable: bool = False, names: Sequence[str] | None = None) -> None:
        super().__init__()
        members = _build_members(members)
        self.mode = _resolve_mode(mode, members)
        self.interface = _check_members(members, self.mode)
        self.members = nn.ModuleList(members)
        self.names = _names(names, members)
        w = normalize_weights(weights, len(members)).float()
        self.learnable = bool(learnable)
        if self.learnable:
            self.logits = nn.Parameter(_logits(w))
        else:
            self.register_buffer("fixed_weights", w)
        self.training = all(m.training for m in members)  # follow the members (loaded: eval)
        self.last_fit: dict[str, Any] | None = None
        self._soup_cache: dict[str, Any] = {}  # a plain dict: the cached soup is no submodule

    # ------------------------------------------------------------------ weights

    @property
    def weights(self) -> torch.Tensor:
        """The (K,) weights on the simplex (``softmax(logits)`` when learnable: differentiable)."""
        return torch.softmax(self.logits, 0) if self.learnable else self.fixed_weights

    def set_weights(self, weights: object) -> Ensemble:
        """Replace the weights (K numbers >= 0, normalised to sum 1); returns ``self``."""
        w = normalize_weights(weights, len(self.members))
        with torch.no_grad():
            if self.learnable:
                self.logits.copy_(_logits(w.float()))
            else:
                self.fixed_weights.copy_(w.float())
        return self

    def __len__(self) -> int:
        return len(self.members)

    @property
    def num_classes(self) -> int:
        return int(getattr(self.members[0], "num_classes", 0) or 0)

    @property
    def restores(self) -> bool:
        """Whether :meth:`denoise` works: an average or a soup of restoration models."""
        return self.mode != "mixture" and self.interface in ("restore", "denoise")

    @property
    def config(self) -> dict[str, Any]:
        """What rebuilds this ensemble (with fresh member weights): members' kinds and configs."""
        specs = []
        for k, m in enumerate(self.members):
            kind, config = getattr(m, "kind", None), getattr(m, "config", None)
            if not isinstance(kind, str) or not isinstance(config, Mapping):
                raise TypeError(f"members[{k}] ({type(m).__name__}) has no 'kind' and 'config': only "
                                f"fusegen models (or modules with those attributes) can be saved")
            specs.append({"kind": kind, "config": dict(config)})
        return {"members": specs, "mode": self.mode, "learnable": self.learnable,
                "names": list(self.names)}

    def extra_repr(self) -> str:
        w = ", ".join(f"{n}: {float(v):.3g}" for n, v in zip(self.names, self.weights.detach()))
        return f"mode={self.mode!r}, learnable={self.learnable}, weights={{{w}}}"

    # ------------------------------------------------------------------ mixture

    @torch.no_grad()
    def sample(self, n: int, labels=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images (n, C, H, W) in [0, 1]: a mixture's samples, or the soup's.

        See :meth:`sample_with_members` (which also returns which member made each sample).
        """
        if self.mode == "soup":
            self._require_interface(("sample", "reconstruct"), "sample")
            return self.soup_model().sample(n, labels=labels, generator=generator)
        return self.sample_with_members(n, labels, generator)[0]

    @torch.no_grad()
    def sample_with_members(self, n: int, labels=None, generator: torch.Generator | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """A mixture's ``n`` samples and the (n,) index of the member that made each.

        Draws, in this order (so a ``generator`` makes it reproducible): the member of each
        sample from Categorical(weights) (``torch.multinomial`` with replacement); then, for
        k = 0 .. K-1 with at least one sample, ``members[k].sample(n_k, labels=..., generator=...)``
        for its n_k samples, in row order. ``labels`` (one int, or n of them) go to the samples'
        members; for conditional members, None lets each draw its own.

        Each member generates only its n_k samples (one generator pass per sample, not K); the
        batch is then assembled by the fused weighted sum with per-sample one-hot (K, n) weights
        (``1 * x + 0 * 0`` is exact), the operator every mode combines with.
        """
        if self.mode != "mixture":
            raise ValueError(self._not_mixture_message())
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        y = _split_labels(labels, n)
        w = self.weights.detach().float().cpu()
        index = torch.multinomial(w, n, replacement=True, generator=generator)
        parts: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for k, member in enumerate(self.members):
            rows = (index == k).nonzero().flatten()
            if len(rows):
                images = member.sample(len(rows), labels=None if y is None else y[rows],
                                       generator=generator)
                parts[k] = (rows, images)
        k0, (_, first) = next(iter(parts.items()))
        for k, (_, images) in parts.items():
            if images.shape[1:] != first.shape[1:]:
                raise ValueError(f"members[{k}] samples {tuple(images.shape[1:])} images but "
                                 f"members[{k0}] {tuple(first.shape[1:])}: a mixture needs one image shape")
        inputs = []
        for k in range(len(self.members)):
            x = first.new_zeros((n, *first.shape[1:]))
            if k in parts:
                rows, images = parts[k]
                x[rows.to(x.device)] = images.to(x.dtype)
            inputs.append(x)
        one_hot = F.one_hot(index, len(self.members)).T.to(device=first.device, dtype=first.dtype)
        return weighted_sum(inputs, one_hot), index

    # ------------------------------------------------------------------ average

    def forward(self, *args, **kwargs) -> torch.Tensor:
        """The combined output, differentiable (gradients reach learnable weights and members).

        average: ``weighted_sum`` of the members' outputs -- denoised images (``restore``,
        clamped to [0, 1]) for restoration models, mean reconstructions for VAEs, ``member(*args)``
        for plain modules. soup: the souped model's forward with parameters averaged inside the
        graph. A mixture has no forward: call :meth:`sample`.
        """
        if self.mode == "mixture":
            raise TypeError("a mixture ensemble has no forward: call sample(n)")
        if self.mode == "soup":
            return self._soup_call("forward", *args, **kwargs)
        outputs = [self._member_output(m, *args, **kwargs) for m in self.members]
        return weighted_sum(outputs, self.weights.to(outputs[0].device))

    def _member_output(self, m: nn.Module, *args, **kwargs) -> torch.Tensor:
        if self.interface == "restore":
            x = args[0]
            batch = x if x.dim() == 4 else x[None]
            out = m.restore(batch).clamp(0, 1)
            return out if x.dim() == 4 else out[0]
        if self.interface == "denoise":
            return m.denoise(*args, **kwargs)
        if self.interface == "reconstruct":
            return m.reconstruct(*args, **kwargs)
        return m(*args, **kwargs)

    def denoise(self, x: torch.Tensor, self_ensemble: bool = False) -> torch.Tensor:
        """Denoised image(s), same shape as ``x`` ((C, H, W) or (N, C, H, W) in [0, 1]): the
        weighted average of the members' results (average), or the souped model's (soup).
        ``self_ensemble``: each member denoises the 8 flips and turns of ``x`` (see
        :meth:`RestorationModel.denoise`)."""
        if not self.restores:
            raise ValueError(f"this {self.mode} ensemble of {self._members_text()} does not denoise; "
                             f"an average or soup of restoration models does")
        options = {"self_ensemble": True} if self_ensemble else {}  # members of any class
        if self.mode == "soup":
            return self.soup_model().denoise(x, **options)
        with torch.no_grad():
            outputs = [m.denoise(x, **options) for m in self.members]
            return weighted_sum(outputs, self.weights.to(outputs[0].device)).clamp(0, 1)

    def reconstruct(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        """VAE members: the weighted average of their mean reconstructions (average), or the
        souped VAE's reconstruction (soup)."""
        if self.interface != "reconstruct" or self.mode == "mixture":
            raise ValueError(f"this {self.mode} ensemble of {self._members_text()} does not "
                             f"reconstruct; an average or soup of VAEs does")
        if self.mode == "soup":
            return self.soup_model().reconstruct(x, labels)
        with torch.no_grad():
            outputs = [m.reconstruct(x, labels) for m in self.members]
            return weighted_sum(outputs, self.weights.to(outputs[0].device))

    # ------------------------------------------------------------------ soup

    def soup_model(self) -> nn.Module:
        """The souped model (soup mode): a standalone copy of ``members[0]`` with the averaged
        state, recomputed when the weights or the members' parameters change."""
        if self.mode != "soup":
            raise ValueError(f"soup_model() is for mode='soup', this ensemble is a {self.mode}")
        w = self.weights.detach()
        key = (tuple(w.tolist()), str(w.device),
               tuple((t.data_ptr(), t._version) for m in self.members for t in m.state_dict().values()))
        if self._soup_cache.get("key") != key:
            self._soup_cache = {"key": key, "model": soup(list(self.members), w.cpu())}
        model = self._soup_cache["model"]
        model.train(self.training)
        return model

    def _soup_call(self, method: str, *args, **kwargs):
        """``members[0].<method>(*args)`` with parameters averaged by weights that keep their
        gradient (``torch.func.functional_call``): how learnable soup weights are trained."""
        states = [dict(m.state_dict(keep_vars=True)) for m in self.members]
        averaged = _average_states(states, self.weights)
        wrapper = _Method(self.members[0], method)
        params = {f"module.{k}": v for k, v in averaged.items()}
        return torch.func.functional_call(wrapper, params, args, kwargs)

    # ------------------------------------------------------------------ learning the weights

    def fit_weights(self, inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None, *,
                    method: str | None = None, labels=None, real: torch.Tensor | None = None,
                    feature_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    member_features: Sequence[torch.Tensor] | None = None, n: int = 1000,
                    generator: torch.Generator | None = None, steps: int = 200, lr: float = 0.05,
                    batch_size: int = 32) -> torch.Tensor:
        """Learn the weights from data, set them, and return them ((K,) float64 on the simplex).

        Restoration (average or soup of denoisers; VAE reconstructions), on validation pairs:
            ``fit_weights(noisy, clean)`` -- ``inputs`` (N, C, H, W) and ``targets`` of that shape
            (for VAEs, targets default to the inputs). ``method``:

            * ``"lstsq"`` (average, default): :func:`least_squares_weights` of the members'
              outputs: exact, maximises the PSNR of the validation set as one signal.
            * ``"psnr"``: gradient descent (Adam, ``steps``, ``lr``) on ``softmax(logits)``
              maximising the *mean per-image* PSNR, through the fused weighted sum. The only
              method for a soup (the soup's output is not linear in its weights; each step
              runs the souped model on a batch of ``batch_size`` pairs).

        Generators (mixture), ``method="mmd"`` (default): minimise the squared MMD between the
        mixture's features and real features (:func:`mmd_mixture_weights`). Give ``real``:
        real images (N, C, H, W) or their features (N, D), and ``feature_fn`` mapping images to
        features (a :class:`~fusegen.metrics.FeatureExtractor` or any callable; default: the
        fixed-seed random network). Each member draws ``n`` samples (``labels``, ``generator``
        as in :meth:`sample`) -- or pass their features as ``member_features``.

        ``self.last_fit`` records the method and the objective before and after.
        """
        if self.mode == "mixture":
            return self._fit_mixture(method or "mmd", labels, real, feature_fn, member_features, n,
                                     generator)
        if inputs is None:
            raise ValueError(f"fit_weights needs validation inputs for a {self.mode} ensemble: "
                             f"fit_weights(noisy, clean)")
        if targets is None:
            if self.interface != "reconstruct":
                raise ValueError("fit_weights needs targets (the clean images) beside the inputs")
            targets = inputs
        inputs, targets = _check_pairs(inputs, targets)
        method = method or ("lstsq" if self.mode == "average" else "psnr")
        if self.mode == "soup":
            if method != "psnr":
                raise ValueError(f"a soup's weights are learned by method='psnr' (gradient descent "
                                 f"through the averaged parameters), got method={method!r}")
            if self.interface not in ("restore", "denoise"):
                raise ValueError("learning soup weights needs restoration members (a loss on "
                                 "validation pairs); give a generator soup fixed weights")
            return self._fit_soup(inputs, targets, steps, lr, batch_size, generator)
        outputs = self._outputs(inputs, labels, batch_size)
        before = _mean_psnr(weighted_sum(outputs, self.weights.detach().to(outputs.device)), targets)
        if method == "lstsq":
            w = least_squares_weights(outputs, targets)
        elif method == "psnr":
            w = self._descend(outputs, targets, steps, lr)
        else:
            raise ValueError(f"method must be 'lstsq' or 'psnr' for an average ensemble, got {method!r}")
        self.set_weights(w)
        after = _mean_psnr(weighted_sum(outputs, self.weights.detach().to(outputs.device)), targets)
        self.last_fit = {"method": method, "objective": "mean validation PSNR (dB)",
                         "before": before, "after": after, "pairs": len(inputs),
                         "weights": self.weights.detach().tolist()}
        return self.weights.detach().double().cpu()

    @torch.no_grad()
    def _outputs(self, inputs: torch.Tensor, labels, batch_size: int) -> torch.Tensor:
        """Members' outputs on ``inputs``, stacked (K, N, ...), computed in batches."""
        outs = []
        for m in self.members:
            chunks = []
            for i in range(0, len(inputs), batch_size):
                x = inputs[i:i + batch_size]
                if self.interface == "reconstruct":
                    y = labels[i:i + batch_size] if labels is not None else None
                    chunks.append(m.reconstruct(x, y))
                elif self.interface in ("restore", "denoise"):
                    chunks.append(m.denoise(x))
                else:
                    chunks.append(m(x))
            outs.append(torch.cat(chunks))
        return torch.stack(outs)

    def _descend(self, outputs: torch.Tensor, targets: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
        logits = _logits(self.weights.detach().float().cpu()).clamp_min(-20).to(outputs.device)
        logits.requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=lr)
        targets = targets.to(outputs.device)
        for _ in range(int(steps)):
            opt.zero_grad()
            out = weighted_sum(outputs, torch.softmax(logits, 0).to(outputs.dtype))
            loss = -_psnr_per_image(out, targets).mean()
            loss.backward()
            opt.step()
        return torch.softmax(logits.detach(), 0).double().cpu()

    def _fit_soup(self, inputs, targets, steps, lr, batch_size, generator) -> torch.Tensor:
        method = "restore" if self.interface == "restore" else "denoise"
        with torch.no_grad():
            before = _mean_psnr(self.soup_model().denoise(inputs), targets)
        logits = _logits(self.weights.detach().float().cpu()).clamp_min(-20)
        logits = logits.to(next(self.members[0].parameters()).device).requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=lr)
        states = [dict(m.state_dict()) for m in self.members]
        wrapper = _Method(self.members[0], method)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        was_training = self.members[0].training
        self.members[0].eval()  # BatchNorm on its (averaged) running statistics, as at inference
        try:
            for _ in range(int(steps)):
                idx = torch.randint(0, len(inputs), (min(batch_size, len(inputs)),), generator=gen)
                averaged = _average_states(states, torch.softmax(logits, 0))
                params = {f"module.{k}": v for k, v in averaged.items()}
                out = torch.func.functional_call(wrapper, params, (inputs[idx],)).clamp(0, 1)
                loss = -_psnr_per_image(out, targets[idx].to(out.device)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            self.members[0].train(was_training)
        self.set_weights(torch.softmax(logits.detach(), 0).double().cpu())
        with torch.no_grad():
            after = _mean_psnr(self.soup_model().denoise(inputs), targets)
        self.last_fit = {"method": "psnr", "objective": "mean validation PSNR (dB)", "before": before,
                         "after": after, "pairs": len(inputs), "weights": self.weights.detach().tolist()}
        return self.weights.detach().double().cpu()

    def _fit_mixture(self, method, labels, real, feature_fn, member_features, n, generator) -> torch.Tensor:
        if method != "mmd":
            raise ValueError(f"a mixture's weights are learned by method='mmd', got method={method!r}")
        if real is None:
            raise ValueError("fit_weights for a mixture needs real=: real images (N, C, H, W) or "
                             "their features (N, D)")
        feature_fn = _feature_fn(feature_fn, real)
        real_features = real if real.dim() == 2 else feature_fn(real)
        if member_features is None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 2:
                raise ValueError(f"n must be an integer >= 2 (samples per member), got {n!r}")
            member_features = [feature_fn(m.sample(n, labels=labels, generator=generator))
                               for m in self.members]
        elif len(member_features) != len(self.members):
            raise ValueError(f"member_features must hold one tensor per member ({len(self.members)}), "
                             f"got {len(member_features)}")
        A, b, c = mmd_quadratic(member_features, real_features)
        before = self.weights.detach().double().cpu()
        w = simplex_qp(A, b)
        self.set_weights(w)
        self.last_fit = {"method": "mmd", "objective": "squared MMD to real features (KID kernel)",
                         "before": float(before @ A @ before - 2 * b @ before + c),
                         "after": float(w @ A @ w - 2 * b @ w + c),
                         "samples_per_member": [int(f.shape[0]) for f in member_features],
                         "real": int(real_features.shape[0]), "weights": self.weights.detach().tolist()}
        return self.weights.detach().double().cpu()

    # ------------------------------------------------------------------ reporting

    @torch.no_grad()
    def report(self, inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None, *,
               labels=None, real: torch.Tensor | None = None,
               feature_fn: Callable[[torch.Tensor], torch.Tensor] | None = None, n: int = 1000,
               generator: torch.Generator | None = None, baselines: Mapping[str, object] | None = None,
               batch_size: int = 32, kid_subsets: int = 50) -> list[dict[str, Any]]:
        """The ensemble beside each member, on the same metric and the same data.

        Restoration: ``report(noisy, clean)`` -- mean per-image PSNR (dB) and SSIM of each
        member's output and of the ensemble's (higher is better), after a ``"noisy"`` row; batches
        (N, C, H, W), or lists of (C, H, W) images of different sizes (each scored alone, then
        averaged). VAEs: ``report(images)`` scores reconstructions. Generators: ``report(real=images,
        feature_fn=..., n=...)`` -- Fréchet distance, KID (lower is better), precision, recall,
        density and coverage (:func:`fusegen.metrics.evaluate`) of ``n`` samples of each member
        and of the ensemble against ``real`` (images, or features made by ``feature_fn``).
        ``baselines`` adds rows for this ensemble with other weights, e.g. ``{"uniform": None}``.

        Returns rows ``{"name", "weights", <metric>: value, ...}``: members first (``weights`` is
        their weight in the ensemble), then ``"ensemble (<baseline>)"`` rows, then ``"ensemble"``
        (``weights``: the K weights used). :func:`format_table` prints them.
        """
        if isinstance(inputs, (list, tuple)):
            return self._report_images(inputs, targets, labels, baselines, batch_size)
        K = len(self.members)
        current = self.weights.detach().double().cpu()
        combos = [(f"ensemble ({key})", normalize_weights(value, K, f"baselines[{key!r}]"))
                  for key, value in (baselines or {}).items()] + [("ensemble", current)]
        generators = self.mode == "mixture" or (self.mode == "soup" and real is not None)
        if generators:
            return self._report_generators(labels, real, feature_fn, n, generator, combos, kid_subsets)
        if inputs is None:
            raise ValueError("report needs inputs (and targets): report(noisy, clean)")
        if targets is None:
            if self.interface != "reconstruct":
                raise ValueError("report needs targets (the clean images) beside the inputs")
            targets = inputs
        inputs, targets = _check_pairs(inputs, targets)
        outputs = self._outputs(inputs, labels, batch_size)
        rows: list[dict[str, Any]] = []
        if self.interface in ("restore", "denoise"):
            rows.append({"name": "noisy", "weights": None, **_image_scores(inputs.clamp(0, 1), targets)})
        rows += [{"name": name, "weights": float(current[k]), **_image_scores(outputs[k], targets)}
                 for k, name in enumerate(self.names)]
        with self._weights_restored():
            for label, w in combos:
                self.set_weights(w)
                combined = (self._ensemble_outputs(inputs, labels, batch_size) if self.mode == "soup"
                            else weighted_sum(outputs, self.weights.detach().to(outputs.device)))
                rows.append({"name": label, "weights": w.tolist(), **_image_scores(combined, targets)})
        return rows

    def _report_images(self, inputs, targets, labels, baselines, batch_size) -> list[dict[str, Any]]:
        """report() on images of different sizes: each scored alone, the metrics averaged."""
        if labels is not None:
            raise ValueError("labels go with a batch of inputs, not a list of images")
        if targets is None:
            targets = inputs if self.interface == "reconstruct" else None
        if not isinstance(targets, (list, tuple)) or len(targets) != len(inputs) or not inputs:
            raise ValueError("inputs given as a list of images need targets as a list of as many")
        per_image = []
        for k, (x, y) in enumerate(zip(inputs, targets)):
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor) or x.dim() != 3:
                raise ValueError(f"inputs[{k}] and targets[{k}] must be (C, H, W) tensors")
            per_image.append(self.report(x[None], y[None], baselines=baselines, batch_size=batch_size))
        rows = []
        for i, row in enumerate(per_image[0]):
            merged = dict(row)
            for key, value in row.items():
                if key not in ("name", "weights") and isinstance(value, float):
                    merged[key] = sum(r[i][key] for r in per_image) / len(per_image)
            rows.append(merged)
        return rows

    def _ensemble_outputs(self, inputs, labels, batch_size):
        chunks = []
        for i in range(0, len(inputs), batch_size):
            x = inputs[i:i + batch_size]
            if self.interface == "reconstruct":
                chunks.append(self.reconstruct(x, None if labels is None else labels[i:i + batch_size]))
            else:
                chunks.append(self.denoise(x))
        return torch.cat(chunks)

    def _report_generators(self, labels, real, feature_fn, n, generator, combos, kid_subsets):
        from ..metrics import evaluate

        if real is None:
            raise ValueError("report for generators needs real=: real images (N, C, H, W) or their "
                             "features (N, D)")
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2 (samples per row), got {n!r}")
        feature_fn = _feature_fn(feature_fn, real)
        real_features = real if real.dim() == 2 else feature_fn(real)
        size = min(1000, n, real_features.shape[0])
        keys = ("frechet_distance", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")

        def scores(images: torch.Tensor) -> dict[str, float]:
            r = evaluate(real_features, feature_fn(images), kid_subsets=kid_subsets, kid_subset_size=size)
            return {key: float(r[key]) for key in keys}

        current = self.weights.detach().double().cpu()
        rows = [{"name": name, "weights": float(current[k]),
                 **scores(m.sample(n, labels=labels, generator=generator))}
                for k, (name, m) in enumerate(zip(self.names, self.members))]
        with self._weights_restored():
            for label, w in combos:
                self.set_weights(w)
                rows.append({"name": label, "weights": w.tolist(),
                             **scores(self.sample(n, labels=labels, generator=generator))})
        return rows

    @contextlib.contextmanager
    def _weights_restored(self):
        """Puts the exact weight tensor (logits or buffer) back after trying other weights."""
        raw = self.logits if self.learnable else self.fixed_weights
        saved = raw.detach().clone()
        try:
            yield
        finally:
            with torch.no_grad():
                raw.copy_(saved)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike, **extra: Any) -> os.PathLike:
        """Write a checkpoint (atomically) that ``fusegen.load(path)`` turns back into this
        ensemble: kind ``"ensemble"``, the config (members' kinds and configs, mode, names) and
        the state (members' parameters, weights). ``extra`` entries are stored beside them."""
        return save_model(self, path, weights=self.weights.detach().double().tolist(), **extra)

    # ------------------------------------------------------------------ messages

    def _members_text(self) -> str:
        return ", ".join(type(m).__name__ for m in self.members)

    def _not_mixture_message(self) -> str:
        if self.mode == "average":
            return ("an average ensemble does not sample: a pixel average of generated images is not a "
                    "sample of any member and blurs their modes; use mode='mixture'")
        return f"sampling members needs mode='mixture', this ensemble is a {self.mode}"

    def _require_interface(self, allowed: tuple[str, ...], what: str) -> None:
        if self.interface not in allowed:
            raise ValueError(f"this soup of {self._members_text()} does not {what}")


def save_model(model: nn.Module, path: str | os.PathLike, **extra: Any) -> os.PathLike:
    """Write ``model`` as a fusegen checkpoint (kind, config, state; atomic) that ``fusegen.load``
    reads -- for an :class:`Ensemble` or a souped model. ``extra`` entries are stored beside."""
    from ..train.checkpoint import save_checkpoint

    kind, config = getattr(model, "kind", None), getattr(model, "config", None)
    if not isinstance(kind, str) or not isinstance(config, Mapping):
        raise TypeError(f"a {type(model).__name__} has no 'kind' and 'config': it cannot be saved "
                        f"as a fusegen checkpoint")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_checkpoint({"kind": kind, "config": dict(config), "model": state, **extra}, path)


# ----------------------------------------------------------------------------- helpers

def _logits(w: torch.Tensor) -> torch.Tensor:
    return torch.where(w > 0, w.clamp_min(1e-30).log(), torch.full_like(w, _ZERO_LOGIT))


def _build_members(members: object) -> list[nn.Module]:
    if isinstance(members, (nn.Module, str, bytes, Mapping)) or not isinstance(members, Sequence):
        raise TypeError(f"members must be a list of models, got {type(members).__name__}")
    members = list(members)
    if not members:
        raise ValueError("members must hold at least one model, got none")
    built = []
    for k, m in enumerate(members):
        if isinstance(m, Mapping):
            from .registry import build_model

            if "kind" not in m or "config" not in m:
                raise ValueError(f"members[{k}] as a specification needs 'kind' and 'config', got "
                                 f"keys {sorted(m)}")
            m = build_model(m["kind"], dict(m["config"]))
        if not isinstance(m, nn.Module):
            raise TypeError(f"members[{k}] must be a torch.nn.Module, got {type(m).__name__}")
        built.append(m)
    return built


def _resolve_mode(mode: object, members: list[nn.Module]) -> str:
    if mode == "auto":
        interfaces = {_interface(m) for m in members}
        if interfaces <= {"restore", "denoise"}:
            return "average"
        if all(callable(getattr(m, "sample", None)) for m in members):
            return "mixture"
        classes = ", ".join(type(m).__name__ for m in members)
        raise ValueError(f"mode='auto' cannot tell how to combine {classes}: pass mode='mixture', "
                         f"'average' or 'soup'")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} or 'auto', got {mode!r}")
    return str(mode)


def _check_members(members: list[nn.Module], mode: str) -> str:
    """Checks for ``mode``; returns the members' common interface."""
    interfaces = [_interface(m) for m in members]
    if mode == "mixture":
        for k, m in enumerate(members):
            if not callable(getattr(m, "sample", None)):
                raise ValueError(f"mode='mixture' combines generators: members[{k}] "
                                 f"({type(m).__name__}) has no sample(n, labels, generator)")
        classes = [int(getattr(m, "num_classes", 0) or 0) for m in members]
        if len(set(classes)) > 1:
            raise ValueError(f"a mixture's members must agree on conditioning: num_classes are {classes}")
        _check_same_config(members, ("channels", "image_size"))
        return "sample"
    if mode == "soup":
        _state_check(members, "members")
        return interfaces[0]
    # average
    for k, (m, i) in enumerate(zip(members, interfaces)):
        if i == "sample":
            raise ValueError(f"members[{k}] ({type(m).__name__}) is a generator: a pixel average of "
                             f"generated images is not a sample of any member and blurs their "
                             f"modes; use mode='mixture' (or 'soup' for models fine-tuned from one "
                             f"initialisation)")
    kinds = {"restore": "denoise", "denoise": "denoise", "reconstruct": "reconstruct", "forward": "forward"}
    if len({kinds[i] for i in interfaces}) > 1:
        described = ", ".join(f"members[{k}] {kinds[i]}" for k, i in enumerate(interfaces))
        raise ValueError(f"an average needs members with one interface, got: {described}")
    if interfaces[0] in ("restore", "denoise"):
        channels = [getattr(m, "channels", None) for m in members]
        known = {c for c in channels if c is not None}
        if len(known) > 1:
            raise ValueError(f"an average needs one channel count, members take {channels}")
        if interfaces.count("restore") != len(interfaces):
            return "denoise"
        return "restore"
    if interfaces[0] == "reconstruct":
        _check_same_config(members, ("channels", "image_size"))
    return interfaces[0]


def _check_same_config(members: list[nn.Module], keys: tuple[str, ...]) -> None:
    for key in keys:
        values = [getattr(m, "config", {}).get(key) if isinstance(getattr(m, "config", None), Mapping)
                  else None for m in members]
        known = [v for v in values if v is not None]
        if len(set(known)) > 1:
            raise ValueError(f"members must make images of one shape: their {key} are {values}")


def _names(names: object, members: list[nn.Module]) -> list[str]:
    if names is not None:
        if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
            raise TypeError(f"names must be a list of {len(members)} strings, got {type(names).__name__}")
        names = [str(x) for x in names]
        if len(names) != len(members):
            raise ValueError(f"names must have one name per member ({len(members)}), got {len(names)}")
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct, got {names}")
        if "ensemble" in names or "noisy" in names:
            raise ValueError(f"'ensemble' and 'noisy' name report rows; pick other member names, got {names}")
        return names
    base = [str(getattr(m, "kind", type(m).__name__.lower())) for m in members]
    return [f"{b}[{k}]" if base.count(b) > 1 else b for k, b in enumerate(base)]


def _split_labels(labels, n: int) -> torch.Tensor | None:
    if labels is None:
        return None
    y = torch.as_tensor(labels)
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got {y.dtype}")
    y = y.long().cpu()
    if y.numel() == 1:
        return y.reshape(()).expand(n).clone()
    if y.shape != (n,):
        raise ValueError(f"labels must be one int or {n} of them, got shape {tuple(y.shape)}")
    return y


def _check_pairs(inputs: object, targets: object) -> tuple[torch.Tensor, torch.Tensor]:
    for name, t in (("inputs", inputs), ("targets", targets)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor (N, C, H, W), got {type(t).__name__}")
        if t.dim() != 4 or not t.is_floating_point() or len(t) == 0:
            raise ValueError(f"{name} must be a non-empty float batch (N, C, H, W), got "
                             f"{tuple(t.shape)} {t.dtype}")
    if inputs.shape != targets.shape:
        raise ValueError(f"inputs and targets must have one shape, got {tuple(inputs.shape)} and "
                         f"{tuple(targets.shape)}")
    return inputs, targets


def _psnr_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = (x.float() - y.float()).square().flatten(1).mean(1).clamp_min(1e-12)
    return -10 * torch.log10(mse)


def _mean_psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(_psnr_per_image(x, y.to(x.device)).mean())


def _image_scores(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    from ..metrics import ssim

    y = y.to(x.device)
    out = {"psnr": _mean_psnr(x, y)}
    if min(x.shape[-2:]) >= 11:
        out["ssim"] = float(ssim(x.float().clamp(0, 1), y.float()).mean())
    return out


def _feature_fn(feature_fn, real: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    if not isinstance(real, torch.Tensor) or real.dim() not in (2, 4):
        raise ValueError(f"real must be images (N, C, H, W) or features (N, D), got "
                         f"{tuple(real.shape) if isinstance(real, torch.Tensor) else type(real).__name__}")
    if feature_fn is None:
        if real.dim() == 2:
            raise ValueError("real are features: pass the feature_fn that made them")
        from ..metrics import FeatureExtractor

        feature_fn = FeatureExtractor.random(real.shape[1])
    extract = getattr(feature_fn, "extract", None)
    if callable(extract):
        return lambda images: extract(images)
    if not callable(feature_fn):
        raise TypeError(f"feature_fn must be callable (images -> features), got {type(feature_fn).__name__}")

    def call(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return feature_fn(images)

    return call


def format_table(rows: Sequence[Mapping[str, Any]], markdown: bool = False) -> str:
    """Rows of :meth:`Ensemble.report` as an aligned text (or markdown) table.

    The weights column shows a member's weight in the ensemble, and an ensemble row's K weights
    separated by slashes."""
    skip = {"name", "weights", "kid_std"}
    metrics = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in skip]
    columns = ["name", "weights", *metrics]
    headers = {"name": "", "weights": "weights", "psnr": "PSNR (dB)", "ssim": "SSIM",
               "frechet_distance": "Fréchet", "kid_mean": "KID", "precision": "precision",
               "recall": "recall", "density": "density", "coverage": "coverage"}

    def cell(row: Mapping[str, Any], c: str) -> str:
        v = row.get(c)
        if v is None:
            return ""
        if c == "name":
            return str(v)
        if c == "weights":
            return "/".join(f"{x:.2f}" for x in v) if isinstance(v, (list, tuple)) else f"{v:.3f}"
        if c == "kid_mean" and row.get("kid_std") is not None:
            return f"{v:.4f} ± {row['kid_std']:.4f}"
        if c == "psnr":
            return f"{v:.2f}"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    table = [[headers.get(c, c) for c in columns]] + [[cell(r, c) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    if markdown:
        lines = ["| " + " | ".join(v.ljust(w) for v, w in zip(line, widths)) + " |" for line in table]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in table)
