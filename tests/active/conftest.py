"""Fixtures for the active-learning tests: small digits splits, one CPU thread while they run."""

from __future__ import annotations

import pytest
import torch

from fusegen.active import split_pool
from fusegen.data import load_dataset


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """The networks are tiny: one thread is as fast and keeps the tests quick on a shared machine."""


@pytest.fixture(scope="session")
def digits16():
    return load_dataset("digits", 16, 1)


@pytest.fixture(scope="session")
def small_split(digits16):
    """A 300-image pool and a 200-image test set."""
    pool, test = split_pool(digits16, 200, seed=0)
    return pool.subset(torch.arange(300)), test


class TableLearner:
    """A stand-in learner whose probabilities are a fixed table, looked up by the image's value."""

    def __init__(self, table: torch.Tensor):
        self.table = table

    def predict_proba(self, images):
        return self.table[images[:, 0, 0, 0].long()]


def indexed_images(n: int) -> torch.Tensor:
    """n 4x4 images, image i filled with the value i (so a TableLearner can find its row)."""
    return torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
