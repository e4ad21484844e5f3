"""Pairwise Euclidean distances in row chunks, so that 10k x 10k never sits in memory at once."""

from __future__ import annotations

from collections.abc import Iterator

import torch

# About 32 M distances (128 MiB in float32) per chunk: large enough for fast matrix products,
# small enough for a laptop or a shared GPU.
CHUNK_ELEMENTS = 1 << 25


def chunk_rows(n_cols: int, batch_size: int | None = None) -> int:
    """Rows per chunk of a (rows x n_cols) distance block."""
    if batch_size is not None:
        return batch_size
    return max(1, CHUNK_ELEMENTS // max(1, n_cols))


def distance_chunks(x: torch.Tensor, y: torch.Tensor, batch_size: int | None = None
                    ) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (start, cdist(x[start:start + b], y)) over row chunks of x."""
    step = chunk_rows(y.shape[0], batch_size)
    for start in range(0, x.shape[0], step):
        yield start, torch.cdist(x[start:start + step], y)


def kth_neighbour_radii(x: torch.Tensor, k: int, batch_size: int | None = None) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row of x (shape (n,)).

    Each row is at distance 0 from itself, so the k-th neighbour is the (k+1)-th smallest.
    """
    radii = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for start, d in distance_chunks(x, x, batch_size):
        radii[start:start + d.shape[0]] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def kth_neighbour_distance(x: torch.Tensor, y: torch.Tensor, k: int,
                           batch_size: int | None = None) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest row of y (shape (len(x),))."""
    out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for start, d in distance_chunks(x, y, batch_size):
        out[start:start + d.shape[0]] = d.topk(k, dim=1, largest=False).values[:, k - 1]
    return out
