"""The `fusegen info` command, `python -m fusegen`, and usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

import fusegen
from fusegen.cli import main


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
