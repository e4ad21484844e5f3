"""The demo's model steps, shrunk to a few training steps: they run and report."""

import json

import pytest

from fusegen import demo


TINY = {"GAN_STEPS": 4, "GAN_WIDTH": 4, "DNCNN_STEPS": 4, "DNCNN_DEPTH": 3, "DNCNN_WIDTH": 4,
        "DNCNN_BATCH": 4, "SPEED_SIZE": 16, "SPEED_WIDTH": 4, "SPEED_BATCH": 8,
        "METRICS_EPOCHS": 1, "ENSEMBLE_SAMPLES": 80, "ENSEMBLE_VAE_STEPS": 2, "ACTIVE_ROUNDS": 1,
        "ACTIVE_LEARNER_STEPS": 5, "TRANSFER_STEPS": 2}


def shrink_demo(monkeypatch) -> None:
    """Train for a few steps only: the real sizes take minutes."""
    for name, value in TINY.items():
        monkeypatch.setattr(demo, name, value)


def test_demo_runs_end_to_end_with_tiny_settings(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("skimage")
    shrink_demo(monkeypatch)
    path = demo.run(tmp_path, device="cpu")
    report = json.loads(path.read_text())
    assert {"gan", "metrics", "dncnn", "denoise", "ensemble", "active", "transfer", "fused_vs_eager",
            "nlm"} <= report.keys()
    assert 0 <= report["metrics"]["precision"] <= 1 and 0 <= report["metrics"]["recall"] <= 1
    assert 0 <= report["gan"]["label_accuracy_logreg"] <= 1
    assert report["denoise"]["psnr_nlm_db"] > report["denoise"]["psnr_noisy_db"]
    assert report["denoise"]["psnr_dncnn_self_ensemble_db"] > 0  # (the shrunk DnCNN is barely trained)
    for image in ("gan-digits.png", "gan-riskiest.png", "denoise-camera.png", "active-curve.png",
                  "ensemble-camera.png", "transfer-camera.png", "report.md"):
        assert (tmp_path / image).is_file()
    assert str(tmp_path) in capsys.readouterr().out
