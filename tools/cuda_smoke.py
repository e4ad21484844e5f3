#!/usr/bin/env python3
"""Launches every fusegen CUDA kernel once on small inputs and compares with the CPU kernels.

Small on purpose: `tools/gpu_check.py` runs it under compute-sanitizer (memcheck, racecheck,
synccheck), which slows kernels by one to two orders of magnitude. Exits non-zero on a mismatch.
"""

from __future__ import annotations

import sys

import torch

import fusegen
from fusegen.ops import bias_act, bm3d_denoise, conv_norm_act, nlm_denoise, norm_act, weighted_sum


def check(name: str, got: torch.Tensor, want: torch.Tensor, tol: float = 1e-4) -> bool:
    ok = torch.allclose(got.detach().cpu().double(), want.detach().cpu().double(), rtol=tol, atol=tol,
                        equal_nan=True)
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return ok


def on_both(fn, *tensors):
    """fn on the CPU tensors and on CUDA copies (leaves that required grad still do)."""
    def copy(t, device):
        return t.detach().to(device).requires_grad_(t.requires_grad)
    return fn(*[copy(t, "cpu") for t in tensors]), fn(*[copy(t, "cuda") for t in tensors])


def with_grads(op):
    def run(*tensors):
        out = op(*tensors)
        grads = torch.autograd.grad(out.square().sum(), [t for t in tensors if t.requires_grad])
        return (out, *grads)
    return run


def main() -> int:
    if not (torch.cuda.is_available() and fusegen.build_info()["cuda"]):
        print("cuda_smoke: needs a GPU and fusegen built with its CUDA kernels", file=sys.stderr)
        return 2
    g = torch.Generator().manual_seed(0)
    ok = True

    for K in (3, 70):  # one launch; two chunks of the pointer table
        xs = [torch.randn(2, 3000, generator=g, requires_grad=True) for _ in range(K)]
        w = torch.rand(K, 2, generator=g, requires_grad=True)
        cpu, gpu = on_both(with_grads(lambda *t: weighted_sum(list(t[:-1]), t[-1])), *xs, w)
        ok &= all(check(f"weighted_sum K={K} #{i}", a, b, 1e-3) for i, (b, a) in enumerate(zip(cpu, gpu)))

    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 40, 9, 11, generator=g).contiguous(memory_format=layout).requires_grad_()
        weight = (torch.rand(40, generator=g) + 0.5).requires_grad_()
        bias = torch.randn(40, generator=g).requires_grad_()
        for instance in (False, True):
            cpu, gpu = on_both(with_grads(lambda x, w, b: norm_act(x, w, b, instance=instance,
                                                                   activation="leaky_relu")), x, weight, bias)
            ok &= all(check(f"norm_act {layout} instance={instance} #{i}", a, b)
                      for i, (b, a) in enumerate(zip(cpu, gpu)))
        stats = (torch.randn(40, generator=g), torch.rand(40, generator=g) + 0.5)
        cpu, gpu = on_both(lambda x, w, b, m, v: norm_act(x, w, b, m, v, training=False, activation="gelu"),
                           x, weight, bias, *stats)
        ok &= check(f"norm_act eval {layout}", gpu, cpu)
        cpu, gpu = on_both(with_grads(lambda x, b: bias_act(x, b, activation="silu")), x, bias)
        ok &= all(check(f"bias_act {layout} #{i}", a, b) for i, (b, a) in enumerate(zip(cpu, gpu)))

    x = torch.randn(2, 3, 12, 12, generator=g, requires_grad=True)
    weight = torch.randn(8, 3, 3, 3, generator=g, requires_grad=True)
    cpu, gpu = on_both(with_grads(lambda x, w: conv_norm_act(x, w, None, padding=1, norm="batch")), x, weight)
    ok &= all(check(f"conv_norm_act #{i}", a, b, 1e-3) for i, (b, a) in enumerate(zip(cpu, gpu)))

    for shape, patch, search in (((1, 3, 20, 21), 3, 7), ((1, 300, 12, 12), 3, 5)):  # shared, global
        image = torch.rand(shape, generator=g)
        image[0, 0, 3, 4] = float("nan")
        cpu, gpu = on_both(lambda im: nlm_denoise(im, 0.05, h=0.1, patch_size=patch, search_size=search), image)
        ok &= check(f"nlm_denoise {shape} patch {patch} search {search}", gpu, cpu, 1e-5)

    # BM3D: colour and grey, both stages, the 8x8 copy and the generic block size; a NaN.
    for shape, kw in (((2, 3, 40, 37), {}), ((1, 1, 33, 29), dict(block_size=5, search_size=9))):
        image = torch.rand(shape, generator=g)
        image[0, 0, 20, 5] = float("nan")
        for stage in ("basic", "final"):
            cpu, gpu = on_both(lambda im: bm3d_denoise(im, 0.1, stage=stage, **kw), image)
            ok &= check(f"bm3d_denoise {shape} {stage} {kw}", gpu, cpu, 1e-4)

    torch.cuda.synchronize()
    print("cuda_smoke:", "all kernels agree with the CPU" if ok else "MISMATCHES above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
