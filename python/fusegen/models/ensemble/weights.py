"""Ensemble weights on the probability simplex: checking them, and learning them from data.

For restoration models, by least squares on validation pairs (exact on the simplex); for
generators, by minimising the squared MMD between the mixture's features and real features
(exact on the simplex).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from ...metrics._distances import kth_neighbour_radii

# Learned weights are softmax(logits); a zero weight becomes this logit (softmax ~1e-30 of it).
ZERO_LOGIT = -70.0
# Above this many members, simplex_qp solves by projected gradient instead of enumerating supports.
_MAX_ENUMERATED = 12


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


def conditional_mmd_quadratic(member_features: Sequence[torch.Tensor], member_labels: Sequence[torch.Tensor],
                              real_features: torch.Tensor, real_labels: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(A, b, c)`` of the class-weighted sum of per-class squared MMDs, ``sum_c p_c MMD_c^2``,
    ``p_c`` the real classes' frequencies: :func:`mmd_quadratic` within each class, summed.

    For conditional generators: the plain MMD compares the pooled distributions, which the class
    means dominate, so a member that draws one image per class can look as good as one that
    covers each class's variety. Within a class the mean is fixed and the spread is what differs:
    this criterion rewards the members (and mixtures of them) that cover each class.
    ``member_labels[k]`` are the labels member k's samples were drawn for; each class of the real
    data needs >= 2 real samples and >= 2 samples of every member.
    """
    if len(member_labels) != len(member_features):
        raise ValueError(f"member_labels must hold one tensor per member ({len(member_features)}), "
                         f"got {len(member_labels)}")
    real_labels = torch.as_tensor(real_labels).cpu()
    classes = torch.unique(real_labels).tolist()
    K = len(member_features)
    A, b, c = torch.zeros(K, K, dtype=torch.float64), torch.zeros(K, dtype=torch.float64), 0.0
    for cls in classes:
        rows = real_labels == cls
        if int(rows.sum()) < 2:
            raise ValueError(f"class {cls} has {int(rows.sum())} real sample(s); the conditional MMD "
                             f"needs >= 2 per class")
        picked = []
        for k, (f, y) in enumerate(zip(member_features, member_labels)):
            mine = torch.as_tensor(y).cpu() == cls
            if int(mine.sum()) < 2:
                raise ValueError(f"member {k} has {int(mine.sum())} sample(s) of class {cls}; draw "
                                 f"more samples (>= 2 per class)")
            picked.append(f[mine.to(f.device)])
        A_c, b_c, c_c = mmd_quadratic(picked, real_features[rows.to(real_features.device)])
        share = float(rows.double().mean())
        A, b, c = A + share * A_c, b + share * b_c, c + share * c_c
    return A, b, c


def coverage_mixture_weights(member_features: Sequence[torch.Tensor], real_features: torch.Tensor,
                             member_labels: Sequence[torch.Tensor] | None = None,
                             real_labels: torch.Tensor | None = None, k: int = 5,
                             resolution: int = 10, score_weights: torch.Tensor | None = None
                             ) -> tuple[torch.Tensor, float, float | None]:
    """Mixture proportions that maximise coverage plus precision of the real features.

    Coverage (Naeem et al. 2020) is the share of real samples whose k-nearest-neighbour ball
    (among the real samples, of their class when labels are given) holds at least one sample of
    the mixture (of that class); precision, the share of the mixture's samples inside at least
    one such ball. Unlike an MMD, coverage counts what the members add: a member that draws
    where the others do not raises it, one that draws where the others already do does not.
    Precision keeps weight off a member whose samples lie away from the data.

    A mixture with weights w draws ``round(w_k * n_k)`` of member k's ``n_k`` samples (the first
    ones: the samples are independent draws, so any prefix is a random subset), so every weight
    on the grid ``{w_k = i / resolution}`` of the simplex is scored exactly on the same samples,
    and the best one is returned with its score. Ties go to the weights closest to uniform.

    Args:
        member_features: K tensors (n_k, d) of the members' sample features.
        real_features: (N, d) features of held-out real images.
        member_labels, real_labels: the labels the samples were drawn for and those of the real
            images (conditional members), or both None.
        k: the neighbour that sets a real ball's radius (5, as in the paper).
        resolution: grid steps per unit weight (10: weights in tenths; the grid has
            ``C(resolution + K - 1, K - 1)`` points).
        score_weights: other weights to score on the same samples (e.g. the current ones).

    Returns ``(weights, their coverage + precision, that of score_weights or None)``.
    """
    feats = [_check_features(f, f"member_features[{i}]") for i, f in enumerate(member_features)]
    real = _check_features(real_features, "real_features")
    K = len(feats)
    if K == 0:
        raise ValueError("member_features must hold one (n, d) tensor per member, got none")
    if (member_labels is None) != (real_labels is None):
        raise ValueError("give both member_labels and real_labels (conditional members) or neither")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be an integer >= 1, got {resolution!r}")
    if math.comb(resolution + K - 1, K - 1) > 200_000:
        raise ValueError(f"{K} members at resolution {resolution} make too large a grid; lower resolution")
    # first[i, j]: the index of member i's first sample inside real ball j (n_i when none is);
    # good[i][s]: member i's sample s lies inside some real ball (of its class).
    first = torch.zeros(K, len(real), dtype=torch.long)
    good = [torch.zeros(len(f), dtype=torch.bool) for f in feats]
    groups = [None] if real_labels is None else torch.unique(torch.as_tensor(real_labels).cpu()).tolist()
    for c in groups:
        rows = (torch.ones(len(real), dtype=torch.bool) if c is None
                else torch.as_tensor(real_labels).cpu() == c)
        ball = real[rows.to(real.device)].double()
        if len(ball) <= k:
            raise ValueError(f"class {c} has {len(ball)} real samples; coverage needs more than k = {k}")
        radii = kth_neighbour_radii(ball, k)
        for i, f in enumerate(feats):
            mine = (torch.arange(len(f)) if c is None
                    else (torch.as_tensor(member_labels[i]).cpu() == c).nonzero().flatten())
            first[i, rows] = len(f)  # never drawn: no sample of member i in the ball
            if len(mine) == 0:
                continue
            inside = torch.cdist(f[mine.to(f.device)].double().to(ball.device), ball) <= radii[None, :]
            hit = inside.any(dim=0).cpu()
            good[i][mine] = inside.any(dim=1).cpu()
            earliest = mine[inside.byte().argmax(dim=0).cpu()]  # argmax: the first True row
            first[i, rows.nonzero().flatten()[hit]] = earliest[hit]
    sizes = torch.tensor([len(f) for f in feats], dtype=torch.float64)

    good_counts = [torch.cat([torch.zeros(1), g.double().cumsum(0)]) for g in good]

    def coverage(w: torch.Tensor) -> float:
        drawn = torch.round(w * sizes).long()
        covered = float((first < drawn[:, None]).any(dim=0).double().mean())
        inside = sum(float(c[int(d)]) for c, d in zip(good_counts, drawn))
        return covered + inside / max(int(drawn.sum()), 1)

    best, best_score, best_gap = None, -1.0, math.inf
    uniform = torch.full((K,), 1.0 / K, dtype=torch.float64)
    for counts in _compositions(resolution, K):
        w = torch.tensor(counts, dtype=torch.float64) / resolution
        score, gap = coverage(w), float((w - uniform).abs().sum())
        if score > best_score + 1e-12 or (abs(score - best_score) <= 1e-12 and gap < best_gap):
            best, best_score, best_gap = w, score, gap
    other = None if score_weights is None else coverage(normalize_weights(score_weights, K, "score_weights"))
    return best, best_score, other


def _compositions(total: int, parts: int):
    """Every tuple of ``parts`` integers >= 0 summing to ``total``."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total, -1, -1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


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


def weight_logits(w: torch.Tensor) -> torch.Tensor:
    """Logits whose softmax is ``w`` (the parametrisation of learnable weights)."""
    return torch.where(w > 0, w.clamp_min(1e-30).log(), torch.full_like(w, ZERO_LOGIT))


