"""The 8 symmetries of the square: turn/unturn, per-sample augmentation in NoisyPairs."""

import pytest
import torch

from fusegen.data import NoisyPairs
from fusegen.data.symmetry import SYMMETRIES, dihedral, turn, unturn


def test_the_eight_symmetries_are_distinct_and_invertible():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)  # no symmetry of its own, not square
    images = {(tuple(turn(x, k).shape), tuple(turn(x, k).flatten().tolist())) for k in SYMMETRIES}
    assert len(images) == 8
    for k in SYMMETRIES:
        assert torch.equal(unturn(turn(x, k), k), x)
    assert torch.equal(turn(x, 0), x)
    assert torch.equal(turn(x, 1), torch.rot90(x, 1, (-2, -1)))
    assert torch.equal(turn(x, 4), x.flip(-1))


def test_dihedral_turns_each_image_by_its_own_symmetry():
    images = torch.rand(16, 2, 5, 5)
    which = torch.arange(16) % 8
    out = dihedral(images, which)
    for i in range(16):
        assert torch.equal(out[i], turn(images[i], int(which[i])))


def test_noisy_pairs_augment_only_training_batches():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(4, 1, 6, 6, generator=g)
    pairs = NoisyPairs(clean, sigma=0, augment=True)
    seen = set()
    for _ in range(40):
        _, batch_clean = pairs.batch(torch.tensor([2]))
        matches = [k for k in SYMMETRIES if torch.equal(batch_clean[0], turn(clean[2], k))]
        assert matches  # always some symmetry of the chosen image
        seen.add(matches[0])
    assert len(seen) > 4  # and drawn at random
    assert torch.equal(pairs[2][1], clean[2])  # indexing (the fixed evaluation set) never turns
    with pytest.raises(ValueError, match="square"):
        NoisyPairs(torch.rand(2, 1, 4, 6), augment=True)
