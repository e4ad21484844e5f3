"""fusegen bench: the suites' rows, the table and JSON, argument errors (no timed assertions)."""

import json

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
    monkeypatch.setattr(bench, "OPTIONAL_ANCHORS", {"Nope": ("no_such_module_fusegen", "nope-pkg")})
    assert bench.missing_anchors() == [
        "Nope anchor left out: its package is not installed (pip install nope-pkg)"]
    for suite in ("nlm", "weighted-sum"):
        monkeypatch.setitem(bench.RUNNERS, suite, lambda *args: [])
    assert main(["bench", "nlm", "--repeats", "1"]) == 0
    assert "note: Nope anchor left out" in capsys.readouterr().out
    assert main(["bench", "weighted-sum", "--repeats", "1"]) == 0  # no nlm, no note
    assert "note:" not in capsys.readouterr().out


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
