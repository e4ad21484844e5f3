"""The labelling state of an active-learning run: which pool items are labelled, their labels,
the budget, and the oracle that answers queries.

Indices are positions in the pool (0 .. size-1). The oracle is any function
``oracle(indices: LongTensor) -> labels`` (a tensor or sequence of ints, one per index); it is
called only with indices that were queried, each index at most once in a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Oracle = Callable[[torch.Tensor], "torch.Tensor | Sequence[int]"]


class BudgetError(ValueError):
    """A query asks for more labels than the budget has left (a ValueError: one line in the CLI)."""


class LabelOracle:
    """An oracle that answers from hidden labels (the demo's stand-in for a human annotator).

    It records every call in ``calls`` (a list of index lists), so that tests and users can check
    exactly what was asked.
    """

    def __init__(self, labels: torch.Tensor | Sequence[int]):
        labels = torch.as_tensor(labels)
        if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels must be a 1-D integer tensor, got {labels.dtype} of shape "
                             f"{tuple(labels.shape)}")
        self._labels = labels.long().cpu()
        self.calls: list[list[int]] = []

    def __len__(self) -> int:
        return len(self._labels)

    def __call__(self, indices: torch.Tensor) -> torch.Tensor:
        indices = torch.as_tensor(indices).long().cpu()
        self.calls.append(indices.tolist())
        return self._labels[indices].clone()


class LabelPool:
    """Labelled and unlabelled items of a pool of ``size``, with a labelling ``budget``.

    :meth:`query` checks the indices (integers in range, no repeats, none labelled already, within
    the budget) *before* calling the oracle, then checks and records its answers.

    Attributes: ``size``, ``budget`` (None: the whole pool), ``num_classes`` (None: any label >= 0).
    """

    def __init__(self, size: int, oracle: Oracle, budget: int | None = None,
                 num_classes: int | None = None):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an integer >= 1, got {size!r}")
        if not callable(oracle):
            raise TypeError(f"oracle must be a function of the queried indices, got {type(oracle).__name__}")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
            raise ValueError(f"budget must be an integer >= 0 or None, got {budget!r}")
        if budget is not None and budget > size:
            raise BudgetError(f"budget ({budget}) exceeds the pool ({size} items)")
        self.size, self.budget, self.num_classes = size, budget, num_classes
        self.oracle = oracle
        self._mask = torch.zeros(size, dtype=torch.bool)
        self._order: list[int] = []
        self._labels = torch.full((size,), -1, dtype=torch.long)
        self.rounds: list[list[int]] = []  # the indices of each query, in order

    # ------------------------------------------------------------------ state

    @property
    def spent(self) -> int:
        return len(self._order)

    @property
    def remaining(self) -> int:
        """Labels left to spend (the budget's rest, or the unlabelled count when there's no budget)."""
        limit = self.size if self.budget is None else self.budget
        return limit - self.spent

    @property
    def labelled_mask(self) -> torch.Tensor:
        return self._mask.clone()

    @property
    def labelled(self) -> torch.Tensor:
        """Labelled indices, in the order they were acquired."""
        return torch.tensor(self._order, dtype=torch.long)

    @property
    def unlabelled(self) -> torch.Tensor:
        return (~self._mask).nonzero().flatten()

    @property
    def labels(self) -> torch.Tensor:
        """The oracle's labels of :attr:`labelled`, in the same order."""
        return self._labels[self.labelled]

    def __repr__(self) -> str:
        budget = "no budget" if self.budget is None else f"budget {self.budget}"
        return f"LabelPool({self.spent} of {self.size} labelled, {budget}, {self.remaining} left)"

    # ------------------------------------------------------------------ query

    def query(self, indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Ask the oracle for the labels of ``indices``; returns them (a long tensor)."""
        idx = _as_index_tensor(indices, "indices")
        if idx.numel() == 0:
            raise ValueError("indices is empty: a query must ask for at least one label")
        if int(idx.min()) < 0 or int(idx.max()) >= self.size:
            bad = idx[(idx < 0) | (idx >= self.size)][:5].tolist()
            raise IndexError(f"indices must lie in [0, {self.size}), got {bad}")
        if idx.unique().numel() != idx.numel():
            raise ValueError(f"indices must be distinct, got repeats: {_repeats(idx)[:5]}")
        already = idx[self._mask[idx]]
        if already.numel():
            raise ValueError(f"indices {already[:5].tolist()} are labelled already: an item is "
                             "never queried twice")
        if idx.numel() > self.remaining:
            raise BudgetError(f"the query asks for {idx.numel()} labels but only {self.remaining} "
                              f"are left ({self.spent} spent of "
                              f"{self.budget if self.budget is not None else self.size})")
        answer = torch.as_tensor(self.oracle(idx.clone()))
        if answer.shape != idx.shape or answer.dtype.is_floating_point or answer.dtype == torch.bool:
            raise ValueError(f"the oracle must return {idx.numel()} integer labels, got "
                             f"{answer.dtype} of shape {tuple(answer.shape)}")
        answer = answer.long().cpu()
        if answer.numel() and int(answer.min()) < 0:
            raise ValueError(f"the oracle returned negative labels: {answer[answer < 0][:5].tolist()}")
        if self.num_classes is not None and int(answer.max()) >= self.num_classes:
            raise ValueError(f"the oracle returned labels outside [0, {self.num_classes}): "
                             f"{answer[answer >= self.num_classes][:5].tolist()}")
        self._mask[idx] = True
        self._labels[idx] = answer
        self._order.extend(idx.tolist())
        self.rounds.append(idx.tolist())
        return answer.clone()


def _as_index_tensor(indices: object, name: str) -> torch.Tensor:
    if isinstance(indices, torch.Tensor):
        t = indices
    else:
        try:
            t = torch.as_tensor(indices)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a tensor or sequence of ints, got {type(indices).__name__}") from exc
    if t.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, got {t.dtype}")
    if t.dim() != 1:
        t = t.reshape(-1) if t.dim() == 0 else t
        if t.dim() != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    return t.long().cpu()


def _repeats(idx: torch.Tensor) -> list[int]:
    values, counts = idx.unique(return_counts=True)
    return values[counts > 1].tolist()
