"""The Python argument checks shared by the operators."""

from types import SimpleNamespace

import pytest
import torch

from fusegen.ops import checks


def test_a_cuda_tensor_on_a_build_without_cuda_kernels_gets_a_clear_error(monkeypatch):
    monkeypatch.setattr(checks, "CUDA_KERNELS", False)
    on_gpu = SimpleNamespace(device=torch.device("cuda:0"))  # no GPU is needed to check the message
    with pytest.raises(RuntimeError, match=r"inputs\[0\] is on cuda:0, but this fusegen was built without CUDA"):
        checks.check_device_built(on_gpu, "inputs[0]")
    checks.check_device_built(torch.zeros(1), "inputs[0]")  # CPU tensors pass


def test_cuda_tensors_pass_on_a_build_with_cuda_kernels(monkeypatch):
    monkeypatch.setattr(checks, "CUDA_KERNELS", True)
    checks.check_device_built(SimpleNamespace(device=torch.device("cuda:0")), "x")


def test_float_tensor_check_names_the_argument():
    with pytest.raises(TypeError, match="weights must have dtype float32"):
        checks.check_float_tensor(torch.zeros(2, dtype=torch.int64), "weights")
    with pytest.raises(TypeError, match="weights must be a torch.Tensor, got list"):
        checks.check_float_tensor([1.0], "weights")
