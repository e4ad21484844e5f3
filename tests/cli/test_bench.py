"""fusegen bench: the suites' rows, the table and JSON, argument errors (no timed assertions)."""

import json

import numpy as np
import pytest

from fusegen import bench
from fusegen.cli import main


def test_weighted_sum_suite_as_json(capsys):
    assert main(["bench", "weighted-sum", "--repeats", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = report["rows"]
    assert {r["mode"] for r in rows} == {"forward", "forward+backward"}
    for row in rows:
        assert row["suite"] == "weighted-sum" and row["seconds"]["fusegen"] > 0
        assert set(row["speedups"]) == set(row["seconds"]) - {"fusegen"}
        assert "stack" in row["speedups"]


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
