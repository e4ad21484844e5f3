"""The partial-conv benchmark times two formulations of the same computation."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fusegen.bench import run
from fusegen.bench.partial_conv_cases import CASES
from fusegen.ops import reference


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fused_and_eager_compute_the_same(case):
    small = dataclasses.replace(case, batch=2, size=16, in_channels=min(case.in_channels, 8),
                                out_channels=min(case.out_channels, 8))
    x, mask = small.input("cpu")
    fused, (conv, norm, act) = small.models("cpu")
    out, new_mask = fused(x, mask)
    want, want_mask = reference.partial_conv_norm_act(x, mask, conv, norm, act)
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(new_mask, want_mask.bool())


def test_the_suite_runs(monkeypatch):
    from fusegen.bench import partial_conv_cases

    tiny = tuple(dataclasses.replace(c, batch=1, size=8, in_channels=4, out_channels=4) for c in CASES[:2])
    monkeypatch.setattr(partial_conv_cases, "CASES", tiny)
    rows = run(["partial-conv"], repeats=1)
    assert [r.case for r in rows] == [c.name for c in tiny]
    assert all(set(r.seconds) == {"fusegen", "eager formulation"} for r in rows)
