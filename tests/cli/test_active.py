import json

import pytest
from PIL import Image

from fusegen.cli import main


def test_active_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["active", "--strategy", "kcenter", "--initial", "10", "--per-round", "10", "--rounds", "2",
               "--learner-steps", "15", "--test-size", "300", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| kcenter |" in printed and "| random |" in printed and "ΔAUC vs random" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["runs"]) == {"kcenter", "random"}
    assert results["summary"]["kcenter"]["labelled"] == [10, 20, 30]
    with Image.open(out / "curve.png") as im:
        assert im.format == "PNG"


@pytest.mark.parametrize("argv, fragment", [
    (["--strategy", "best"], "--strategy: unknown strategy 'best'"),
    (["--compare", "worst"], "--compare: unknown strategy 'worst'"),
    (["--per-round", "0"], "--per-round must be >= 1"),
    (["--rounds", "-1"], "--rounds must be >= 0"),
    (["--rounds", "100", "--per-round", "20"], "--initial 20 + --rounds 100 x --per-round 20 = 2020 labels exceed"),
    (["--test-size", "5000"], "--test-size 5000 leaves no pool"),
    (["--committee", "1"], "--committee must be >= 2"),
    (["--generate", "vae", "--image-size", "20"], "--generate needs --image-size 16, 32 or 64"),
    (["--data", "no/such/folder"], "no such data set"),
])
def test_bad_arguments_give_one_clear_line(tmp_path, capsys, argv, fragment):
    rc = main(["active", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert fragment in err and err.startswith("fusegen active: error:") and err.count("\n") == 1


def test_active_command_generation_link(tmp_path, capsys, monkeypatch):
    from fusegen.active import generation

    real_judge = generation.train_judge  # a few steps: this checks the wiring, not the judge
    monkeypatch.setattr(generation, "train_judge", lambda *a, **k: real_judge(*a, **k, steps=5))
    out = tmp_path / "gen"
    rc = main(["active", "--strategy", "entropy", "--compare", "none", "--initial", "10", "--rounds", "0",
               "--learner-steps", "5", "--generate", "vae", "--generate-steps", "2", "--out", str(out)])
    assert rc == 0
    assert "of samples show their label" in capsys.readouterr().out
    (row,) = json.loads((out / "results.json").read_text())["generation"]
    assert row["strategy"] == "entropy" and row["labels_bought"] == 10 and row["steps"] == 2
    assert 0 <= row["sample_label_accuracy"] <= 1 and 0 <= row["pseudo_label_accuracy"] <= 1
