"""fusegen bench: the suites' rows, the table and JSON, argument errors (no timed assertions)."""

import importlib.machinery
import json
import sys
import types

import numpy as np
import pytest
import torch

from fusegen import bench
from fusegen.cli import main


def test_weighted_sum_suite_as_json(capsys):
    assert main(["bench", "weighted-sum", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rows"]
    assert {r["mode"] for r in rows} == {"forward", "forward, out=", "forward+backward"}
    for row in rows:
        assert row["suite"] == "weighted-sum" and row["seconds"]["fusegen"] > 0
        assert set(row["speedups"]) == set(row["seconds"]) - {"fusegen"}
        if row["mode"] == "forward+backward":
            assert "stack" in row["speedups"]
        else:  # the memory ceiling and the in-place loop users write
            assert {"clone, same bytes", "add_ loop"} <= set(row["speedups"])


def test_conv_suite_times_every_variant():
    rows = bench.run(["conv"], "cpu", repeats=1)
    assert [r.mode for r in rows] == ["train fwd+bwd", "eval"] * 3
    assert set(rows[0].seconds) == {"eager", "fusegen"}
    assert set(rows[1].seconds) == {"eager", "fusegen", "fuse_conv_bn_eval+act"}
    table = bench.format_rows(rows)
    assert table.count("\n") == len(rows) + 1 and "eager" in table


def test_nlm_suite_and_its_anchors(monkeypatch):
    monkeypatch.setattr(bench, "_nlm_anchors", lambda image, sigma: {})
    rows = bench.run(["nlm"], "cpu", repeats=1)
    assert [r.suite for r in rows] == ["nlm", "nlm"] and rows[1].seconds["fusegen"] > 0
    grey = np.random.default_rng(0).integers(0, 256, (24, 24), dtype=np.uint8)
    colour = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    for image in (grey, colour):
        for name, denoise in bench._nlm_anchors(image, 25.0).items():
            assert np.asarray(denoise()).shape == image.shape, name


@pytest.mark.parametrize("argv,message", [
    (["--repeats", "0"], "--repeats"),
    (["--threads", "0"], "--threads"),
    (["--device", "nope"], "--device"),
    (["--size", "32"], "--size is for the bm3d suite"),
    (["bm3d", "--size", "0"], "--size must be in [1, 512]"),
    (["bm3d", "--size", "513"], "--size must be in [1, 512]"),
])
def test_bad_arguments_give_one_line(capsys, argv, message):
    assert main(["bench", "weighted-sum", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_unknown_suite_is_refused(capsys):
    assert main(["bench", "fft"]) == 2
    assert "suites must be among" in capsys.readouterr().err
    with pytest.raises(ValueError, match="suites must be among"):
        bench.run(["fft"])


def test_conv_suite_in_channels_last(capsys):
    assert main(["bench", "conv", "--channels-last", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    modes = [r["mode"] for r in report["rows"]]
    assert modes == ["train fwd+bwd, channels-last", "eval, channels-last"] * 3
    assert "threads" in report["device"] and report["date"]


def test_gan_step_and_ema_suites():
    rows = bench.gan_step_rows(torch.device("cpu"), 1, image_size=16, width=16, batch=8,
                               channels_last=True)
    assert len(rows) == 1 and set(rows[0].seconds) == {"fusegen", "eager"}
    assert rows[0].suite == "gan-step" and "channels-last" in rows[0].mode
    (ema,) = bench.run(["ema"], "cpu", repeats=1)
    assert set(ema.speedups()) == {"torch._foreach_lerp_"} and ema.seconds["fusegen"] > 0


def test_missing_anchors_are_named(monkeypatch, capsys):
    monkeypatch.setattr(bench, "OPTIONAL_ANCHORS", {"Nope": ("no_such_module_fusegen", "nope-pkg", "nlm")})
    assert bench.missing_anchors() == [
        "Nope anchor left out: its package is not installed (pip install nope-pkg)"]
    assert bench.missing_anchors(["conv"]) == []  # only the suites that run
    for suite in ("nlm", "weighted-sum"):
        monkeypatch.setitem(bench.RUNNERS, suite, lambda *args: [])
    assert main(["bench", "nlm", "--repeats", "1"]) == 0
    assert "note: Nope anchor left out" in capsys.readouterr().out
    assert main(["bench", "weighted-sum", "--repeats", "1"]) == 0  # no nlm, no note
    assert "note:" not in capsys.readouterr().out


def fake_reference_package() -> types.ModuleType:
    """A stand-in for the reference ``bm3d`` package (seconds per call, even on tiny images)
    that returns its input: the suite's plumbing without the wait."""
    fake = types.ModuleType("bm3d")
    fake.__spec__ = importlib.machinery.ModuleSpec("bm3d", None)
    fake.bm3d = lambda z, sigma: z.copy() if z.ndim == 2 else pytest.fail("bm3d.bm3d takes (H, W)")
    fake.bm3d_rgb = lambda z, sigma: z.copy() if z.shape[-1] == 3 else pytest.fail("bm3d_rgb takes (H, W, 3)")
    return fake


def test_bm3d_suite_from_the_command_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "bm3d", fake_reference_package())
    assert main(["bench", "bm3d", "--size", "24", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rows"]
    assert [r["case"] for r in rows] == ["camera 24x24 grey, sigma 25", "astronaut 24x24 colour, sigma 25"]
    methods = {"fusegen", "fusegen NLM", "bm3d (reference)"}
    for row in rows:
        assert row["suite"] == "bm3d" and set(row["seconds"]) == methods
        assert set(row["psnr"]) == methods | {"noisy"} and set(row["speedups"]) == methods - {"fusegen"}
        assert row["psnr"]["fusegen"] > row["psnr"]["noisy"] + 3
        # the stand-in returns the noisy image: same layout back, same score
        assert row["psnr"]["bm3d (reference)"] == pytest.approx(row["psnr"]["noisy"])
        assert row["psnr_gains_db"]["noisy"] == pytest.approx(row["psnr"]["fusegen"] - row["psnr"]["noisy"])
    assert any("bm3d: median of 1 rounds" in note for note in report["notes"])
    assert not any("anchor left out" in note for note in report["notes"])


def test_bm3d_suite_goes_without_a_missing_reference(monkeypatch, capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "bm3d" else find_spec(name, *args))
    assert main(["bench", "bm3d", "--size", "16", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "note: bm3d (reference) anchor left out: its package is not installed (pip install bm3d)" in out
    assert "| bm3d | camera 16x16 grey, sigma 25 | denoise |" in out
    assert "fusegen NLM" in out and "reference)" not in out.split("note:")[0]
    assert "PSNR dB" in out and "fusegen's PSNR gain over" in out


def test_tables_without_psnr_keep_their_columns():
    rows = [bench.Row("x", "case", "eval", {"fusegen": 1.0, "eager": 2.0})]
    assert "PSNR" not in bench.format_rows(rows) and "psnr" not in bench.rows_as_dicts(rows)[0]
    rows.append(bench.Row("bm3d", "c", "denoise", {"fusegen": 1.0}, {"fusegen": 30.0, "noisy": 20.0}))
    table = bench.format_rows(rows)
    assert "| fusegen 30.00, noisy 20.00 | noisy +10.00 dB |" in table
    assert table.splitlines()[2].endswith("|  |  |")  # the row without PSNR: empty cells


def test_fuse_suite_from_the_command_line(monkeypatch, capsys):
    from fusegen.bench import fuse_cases

    tiny = [fuse_cases.FuseCase("dncnn", 2, 16, mode, {"width": 8, "depth": 3})
            for mode in ("train", "eval")]
    monkeypatch.setattr(fuse_cases, "DEFAULT_CASES", tiny)
    assert main(["bench", "fuse", "--repeats", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["suite"], r["mode"]) for r in rows] == [("fuse", "train fwd+bwd"), ("fuse", "eval")]
    assert all(set(r["speedups"]) == {"eager"} and r["seconds"]["fusegen"] > 0 for r in rows)
    assert "fuse" in bench.SUITES
