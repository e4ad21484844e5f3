"""The demo's steps on small trained checkpoints (the whole demo: test_run.py)."""

from __future__ import annotations

import json

import pytest

from fusegen.checkpoint import load_checkpoint
from fusegen.demo.ensemble import step_ensemble
from fusegen.demo.transfer import step_transfer
from tests.fixtures import checkpoints, pre  # noqa: F401  (fixtures)


def test_ensemble_demo_step_on_trained_checkpoints(checkpoints, tmp_path):
    tmp, p = checkpoints
    result = step_ensemble(tmp_path, p["dncnn0"], [p["gan0"], p["gan1"], p["gan0"]], samples=80)
    names = [r["name"] for r in result["denoise"]["rows"]]
    assert names == ["noisy", "NLM", "DnCNN", "ensemble (equal weights)", "ensemble"]
    assert (tmp_path / "ensemble-camera.png").exists()
    mixture = result["mixture"]  # gan0 twice: one member
    assert mixture["members"] == [f"{tmp.name}/gan0.pt", f"{tmp.name}/gan1.pt"]
    assert [r["name"] for r in mixture["rows"]][-1] == "soup (uniform)"
    assert len(result["markdown"]) == 2 and json.dumps(result, default=float)
    skipped = step_ensemble(tmp_path, None, [p["gan0"], p["gan0"]], vae_steps=0)
    assert "skipped" in skipped["denoise"] and "one distinct model" in skipped["mixture"]["skipped"]


def test_the_denoising_demo_step_compares_nlm_bm3d_and_dncnn(checkpoints, tmp_path, capsys):
    import shutil

    from fusegen.demo.denoising import step_denoise_compare
    from fusegen.demo.report import markdown_report

    pytest.importorskip("skimage")
    _, p = checkpoints
    (tmp_path / "dncnn").mkdir()
    shutil.copy(p["dncnn0"], tmp_path / "dncnn" / "best.pt")  # a tiny, untrained DnCNN
    result = step_denoise_compare(tmp_path, "cpu")
    assert result["psnr_bm3d_db"] > result["psnr_nlm_db"] > result["psnr_noisy_db"] + 5
    assert result["bm3d_seconds"] > 0 and json.dumps(result)
    assert "BM3D" in capsys.readouterr().out and (tmp_path / "denoise-camera.png").is_file()
    assert "BM3D" in markdown_report({"denoise": result})


def test_the_demo_step_fine_tunes_and_compares(pre, tmp_path):
    result = step_transfer(pre["dncnn"], tmp_path, steps=2, batch_size=4)
    assert result["steps"] == 2 and result["loaded_tensors"] == 15
    for key in ("psnr_noisy_db", "psnr_unchanged_db", "psnr_scratch_db", "psnr_finetuned_db"):
        assert 5 < result[key] < 60, key
    assert (tmp_path / "transfer-camera.png").is_file()
    tuned = load_checkpoint(tmp_path / "transfer-finetuned" / "last.pt")
    scratch = load_checkpoint(tmp_path / "transfer-scratch" / "last.pt")
    assert tuned["config"] == scratch["config"] == load_checkpoint(pre["dncnn"])["config"]
    assert "transfer" in tuned and "transfer" not in scratch
    with pytest.raises(ValueError, match="fine-tunes a DnCNN, not a dcgan"):
        step_transfer(pre["gan"], tmp_path)


def test_the_inpainting_demo_step_trains_fills_and_compares(tmp_path):
    import importlib.util

    pytest.importorskip("skimage")
    from fusegen.demo import DemoSizes
    from fusegen.demo.inpainting import step_inpaint

    result = step_inpaint(tmp_path, "cpu", DemoSizes.quick(), size=64)
    assert result["steps"] == 2 and 0.05 <= result["hole_fraction"] <= 0.4
    assert 10 < result["psnr_fusegen_db"] < 60 and result["psnr_fusegen_holes_db"] < result["psnr_fusegen_db"]
    if importlib.util.find_spec("cv2") is not None:  # optional: the comparison with OpenCV's Telea
        assert 10 < result["psnr_telea_db"] < 60
    else:
        assert "psnr_telea_db" not in result
    assert (tmp_path / "inpaint-camera.png").is_file() and (tmp_path / "inpaint" / "last.pt").is_file()
    assert json.dumps(result)
