"""The norm+activation, weighted-sum and NLM CPU kernels are compiled for SSE2, AVX2 and AVX-512
and picked at run time; ``FUSEGEN_CPU_ISA=baseline|avx2`` caps the choice. Every copy must give
the same results."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent("""
    import sys, torch
    from fusegen import _C
    from fusegen.ops import bias_act, nlm_denoise, norm_act, weighted_sum
    torch.manual_seed(0)
    results = {"isa": _C.cpu_isa()}
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        for channels_last in (False, True):
            x = (torch.randn(3, 8, 7, 9) * 4).to(dtype)
            if channels_last:
                x = x.to(memory_format=torch.channels_last)
            w, b = torch.rand(8).to(dtype) + 0.5, torch.randn(8).to(dtype)
            g = torch.randn(3, 8, 7, 9).to(dtype)
            for act in ("relu", "leaky_relu", "tanh", "sigmoid", "silu"):
                key = f"{dtype}-{channels_last}-{act}"
                xr = x.clone().requires_grad_()
                out = norm_act(xr, w, b, None, None, training=True, activation=act)
                (gx,) = torch.autograd.grad(out, xr, g)
                results[key + "-norm"] = (out.detach().float(), gx.float())
                xr = x.clone().requires_grad_()
                out = bias_act(xr, b, activation=act)
                (gx,) = torch.autograd.grad(out, xr, g)
                results[key + "-bias"] = (out.detach().float(), gx.float())
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        for per_sample in (False, True):
            xs = torch.randn(5, 3, 1000).to(dtype).requires_grad_()
            w = (torch.rand(5, 3) if per_sample else torch.rand(5)).to(xs.dtype if dtype == torch.float64 else torch.float32).requires_grad_()
            out = weighted_sum(xs, w)
            gx, gw = torch.autograd.grad(out, (xs, w), torch.randn(3, 1000).to(dtype))
            results[f"weighted_sum-{dtype}-{per_sample}"] = (out.detach().float(), torch.cat([gx.float().flatten(), gw.float().flatten()]))
    for dtype in (torch.float32, torch.float64, torch.uint8):
        for shape in ((37, 41), (3, 30, 33), (2, 1, 19, 70)):
            image = torch.rand(shape)
            image = (image * 255).to(dtype) if dtype == torch.uint8 else image.to(dtype)
            sigma = 20.0 if dtype == torch.uint8 else 0.08
            out = nlm_denoise(image, sigma, patch_size=5, search_size=11).float()
            results[f"nlm-{dtype}-{shape}"] = (out, out.mean(0))
    torch.save(results, sys.argv[1])
""")


def _run(tmp_path, isa):
    path = tmp_path / f"{isa}.pt"
    env = dict(os.environ, FUSEGEN_CPU_ISA=isa)
    subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env, check=True, timeout=300)
    return torch.load(path)


@pytest.mark.parametrize("isa", ["baseline", "avx2"])
def test_every_instruction_set_copy_gives_the_same_results(tmp_path, isa):
    widest = _run(tmp_path, "native")
    capped = _run(tmp_path, isa)
    order = ["baseline", "avx2", "avx512"]
    native = widest.pop("isa")
    assert capped.pop("isa") == order[min(order.index(isa), order.index(native))]
    assert widest.keys() == capped.keys()
    for key, (out, grad) in widest.items():
        # Reductions sum in a different order with other vector widths: a few ulps apart.
        # The weight gradients are 1,000-term float32 dot products: ~1e-4 relative between orders.
        if key.startswith("nlm") and "uint8" in key:
            tol = {"rtol": 0, "atol": 1}  # a sum a few ulps apart may round to the next integer
        elif "bfloat16" in key or "float16" in key:
            tol = {"rtol": 2e-2, "atol": 2e-2}
        elif key.startswith("weighted_sum") and "float32" in key:
            tol = {"rtol": 1e-4, "atol": 1e-4}
        else:
            tol = {"rtol": 1e-5, "atol": 1e-5}
        torch.testing.assert_close(capped[key][0], out, **tol, msg=lambda m: f"{key} output: {m}")
        torch.testing.assert_close(capped[key][1], grad, **tol, msg=lambda m: f"{key} gradient: {m}")
