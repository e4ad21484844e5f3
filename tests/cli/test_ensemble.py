"""``fusegen ensemble``: checkpoints in, the member-vs-ensemble table out, an ensemble written."""

from __future__ import annotations

import json

import pytest
import torch

import fusegen
from fusegen.cli import main
from fusegen.models import BM3DDenoiser, DnCNN, Ensemble, NLMDenoiser
from tests.fixtures import checkpoints  # noqa: F401  (a fixture)

pytest.importorskip("PIL.Image", reason="the image folders are written with Pillow")


def run_json(argv, capsys) -> dict:
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_average_with_nlm_learns_weights_reports_and_writes_a_loadable_denoiser(checkpoints, capsys):
    tmp, p = checkpoints
    out = tmp / "avg.pt"
    result = run_json(["ensemble", p["dncnn0"], "--nlm", "--learn", "--data", p["val"], "--patch", "16",
                       "--test", p["test"], "-o", str(out)], capsys)
    assert result["mode"] == "average" and result["fit"]["method"] == "lstsq"
    names = [r["name"] for r in result["rows"]]
    assert names == ["noisy", f"{tmp.name}/dncnn0.pt", "nlm", "ensemble (uniform)", "ensemble"]
    rows = {r["name"]: r for r in result["rows"]}
    # On the fitting data the learned convex combination is never worse than a member (nor uniform).
    assert result["fit"]["after"] >= result["fit"]["before"] - 1e-6
    assert rows["ensemble"]["psnr"] > rows["noisy"]["psnr"]
    model = fusegen.load(out)
    assert isinstance(model, Ensemble) and model.restores
    assert torch.allclose(model.weights.double(), torch.tensor(result["weights"], dtype=torch.float64))
    # fusegen denoise takes the ensemble as a model
    denoised = tmp / "denoised.png"
    assert main(["denoise", f"{p['test']}/0.png", "-o", str(denoised), "--method", "dncnn",
                 "--model", str(out)]) == 0
    assert denoised.exists()


def test_average_with_nlm_and_bm3d_members(checkpoints, capsys):
    tmp, p = checkpoints
    out = tmp / "avg-bm3d.pt"
    result = run_json(["ensemble", p["dncnn0"], "--nlm", "--bm3d", "--weights", "1,1,2", "--test", p["test"],
                       "--sigma", "20", "-o", str(out)], capsys)
    assert result["members"] == [f"{tmp.name}/dncnn0.pt", "nlm", "bm3d"]
    assert result["checkpoints"][-2:] == ["(nlm)", "(bm3d)"] and result["weights"] == [0.25, 0.25, 0.5]
    rows = {r["name"]: r for r in result["rows"]}
    assert rows["bm3d"]["psnr"] > rows["noisy"]["psnr"] + 3
    model = fusegen.load(out)
    assert [type(m) for m in model.members[1:]] == [NLMDenoiser, BM3DDenoiser]
    assert model.members[2].config["sigma"] == 20


def test_mixture_with_given_weights_prints_a_table_and_samples(checkpoints, capsys):
    tmp, p = checkpoints
    out = tmp / "mix.pt"
    assert main(["ensemble", p["gan0"], p["gan1"], "--weights", "1,3", "-n", "80", "--features", "random",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mixture of 2 members" in printed and "0.250" in printed and "0.750" in printed
    assert "ensemble (uniform)" in printed and "KID" in printed and "Fréchet" in printed
    model = fusegen.load(out)
    assert model.mode == "mixture" and torch.allclose(model.weights, torch.tensor([0.25, 0.75]))
    assert main(["sample", str(out), "-n", "4", "-o", str(tmp / "grid.png")]) == 0


def test_mixture_weights_learned_by_mmd(checkpoints, capsys):
    tmp, p = checkpoints
    result = run_json(["ensemble", p["gan0"], p["gan1"], "--learn", "-n", "80", "--features", "random",
                       "--extractor", str(tmp / "features.pt")], capsys)
    assert result["fit"]["method"] == "mmd" and result["fit"]["after"] <= result["fit"]["before"] + 1e-9
    assert (tmp / "features.pt").exists()
    assert [r["name"] for r in result["rows"]][-2:] == ["ensemble (uniform)", "ensemble"]


def test_mixture_weights_learned_by_coverage(checkpoints, capsys):
    tmp, p = checkpoints
    result = run_json(["ensemble", p["gan0"], p["gan1"], "--learn", "--method", "coverage", "-n", "80",
                       "--features", "random"], capsys)
    fit = result["fit"]
    assert fit["method"] == "coverage" and fit["objective"].startswith("coverage + precision")
    assert fit["after"] >= fit["before"] and abs(sum(result["weights"]) - 1) < 1e-6


def test_soup_writes_one_plain_model(checkpoints, capsys):
    tmp, p = checkpoints
    out = tmp / "soup.pt"
    result = run_json(["ensemble", p["dncnn0"], p["dncnn1"], "--mode", "soup", "--weights", "1,1",
                       "--test", p["test"], "-o", str(out)], capsys)
    souped = fusegen.load(out)
    assert isinstance(souped, DnCNN)
    a, b = fusegen.load(p["dncnn0"]), fusegen.load(p["dncnn1"])
    assert torch.allclose(souped.layers[0].weight, (a.layers[0].weight + b.layers[0].weight) / 2)
    assert result["rows"][-1]["name"] == "ensemble"


@pytest.mark.parametrize("argv,message", [
    (["{dncnn0}", "--nlm", "--weights", "1,2,3"], "--weights must have one weight per member (2), got 3"),
    (["{dncnn0}", "--weights", "a,b"], "--weights must be numbers"),
    (["{dncnn0}", "{dncnn_wide}", "--mode", "soup"], "width=6"),
    (["{dncnn0}", "{gan0}"], "cannot tell how to combine"),
    (["{gan0}", "{gan1}", "--mode", "average"], "blurs"),
    (["{dncnn0}", "--method", "psnr"], "--method goes with --learn"),
    (["{tmp}/missing.pt"], "no such checkpoint"),
    (["{dncnn0}", "--nlm", "--names", "a"], "--names must give 2 names"),
    (["{dncnn0}", "--nlm", "--bm3d", "--weights", "1,2"], "--weights must have one weight per member (3), got 2"),
    (["{dncnn0}", "--bm3d", "--names", "a,b,c"], "--names must give 2 names"),
    (["{dncnn0}", "-o", "{tmp}/out.png"], "-o must name a .pt file"),
])
def test_bad_arguments_end_in_one_line(checkpoints, capsys, argv, message):
    tmp, p = checkpoints
    argv = [a.format(tmp=tmp, **p) for a in argv]
    assert main(["ensemble", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
