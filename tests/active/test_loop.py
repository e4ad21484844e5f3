import pytest
import torch

from fusegen.active import (ActiveResult, BudgetError, LabelOracle, Learner, LearnerConfig,
                            area_under_curve, compare_strategies, format_results, run_active_learning)

FAST = LearnerConfig(steps=25)


def test_curve_length_budget_and_oracle_calls(small_split):
    pool, test = small_split
    oracle = LabelOracle(pool.labels)
    res = run_active_learning(pool.images, oracle, test.images, test.labels, strategy="kcenter",
                              initial=10, per_round=7, rounds=3, seed=1, learner=FAST)
    assert res.labelled == [10, 17, 24, 31]
    assert len(res.accuracy) == len(res.fit_seconds) == 4 and len(res.query_seconds) == 3
    assert all(0 <= a <= 1 for a in res.accuracy)
    # the oracle was asked once per round, for exactly the queried indices, none twice
    assert oracle.calls == res.queried
    asked = [i for call in oracle.calls for i in call]
    assert len(asked) == len(set(asked)) == 31
    assert res.labelled_indices.tolist() == asked
    assert torch.equal(res.labels, pool.labels[res.labelled_indices])
    d = res.to_dict()
    assert d["auc"] == pytest.approx(res.auc()) and d["settings"]["budget"] == 31


def test_seeded_runs_repeat_and_share_their_start(small_split):
    pool, test = small_split
    kw = dict(initial=10, per_round=5, rounds=1, seed=4, learner=FAST)
    a = run_active_learning(pool.images, LabelOracle(pool.labels), test.images, test.labels,
                            strategy="entropy", **kw)
    b = run_active_learning(pool.images, LabelOracle(pool.labels), test.images, test.labels,
                            strategy="entropy", **kw)
    r = run_active_learning(pool.images, LabelOracle(pool.labels), test.images, test.labels,
                            strategy="random", **kw)
    assert a.accuracy == b.accuracy and a.queried == b.queried
    assert r.queried[0] == a.queried[0] and r.accuracy[0] == a.accuracy[0]  # same start
    assert r.queried[1] != a.queried[1]


def test_the_loop_improves_on_digits(digits16, device):
    """Entropy sampling from 20 to 80 labels lifts test accuracy well above the first round's."""
    results = compare_strategies(digits16, ["entropy"], seeds=[0], test_size=400, initial=20,
                                 per_round=20, rounds=3, learner=LearnerConfig(steps=100), device=device)
    res = results["entropy"][0]
    assert res.labelled == [20, 40, 60, 80]
    assert res.accuracy[-1] > res.accuracy[0] + 0.1, res.accuracy
    assert res.accuracy[-1] > 0.75


def test_budget_and_argument_errors_name_the_argument(small_split):
    pool, test = small_split
    oracle = LabelOracle(pool.labels)
    args = (pool.images, oracle, test.images, test.labels)
    with pytest.raises(BudgetError, match=r"initial 100 \+ rounds 10 x per_round 30 = 400\) exceeds the pool \(300"):
        run_active_learning(*args, initial=100, per_round=30, rounds=10)
    with pytest.raises(ValueError, match="per_round must be an integer >= 1"):
        run_active_learning(*args, per_round=0)
    with pytest.raises(ValueError, match="initial must be an integer >= 1"):
        run_active_learning(*args, initial=0)
    with pytest.raises(ValueError, match="unknown strategy 'best'"):
        run_active_learning(*args, strategy="best")
    with pytest.raises(ValueError, match="test_labels must be"):
        run_active_learning(pool.images, oracle, test.images, test.labels[:5])
    assert oracle.calls == []  # nothing was asked before the arguments were checked


def test_custom_strategy_must_return_the_right_count(small_split):
    pool, test = small_split
    with pytest.raises(ValueError, match=r"returned \(3,\) indices, expected \(5,\)"):
        run_active_learning(pool.images, LabelOracle(pool.labels), test.images, test.labels,
                            strategy=lambda ctx, k: ctx.unlabelled[:3], initial=5, per_round=5,
                            rounds=1, learner=FAST)
    repeat = run_active_learning  # a strategy re-asking a labelled index is refused by the pool
    with pytest.raises(ValueError, match="labelled already"):
        repeat(pool.images, LabelOracle(pool.labels), test.images, test.labels,
               strategy=lambda ctx, k: ctx.labelled[:k], initial=5, per_round=5, rounds=1, learner=FAST)


def test_warm_start_fine_tunes_the_same_network(small_split):
    pool, _ = small_split
    x, y = pool.images[:40], pool.labels[:40]
    warm = Learner(1, 10, LearnerConfig(steps=10, warm_start=True)).fit(x, y)
    net = warm.net
    warm.fit(x, y, seed=1)
    assert warm.net is net
    cold = Learner(1, 10, LearnerConfig(steps=10)).fit(x, y)
    net = cold.net
    cold.fit(x, y, seed=1)
    assert cold.net is not net


def test_area_under_curve_and_table():
    assert area_under_curve([10, 20, 30], [0.5, 0.7, 0.9]) == pytest.approx(0.7)
    assert area_under_curve([10], [0.4]) == 0.4
    with pytest.raises(ValueError):
        area_under_curve([1, 2], [0.5])
    runs = {name: [ActiveResult(name, s, [10, 20], [0.5 + d, 0.6 + d + s / 10], [[0], [1]], [0, 0], [0])
                   for s in (0, 1)] for name, d in (("random", 0.0), ("entropy", 0.1))}
    table = format_results(runs)
    assert "| entropy | 0.600 ± 0.000 | 0.750 ± 0.071 |" in table
    assert table.splitlines()[-1].endswith("| +0.100 |")
