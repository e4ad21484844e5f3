"""The :class:`Ensemble` module: K trained models combined by the fused weighted sum."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...checkpoint import save_model
from ...metrics import psnr
from ...ops import weighted_sum
from .members import (build_members, check_members, check_pairs, labels_like_real, member_names,
                      resolve_mode, split_labels)
from .report import EnsembleReport, feature_function, mean_psnr
from .soup import MethodModule, average_states, soup
from .weights import (conditional_mmd_quadratic, coverage_mixture_weights, least_squares_weights,
                      mmd_quadratic, normalize_weights, simplex_qp, weight_logits)


class Ensemble(EnsembleReport, nn.Module):
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
        members = build_members(members)
        self.mode = resolve_mode(mode, members)
        self.interface = check_members(members, self.mode)
        self.members = nn.ModuleList(members)
        self.names = member_names(names, members)
        w = normalize_weights(weights, len(members)).float()
        self.learnable = bool(learnable)
        if self.learnable:
            self.logits = nn.Parameter(weight_logits(w))
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
                self.logits.copy_(weight_logits(w.float()))
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
        y = split_labels(labels, n)
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
        averaged = average_states(states, self.weights)
        wrapper = MethodModule(self.members[0], method)
        params = {f"module.{k}": v for k, v in averaged.items()}
        return torch.func.functional_call(wrapper, params, args, kwargs)

    # ------------------------------------------------------------------ learning the weights

    def fit_weights(self, inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None, *,
                    method: str | None = None, labels=None, real: torch.Tensor | None = None,
                    real_labels: torch.Tensor | None = None,
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
        as in :meth:`sample`) -- or pass their features as ``member_features``. Conditional
        members with ``real_labels`` (the (N,) labels of ``real``): every member draws ``n``
        samples for labels drawn from ``real_labels``, and the weights minimise the class-weighted
        sum of per-class MMDs (:func:`conditional_mmd_quadratic`), which rewards covering each
        class's variety rather than matching the pooled distribution.
        ``method="coverage"``: the weights on a grid of tenths that maximise coverage plus
        precision of ``real`` (per class with ``real_labels``; :func:`coverage_mixture_weights`):
        coverage counts what each member adds rather than how close the pooled samples are.

        ``self.last_fit`` records the method and the objective before and after.
        """
        if self.mode == "mixture":
            return self._fit_mixture(method or "mmd", labels, real, feature_fn, member_features, n,
                                     generator, real_labels)
        if inputs is None:
            raise ValueError(f"fit_weights needs validation inputs for a {self.mode} ensemble: "
                             f"fit_weights(noisy, clean)")
        if targets is None:
            if self.interface != "reconstruct":
                raise ValueError("fit_weights needs targets (the clean images) beside the inputs")
            targets = inputs
        inputs, targets = check_pairs(inputs, targets)
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
        before = mean_psnr(weighted_sum(outputs, self.weights.detach().to(outputs.device)), targets)
        if method == "lstsq":
            w = least_squares_weights(outputs, targets)
        elif method == "psnr":
            w = self._descend(outputs, targets, steps, lr)
        else:
            raise ValueError(f"method must be 'lstsq' or 'psnr' for an average ensemble, got {method!r}")
        self.set_weights(w)
        after = mean_psnr(weighted_sum(outputs, self.weights.detach().to(outputs.device)), targets)
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
        logits = weight_logits(self.weights.detach().float().cpu()).clamp_min(-20).to(outputs.device)
        logits.requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=lr)
        targets = targets.to(outputs.device)
        for _ in range(int(steps)):
            opt.zero_grad()
            out = weighted_sum(outputs, torch.softmax(logits, 0).to(outputs.dtype))
            loss = -psnr(out, targets).mean()
            loss.backward()
            opt.step()
        return torch.softmax(logits.detach(), 0).double().cpu()

    def _fit_soup(self, inputs, targets, steps, lr, batch_size, generator) -> torch.Tensor:
        method = "restore" if self.interface == "restore" else "denoise"
        with torch.no_grad():
            before = mean_psnr(self.soup_model().denoise(inputs), targets)
        logits = weight_logits(self.weights.detach().float().cpu()).clamp_min(-20)
        logits = logits.to(next(self.members[0].parameters()).device).requires_grad_(True)
        opt = torch.optim.Adam([logits], lr=lr)
        states = [dict(m.state_dict()) for m in self.members]
        wrapper = MethodModule(self.members[0], method)
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        was_training = self.members[0].training
        self.members[0].eval()  # BatchNorm on its (averaged) running statistics, as at inference
        try:
            for _ in range(int(steps)):
                idx = torch.randint(0, len(inputs), (min(batch_size, len(inputs)),), generator=gen)
                averaged = average_states(states, torch.softmax(logits, 0))
                params = {f"module.{k}": v for k, v in averaged.items()}
                out = torch.func.functional_call(wrapper, params, (inputs[idx],)).clamp(0, 1)
                loss = -psnr(out, targets[idx].to(out.device)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            self.members[0].train(was_training)
        self.set_weights(torch.softmax(logits.detach(), 0).double().cpu())
        with torch.no_grad():
            after = mean_psnr(self.soup_model().denoise(inputs), targets)
        self.last_fit = {"method": "psnr", "objective": "mean validation PSNR (dB)", "before": before,
                         "after": after, "pairs": len(inputs), "weights": self.weights.detach().tolist()}
        return self.weights.detach().double().cpu()

    def _fit_mixture(self, method, labels, real, feature_fn, member_features, n, generator,
                     real_labels=None) -> torch.Tensor:
        if method not in ("mmd", "coverage"):
            raise ValueError(f"a mixture's weights are learned by method='mmd' or 'coverage', got "
                             f"method={method!r}")
        if real is None:
            raise ValueError("fit_weights for a mixture needs real=: real images (N, C, H, W) or "
                             "their features (N, D)")
        conditional = real_labels is not None
        if conditional:  # one label draw shared by every member: less noise between them
            if isinstance(n, bool) or not isinstance(n, int) or n < 2:
                raise ValueError(f"n must be an integer >= 2 (samples per member), got {n!r}")
            real_labels, labels = labels_like_real(real_labels, real.shape[0], n, self.num_classes,
                                                   {"labels": labels, "member_features": member_features},
                                                   generator)
        feature_fn = feature_function(feature_fn, real)
        real_features = real if real.dim() == 2 else feature_fn(real)
        if member_features is None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 2:
                raise ValueError(f"n must be an integer >= 2 (samples per member), got {n!r}")
            member_features = [feature_fn(m.sample(n, labels=labels, generator=generator))
                               for m in self.members]
        elif len(member_features) != len(self.members):
            raise ValueError(f"member_features must hold one tensor per member ({len(self.members)}), "
                             f"got {len(member_features)}")
        before = self.weights.detach().double().cpu()
        if method == "coverage":
            w, after, before_value = coverage_mixture_weights(
                member_features, real_features, [labels] * len(self.members) if conditional else None,
                real_labels if conditional else None, score_weights=before)
            objective = ("coverage + precision of the real features (k = 5"
                         + (", per class)" if conditional else ")"))
        elif conditional:
            A, b, c = conditional_mmd_quadratic(member_features, [labels] * len(self.members),
                                                real_features, real_labels)
            objective = "class-weighted squared MMD to real features, per class (KID kernel)"
        else:
            A, b, c = mmd_quadratic(member_features, real_features)
            objective = "squared MMD to real features (KID kernel)"
        if method == "mmd":
            w = simplex_qp(A, b)
            before_value, after = float(before @ A @ before - 2 * b @ before + c), float(w @ A @ w - 2 * b @ w + c)
        self.set_weights(w)
        self.last_fit = {"method": method, "objective": objective, "before": before_value, "after": after,
                         "samples_per_member": [int(f.shape[0]) for f in member_features],
                         "real": int(real_features.shape[0]), "weights": self.weights.detach().tolist()}
        return self.weights.detach().double().cpu()

    # ------------------------------------------------------------------ saving

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

