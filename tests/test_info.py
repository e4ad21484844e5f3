"""fusegen.__version__ and build information."""

from __future__ import annotations

import torch

import fusegen


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
