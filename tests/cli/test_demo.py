"""`fusegen demo --quick`: the whole demo at tiny sizes writes its report."""

from __future__ import annotations

import json

import pytest

from fusegen.cli import main


def test_demo_writes_a_report(tmp_path):
    pytest.importorskip("skimage", reason="the demo's NLM step needs the data extra (scikit-image)")
    pytest.importorskip("sklearn", reason="the demo's GAN step trains on scikit-learn's digits")
    # --quick: the model steps train for minutes at their real sizes
    assert main(["demo", "--out", str(tmp_path), "--device", "cpu", "--quick"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["weighted_sum"]["max_abs_error"] < 1e-5
    assert "fusegen::weighted_sum" in report["info"]["operators"]
    assert report["nlm"]["psnr_denoised_db"] > report["nlm"]["psnr_noisy_db"] + 5
    assert (tmp_path / "nlm-denoised.png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
