import math

import pytest
import torch

from fusegen.active import (STRATEGIES, Learner, LearnerConfig, QueryContext, committee_mean,
                            discriminative_selection, entropy, kcenter_greedy, make_strategy,
                            mutual_information, vote_entropy)
from tests.active.conftest import TableLearner, indexed_images


def test_entropy_strategy_picks_the_most_uncertain_rows():
    table = torch.tensor([[1.0, 0.0, 0.0],      # certain
                          [1 / 3, 1 / 3, 1 / 3],  # most uncertain
                          [0.5, 0.5, 0.0],
                          [0.9, 0.05, 0.05],
                          [0.4, 0.3, 0.3],      # second
                          [0.5, 0.5, 0.0]])     # labelled: must not be picked
    assert entropy(table[:1]).item() == 0.0
    assert entropy(table[1:2]).item() == pytest.approx(math.log(3))
    ctx = QueryContext(indexed_images(6), torch.tensor([5]), torch.tensor([0]), TableLearner(table))
    assert make_strategy("entropy")(ctx, 2).tolist() == [1, 4]
    assert make_strategy("entropy")(ctx, 3).tolist() == [1, 4, 2]


def test_disagreement_is_zero_when_members_agree_and_positive_when_not():
    probs = torch.softmax(torch.randn(5, 7, generator=torch.Generator().manual_seed(0)), 1)
    agree = probs.expand(4, 5, 7).contiguous()
    assert torch.allclose(committee_mean(agree), probs, atol=1e-6)
    assert mutual_information(agree).abs().max() < 1e-6
    assert vote_entropy(agree).abs().max() == 0
    disagree = torch.stack([torch.eye(3)[[0, 0]], torch.eye(3)[[1, 0]]])  # (K=2, N=2, C=3)
    mi = mutual_information(disagree)
    assert mi[0] == pytest.approx(math.log(2), abs=1e-6) and mi[1].abs() < 1e-6
    assert vote_entropy(disagree)[0] == pytest.approx(math.log(2)) and vote_entropy(disagree)[1] == 0
    # mean KL of each member from the committee's average equals H(mean) - mean H
    mixed = torch.softmax(torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(1)), -1)
    mean = mixed.mean(0)
    kl = (mixed * (mixed / mean).log()).sum(-1).mean(0)
    assert torch.allclose(mutual_information(mixed), kl, atol=1e-6)


def test_kcenter_picks_the_farthest_points():
    x = torch.tensor([[0.0], [1.0], [2.0], [10.0], [9.5], [-0.5]])
    assert kcenter_greedy(x, torch.tensor([0]), 1).tolist() == [3]
    # after 10: distances 1, 2, -, 0.5, 0.5 -> 2.0 next, then 1.0 / 9.5 / -0.5 (all at 0.5..1)
    assert kcenter_greedy(x, torch.tensor([0]), 2).tolist() == [3, 2]
    mask = torch.zeros(6, dtype=torch.bool)
    mask[3] = True
    assert kcenter_greedy(x, mask, 1).tolist() == [5]  # farthest from 10 is -0.5
    picks = kcenter_greedy(x, torch.tensor([], dtype=torch.long), 3, generator=torch.Generator().manual_seed(0))
    assert len(set(picks.tolist())) == 3


def test_discriminator_prefers_points_far_from_the_labelled_set():
    g = torch.Generator().manual_seed(0)
    near = torch.randn(200, 2, generator=g) * 0.5          # labelled and unlabelled mixed here
    far = torch.randn(6, 2, generator=g) * 0.3 + torch.tensor([6.0, 6.0])  # only unlabelled
    feats = torch.cat([near, far])
    labelled = torch.arange(0, 200, 4)                     # 50 of the near points
    picks = discriminative_selection(feats, labelled, 6, sub_batches=1, seed=0)
    assert sorted(picks.tolist()) == list(range(200, 206))
    picks = discriminative_selection(feats, labelled, 4, sub_batches=1, hidden=0, seed=0)
    assert set(picks.tolist()) <= set(range(200, 206))


@pytest.fixture(scope="module")
def fitted_context(small_split):
    pool, _ = small_split
    labelled = torch.arange(0, 300, 15)  # 20 labelled
    learner = Learner(1, 10, LearnerConfig(steps=20)).fit(pool.images[labelled], pool.labels[labelled])
    return QueryContext(pool.images, labelled, pool.labels[labelled], learner, seed=3)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_each_strategy_returns_distinct_unlabelled_indices(fitted_context, name):
    options = {"committee": 2} if name == "disagreement" else {}
    if name == "discriminator":
        options = {"steps": 30}
    chosen = make_strategy(name, **options)(fitted_context, 13)
    assert chosen.dtype == torch.long and chosen.shape == (13,)
    assert len(set(chosen.tolist())) == 13
    assert chosen.min() >= 0 and chosen.max() < 300
    assert not fitted_context.labelled_mask[chosen].any()


def test_strategy_arguments_are_checked(fitted_context):
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        make_strategy("nope")
    with pytest.raises(ValueError, match="committee must be an integer >= 2"):
        make_strategy("disagreement", committee=1)
    with pytest.raises(ValueError, match="measure must be one of"):
        make_strategy("disagreement", measure="kl")
    with pytest.raises(TypeError, match="strategy 'random'"):
        make_strategy("random", committee=3)
    with pytest.raises(ValueError, match="only 280 are unlabelled"):
        make_strategy("random")(fitted_context, 281)
    with pytest.raises(ValueError, match="embedding must be"):
        make_strategy("kcenter", embedding="latent")(fitted_context, 2)


def test_pixel_and_function_embeddings(fitted_context):
    by_pixels = make_strategy("kcenter", embedding="pixels")(fitted_context, 5)
    by_function = make_strategy("kcenter", embedding=lambda x: x.flatten(1))(fitted_context, 5)
    assert by_pixels.tolist() == by_function.tolist()
