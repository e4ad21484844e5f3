"""BatchStream: seeded epochs, resumable position, disjoint shards."""

import pytest
import torch

from fusegen.train.batches import BatchStream


def test_resumed_stream_continues_identically():
    a = BatchStream(23, 5, seed=1)
    expected = [a.next() for _ in range(12)]  # crosses several epochs
    b = BatchStream(23, 5, seed=1)
    first = [b.next() for _ in range(5)]
    c = BatchStream(23, 5, seed=1)
    c.load_state_dict(b.state_dict())
    for got, want in zip(first + [c.next() for _ in range(7)], expected):
        assert torch.equal(got, want)


def test_each_epoch_is_a_permutation_and_shards_are_disjoint():
    s0, s1 = BatchStream(20, 5, seed=0, rank=0, world=2), BatchStream(20, 5, seed=0, rank=1, world=2)
    epoch = torch.cat([s0.next(), s0.next(), s1.next(), s1.next()])
    assert sorted(epoch.tolist()) == list(range(20))
    assert not torch.equal(torch.cat([s0.next(), s0.next()]), epoch[:10])  # reshuffled


def test_batch_larger_than_data_is_an_error():
    with pytest.raises(ValueError, match="batch-size"):
        BatchStream(10, 8, world=2)
