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


def test_meta_tensors_among_cpu_ones_are_a_device_error():
    from fusegen.ops import bias_act, norm_act

    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"bias must be on the input's device \(cpu\), got meta"):
        bias_act(x, torch.ones(3, device="meta"))
    with pytest.raises(ValueError, match=r"bias must be on the input's device \(meta\), got cpu"):
        bias_act(x.to("meta"), torch.ones(3))
    with pytest.raises(ValueError, match=r"weight must be on the input's device \(cpu\), got meta"):
        norm_act(x, torch.ones(3, device="meta"), torch.zeros(3))
    with pytest.raises(ValueError, match="running_var must be on the input's device"):
        norm_act(x, running_mean=torch.zeros(3), running_var=torch.ones(3, device="meta"))
