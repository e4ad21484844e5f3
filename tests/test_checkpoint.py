"""Atomic checkpoint writes and RNG state round trips."""

import os
import random

import numpy as np
import pytest
import torch

from fusegen.checkpoint import load_checkpoint, save_checkpoint
from fusegen.checkpoint import rng_state, set_rng_state


def test_save_then_load(tmp_path):
    path = save_checkpoint({"step": 3, "w": torch.arange(4)}, tmp_path / "sub" / "ck.pt")
    loaded = load_checkpoint(path)
    assert loaded["step"] == 3 and torch.equal(loaded["w"], torch.arange(4))
    assert os.listdir(tmp_path / "sub") == ["ck.pt"]  # no temporary file left


def test_a_failed_write_keeps_the_old_checkpoint(tmp_path):
    path = save_checkpoint({"step": 1}, tmp_path / "ck.pt")

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        save_checkpoint({"step": 2, "bad": Unpicklable()}, path)
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_unreadable_files_give_oserror(tmp_path):
    with pytest.raises(OSError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(OSError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(OSError, match="not a fusegen checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    save_checkpoint({"rng": rng_state()}, tmp_path / "ck.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(load_checkpoint(tmp_path / "ck.pt")["rng"])
    torch.testing.assert_close(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_read_torch_file_turns_every_bad_file_into_one_oserror(tmp_path):
    from fusegen.checkpoint import read_torch_file

    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04garbage")
    import collections
    import pickle

    # a pickle of a class weights_only refuses (it could run code under weights_only=False)
    (tmp_path / "pickle.pt").write_bytes(pickle.dumps(collections.Counter("abc")))
    for name in ("empty.pt", "corrupt.pt", "pickle.pt", "missing.pt"):
        with pytest.raises(OSError, match=name):
            read_torch_file(tmp_path / name, what="tensor file")
    torch.save({"x": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(read_torch_file(tmp_path / "ok.pt")["x"], torch.ones(2))
