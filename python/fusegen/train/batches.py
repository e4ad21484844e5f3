"""An endless, resumable stream of shuffled minibatch indices, sharded across processes."""

from __future__ import annotations

import torch


class BatchStream:
    """Yields index tensors of ``batch_size``: each epoch a fresh permutation of ``size`` items
    drawn from ``seed`` and the epoch number (never from the global generator), split between
    ``world`` processes (process ``rank`` takes every ``world``-th item).

    ``state_dict()`` is the epoch and position; loading it continues exactly where it stopped.
    Incomplete last batches of an epoch are dropped, so every step sees ``batch_size`` items.
    """

    def __init__(self, size: int, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if size // world < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than the {size // world} training "
                             f"items per process; use a smaller --batch-size")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world = rank, world
        self.epoch, self.position = 0, 0
        self._order: torch.Tensor | None = None

    def _epoch_order(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(self.size, generator=g)[self.rank::self.world]

    def next(self) -> torch.Tensor:
        if self._order is None:
            self._order = self._epoch_order()
        if self.position + self.batch_size > len(self._order):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._epoch_order()
        batch = self._order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self._order = int(state["epoch"]), int(state["position"]), None
