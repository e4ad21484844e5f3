"""The cases of ``fusegen bench fuse`` and the rows they give (no timed assertions)."""

from __future__ import annotations

import math

import pytest
import torch

from fusegen import bench
from fusegen.bench.client_models import CLIENT_MODELS
from fusegen.bench.fuse_cases import DEFAULT_CASES, FuseCase, full_grid, train_step, variants

TINY = {"width": 8, "depth": 3}


def test_rows_time_fusegen_and_the_model():
    cases = [FuseCase("dncnn", 2, 16, "train", TINY), FuseCase("dncnn", 1, 24, "eval", TINY)]
    rows = bench.fuse_rows(torch.device("cpu"), 1, cases=cases)
    assert [r.mode for r in rows] == ["train fwd+bwd", "eval"]
    assert rows[0].case == "dncnn (width 8, depth 3), batch 2, 16px"
    for row in rows:
        assert row.suite == "fuse" and set(row.seconds) == {"fusegen", "eager"}
        assert all(math.isfinite(t) and t > 0 for t in row.seconds.values())
    (row,) = bench.fuse_rows(torch.device("cpu"), 1, channels_last=True, cases=cases[1:])
    assert row.mode == "eval, channels-last"


def test_variants_share_weights_and_training_steps_do_not_accumulate_gradients():
    case = FuseCase("patchgan_discriminator", 2, 32, "train", {"width": 8})
    models = variants(case)
    assert set(models) == {"fusegen", "eager"} and all(m.training for m in models.values())
    assert models["fusegen"] is not models["eager"]
    assert torch.equal(models["fusegen"].model[0].weight, models["eager"].model[0].weight)
    fused, x = models["fusegen"], case.input()
    grad = torch.ones_like(fused(x))
    train_step(fused, x, grad)
    first = [p.grad.clone() for p in fused.parameters()]
    train_step(fused, x, grad)
    assert all(torch.allclose(p.grad, g) for p, g in zip(fused.parameters(), first))


def test_default_cases_cover_every_model_batch_1_to_64_and_32_to_256_px():
    assert {c.model for c in DEFAULT_CASES} == set(CLIENT_MODELS)
    for model in CLIENT_MODELS:
        assert {c.mode for c in DEFAULT_CASES if c.model == model} == {"train", "eval"}
    assert min(c.batch for c in DEFAULT_CASES) == 1 and max(c.batch for c in DEFAULT_CASES) == 64
    assert min(c.size for c in DEFAULT_CASES) == 32 and max(c.size for c in DEFAULT_CASES) == 256
    for case in DEFAULT_CASES:
        assert case.size >= CLIENT_MODELS[case.model].min_size, case.name
    assert len({(c.name, c.mode) for c in DEFAULT_CASES}) == len(DEFAULT_CASES)


def test_full_grid_is_every_model_batch_and_size_it_takes():
    grid = full_grid()
    assert len(grid) == sum(2 * 4 * sum(s >= m.min_size for s in (32, 64, 128, 256))
                            for m in CLIENT_MODELS.values())
    assert {(c.batch, c.size) for c in grid if c.model == "unet_generator"} == {
        (b, s) for b in (1, 4, 16, 64) for s in (64, 128, 256)}


def test_case_inputs_are_seeded_and_cases_check_their_arguments():
    case = FuseCase("dncnn", 3, 20, "eval")
    assert case.input().shape == (3, 1, 20, 20) and torch.equal(case.input(), case.input())
    with pytest.raises(ValueError, match="model must be one of"):
        FuseCase("vgg19", 1, 32, "eval")
    with pytest.raises(ValueError, match="mode must be one of"):
        FuseCase("dncnn", 1, 32, "test")
