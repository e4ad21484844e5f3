import pytest
import torch

from fusegen.active import BudgetError, LabelOracle, LabelPool


def test_budget_accounting_and_order():
    oracle = LabelOracle(torch.arange(10) % 3)
    pool = LabelPool(10, oracle, budget=5)
    assert (pool.spent, pool.remaining) == (0, 5)
    assert pool.query([4, 1]).tolist() == [1, 1]
    assert pool.query(torch.tensor([9])).tolist() == [0]
    assert (pool.spent, pool.remaining) == (3, 2)
    assert pool.labelled.tolist() == [4, 1, 9]
    assert pool.labels.tolist() == [1, 1, 0]
    assert sorted(pool.unlabelled.tolist()) == [0, 2, 3, 5, 6, 7, 8]
    assert pool.rounds == [[4, 1], [9]]
    with pytest.raises(BudgetError, match="only 2 are left"):
        pool.query([0, 2, 3])
    assert oracle.calls == [[4, 1], [9]]  # the refused query never reached the oracle
    pool.query([0, 2])
    assert pool.remaining == 0


@pytest.mark.parametrize("bad, message", [
    ([3, 3], "distinct"),
    ([10], r"\[0, 10\)"),
    ([-1], r"\[0, 10\)"),
    ([], "at least one"),
    ([1.5], "integers"),
])
def test_bad_queries_never_reach_the_oracle(bad, message):
    oracle = LabelOracle(torch.zeros(10, dtype=torch.long))
    pool = LabelPool(10, oracle)
    with pytest.raises((ValueError, IndexError, TypeError), match=message):
        pool.query(bad)
    assert oracle.calls == []


def test_an_index_is_never_queried_twice():
    oracle = LabelOracle(torch.arange(6))
    pool = LabelPool(6, oracle)
    pool.query([2, 5])
    with pytest.raises(ValueError, match=r"\[5\] are labelled already"):
        pool.query([0, 5])
    assert oracle.calls == [[2, 5]]


def test_budget_larger_than_pool_and_bad_oracle_answers():
    with pytest.raises(BudgetError, match="budget \\(11\\) exceeds the pool \\(10"):
        LabelPool(10, LabelOracle(torch.zeros(10, dtype=torch.long)), budget=11)
    with pytest.raises(TypeError, match="oracle must be a function"):
        LabelPool(10, "labels")
    pool = LabelPool(4, lambda idx: torch.zeros(len(idx) + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="oracle must return 2 integer labels"):
        pool.query([0, 1])
    assert pool.spent == 0  # nothing was recorded from a bad answer
    pool = LabelPool(4, lambda idx: torch.full((len(idx),), 7), num_classes=3)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        pool.query([0])
