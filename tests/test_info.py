"""fusegen.__version__, build information and the `fusegen info` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import fusegen
from fusegen.cli import main


def test_version_matches_the_compiled_extension():
    assert fusegen.__version__ == fusegen.build_info()["version"]


def test_info_reports_build_devices_and_operators():
    facts = fusegen.info()
    assert facts["torch"] == torch.__version__
    assert facts["cuda_kernels"] in (True, False)
    assert facts["cpu_threads"] == torch.get_num_threads()
    assert "fusegen::weighted_sum" in facts["operators"]
    assert "fusegen::weighted_sum_backward" in facts["operators"]
    assert facts["openmp"], "the CPU kernels were built without OpenMP and would run on one thread"


def test_info_command_prints_json(capsys):
    assert main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["fusegen"] == fusegen.__version__


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "fusegen", "info"], capture_output=True, text=True, check=True
    )
    assert "fusegen::weighted_sum" in result.stdout


def test_bad_command_exits_with_usage():
    result = subprocess.run([sys.executable, "-m", "fusegen", "nonsense"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_demo_writes_a_report(tmp_path, monkeypatch):
    pytest.importorskip("skimage", reason="the demo's NLM step needs the data extra (scikit-image)")
    pytest.importorskip("sklearn", reason="the demo's GAN step trains on scikit-learn's digits")
    from tests.test_demo_models import shrink_demo

    shrink_demo(monkeypatch)  # the model steps train for minutes at their real sizes
    assert main(["demo", "--out", str(tmp_path), "--device", "cpu"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["weighted_sum"]["max_abs_error"] < 1e-5
    assert "fusegen::weighted_sum" in report["info"]["operators"]
    assert report["nlm"]["psnr_denoised_db"] > report["nlm"]["psnr_noisy_db"] + 5
    assert (tmp_path / "nlm-denoised.png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
