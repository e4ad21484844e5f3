"""fusegen.timing: medians of wall time, with a fake clock (no timed assertions)."""

import pytest

from fusegen import timing


@pytest.fixture
def clock(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    return now


def test_median_seconds_ignores_warmup_and_outliers(clock):
    durations = iter([100.0, 1.0, 50.0, 2.0, 3.0])  # warm-up call first, then 4 timed calls

    def fn():
        clock[0] += next(durations)

    assert timing.median_seconds(fn, repeats=4, warmup=1) == pytest.approx(2.5)


def test_interleaved_median_seconds_times_each_variant_in_turns(clock):
    order = []

    def variant(name, seconds):
        def fn():
            order.append(name)
            clock[0] += seconds
        return fn

    result = timing.interleaved_median_seconds({"a": variant("a", 2.0), "b": variant("b", 0.5)},
                                               repeats=3, warmup=2)
    assert result == {"a": pytest.approx(2.0), "b": pytest.approx(0.5)}
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3
