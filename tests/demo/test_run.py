"""The demo's model steps, shrunk to a few training steps: they run and report."""

import json

import pytest

from fusegen import demo
from fusegen.demo import DemoSizes


def test_quick_sizes_are_smaller_than_the_defaults():
    quick, full = DemoSizes.quick(), DemoSizes()
    assert quick.gan_steps < full.gan_steps and quick.dncnn_steps < full.dncnn_steps
    assert quick.transfer_steps < full.transfer_steps


def test_demo_runs_end_to_end_with_tiny_settings(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("skimage")
    path = demo.run(tmp_path, device="cpu", sizes=DemoSizes.quick())  # the real sizes take minutes
    report = json.loads(path.read_text())
    assert {"gan", "metrics", "dncnn", "denoise", "ensemble", "active", "transfer", "fused_vs_eager",
            "nlm"} <= report.keys()
    assert 0 <= report["metrics"]["precision"] <= 1 and 0 <= report["metrics"]["recall"] <= 1
    assert 0 <= report["gan"]["label_accuracy_logreg"] <= 1
    assert report["denoise"]["psnr_nlm_db"] > report["denoise"]["psnr_noisy_db"]
    assert report["denoise"]["psnr_bm3d_db"] > report["denoise"]["psnr_noisy_db"]
    assert report["denoise"]["psnr_dncnn_self_ensemble_db"] > 0  # (the shrunk DnCNN is barely trained)
    for image in ("gan-digits.png", "gan-riskiest.png", "denoise-camera.png", "active-curve.png",
                  "ensemble-camera.png", "transfer-camera.png", "report.md"):
        assert (tmp_path / image).is_file()
    assert str(tmp_path) in capsys.readouterr().out
