"""fusegen.ops.bm3d_denoise against its plain-PyTorch twin, the reference package, its
properties and its errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fusegen.ops import bm3d_denoise
from fusegen.ops import reference_bm3d as twin
from fusegen.ops.bm3d import bm3d_params

from ..conftest import DEVICES

# Small windows, so that the twin's explicit loops stay fast.
SMALL = dict(search_size=7, step=2)


def noisy_image(shape, dtype=torch.float32, sigma=0.1, seed=0):
    """Stripes and a ramp plus Gaussian noise, values near [0, 1] (0-255 for uint8)."""
    g = torch.Generator().manual_seed(seed)
    h, w = shape[-2:]
    y = torch.arange(h, dtype=torch.float64)[:, None]
    x = torch.arange(w, dtype=torch.float64)[None, :]
    clean = 0.5 + 0.3 * torch.sin(x / 2.0) * (y < h / 2) + 0.2 * (x / w)
    noisy = clean.expand(shape) + sigma * torch.randn(shape, generator=g, dtype=torch.float64)
    if dtype == torch.uint8:
        return (noisy.clamp(0, 1) * 255).round().to(torch.uint8)
    return noisy.to(dtype)


def op(image, sigma, stage="final", **kw):
    """The compiled operator with the Python defaults, and the params it used."""
    params = bm3d_params(sigma, image.dtype, **kw)
    return bm3d_denoise(image, sigma, stage=stage, **kw), params


@pytest.mark.parametrize("stage", ["basic", "final"])
@pytest.mark.parametrize("shape", [(12, 13), (1, 16, 11), (3, 14, 12), (2, 2, 10, 9), (2, 3, 9, 10)])
def test_matches_twin_float64(shape, stage):
    image = noisy_image(shape, torch.float64)
    got, params = op(image, 0.1, stage, **SMALL)
    expected = twin.bm3d_denoise(image, 0.1, params, stage)
    assert got.shape == image.shape and got.dtype == torch.float64
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kw", [
    dict(block_size=4, step=1, search_size=5, group_size=8),          # DCT in both stages
    dict(block_size=(8, 5), step=(3, 2), search_size=(5, 9), group_size=(4, 16)),
    dict(block_size=3, step=3, search_size=3, group_size=1),           # no groups
    dict(block_size=8, search_size=9, match_threshold=float("inf"), group_size=64),
    dict(block_size=8, search_size=9, match_threshold=0.0),            # only exact matches
    dict(block_size=6, search_size=7, threshold=0.0, wiener_factor=0.0),
    dict(block_size=1, search_size=3, step=1),                         # one-pixel blocks
    dict(block_size=16, search_size=5, step=5),                        # the largest block
])
def test_matches_twin_parameters(kw):
    image = noisy_image((1, 18, 17), torch.float64)
    for stage in ("basic", "final"):
        got, params = op(image, 0.15, stage, **kw)
        torch.testing.assert_close(got, twin.bm3d_denoise(image, 0.15, params, stage),
                                   atol=1e-12, rtol=0)


@settings(max_examples=12, deadline=None)
@given(h=st.integers(8, 20), w=st.integers(8, 20), channels=st.sampled_from([1, 2, 3]),
       block=st.sampled_from([2, 4, 5, 8]), step=st.integers(1, 4),
       search=st.sampled_from([1, 3, 5, 7]), group=st.sampled_from([1, 2, 4, 8, 16]),
       sigma=st.floats(0.02, 0.4), seed=st.integers(0, 2**16))
def test_matches_twin_hypothesis(h, w, channels, block, step, search, group, sigma, seed):
    image = noisy_image((channels, h, w), torch.float64, sigma=sigma, seed=seed)
    kw = dict(block_size=block, step=min(step, block), search_size=search, group_size=group)
    got, params = op(image, sigma, "final", **kw)
    torch.testing.assert_close(got, twin.bm3d_denoise(image, sigma, params, "final"),
                               atol=1e-11, rtol=0)


def test_float32_close_to_float64():
    image = noisy_image((3, 24, 20), torch.float64)
    got = bm3d_denoise(image.float(), 0.1, **SMALL)
    expected = bm3d_denoise(image, 0.1, **SMALL)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, atol=2e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_types_round_the_float32_result(dtype):
    image = noisy_image((1, 20, 20), dtype)
    got = bm3d_denoise(image, 0.1, **SMALL)
    expected = bm3d_denoise(image.float(), 0.1, **SMALL).to(dtype)
    assert got.dtype == dtype
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


def test_uint8_is_on_the_0_255_scale():
    image = noisy_image((3, 20, 22), torch.uint8)
    got = bm3d_denoise(image, 25.0, **SMALL)
    assert got.dtype == torch.uint8
    # The same image as floats in [0, 1] with sigma / 255 and the same thresholds.
    as_float = bm3d_denoise(image.double() / 255, 25.0 / 255, **SMALL)
    expected = (as_float * 255).round().clamp(0, 255).to(torch.uint8)
    assert (got.int() - expected.int()).abs().max() <= 1


def test_data_range_scales_the_problem():
    """Scaling the image, sigma and data_range together scales the result."""
    image = noisy_image((1, 20, 18), torch.float64)
    got = bm3d_denoise(image * 255, 25.5, data_range=255, **SMALL)
    torch.testing.assert_close(got, 255 * bm3d_denoise(image, 0.1, **SMALL), atol=1e-9, rtol=0)


def test_constant_image_stays_constant():
    """Flat, and the basic stage keeps the value; the Wiener gain of the group's mean,
    m^2 / (m^2 + sigma^2), shrinks it by a few 1e-5."""
    for shape in [(17, 19), (3, 16, 16)]:
        image = torch.full(shape, 0.37, dtype=torch.float64)
        torch.testing.assert_close(bm3d_denoise(image, 0.1, stage="basic"), image, atol=1e-12, rtol=0)
        final = bm3d_denoise(image, 0.1)
        assert float(final.max() - final.min()) < 1e-12
        torch.testing.assert_close(final, image, atol=0, rtol=1e-4)


def test_tiny_sigma_returns_the_input():
    image = noisy_image((3, 20, 24), torch.float64)
    torch.testing.assert_close(bm3d_denoise(image, 1e-9, **SMALL), image, atol=1e-8, rtol=0)


def test_batch_is_per_image():
    batch = torch.stack([noisy_image((3, 20, 20), seed=s) for s in range(3)])
    got = bm3d_denoise(batch, 0.1, **SMALL)
    for b in range(3):
        torch.testing.assert_close(got[b], bm3d_denoise(batch[b], 0.1, **SMALL), atol=0, rtol=0)


def test_channels_other_than_three_are_independent():
    image = noisy_image((2, 20, 20))
    got = bm3d_denoise(image, 0.1, **SMALL)
    for c in range(2):
        torch.testing.assert_close(got[c], bm3d_denoise(image[c], 0.1, **SMALL), atol=0, rtol=0)


def test_any_strides():
    base = noisy_image((3, 30, 40))
    views = [base.transpose(1, 2), base[:, ::2, 1::3], base.permute(1, 2, 0).contiguous().permute(2, 0, 1)]
    for view in views:
        torch.testing.assert_close(bm3d_denoise(view, 0.1, **SMALL),
                                   bm3d_denoise(view.contiguous(), 0.1, **SMALL), atol=0, rtol=0)


def test_same_result_for_any_thread_count():
    image = noisy_image((3, 64, 60))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = bm3d_denoise(image, 0.1)
        torch.set_num_threads(max(2, threads))
        many = bm3d_denoise(image, 0.1)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)


def test_denoises():
    g = torch.Generator().manual_seed(3)
    y = torch.linspace(0, 1, 48, dtype=torch.float64)
    clean = (0.5 + 0.4 * torch.sin(6 * y[:, None]) * torch.cos(5 * y[None, :])).expand(3, 48, 48)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=g, dtype=torch.float64)
    mse = lambda x: float((x - clean).pow(2).mean())
    basic, final = (bm3d_denoise(noisy, 0.1, stage=s) for s in ("basic", "final"))
    assert mse(basic) < mse(noisy) / 4
    assert mse(final) < mse(basic)


@pytest.mark.parametrize("shape", [(0, 3, 8, 8), (3, 0, 8), (2, 8, 0), (0, 5)])
def test_empty_images(shape):
    image = torch.empty(shape)
    out = bm3d_denoise(image, 0.1)
    assert out.shape == image.shape and out.dtype == image.dtype


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_pixels_reach_only_their_neighbourhood(value):
    kw = dict(search_size=5, step=2, block_size=4)
    image = noisy_image((1, 40, 44), torch.float64)
    where = (20, 7)
    bad = image.clone()
    bad[0, where[0], where[1]] = value
    zeroed = image.clone()
    zeroed[0, where[0], where[1]] = 0
    got = bm3d_denoise(bad, 0.1, **kw)
    reach = 2 * (2 * 2 + 4 - 1)  # two stages of 2 * radius + block - 1
    rows = (torch.arange(40) - where[0]).abs() <= reach
    cols = (torch.arange(44) - where[1]).abs() <= reach
    inside = rows[:, None] & cols[None, :]
    assert got[0][inside].isnan().all()
    torch.testing.assert_close(got[0][~inside], bm3d_denoise(zeroed, 0.1, **kw)[0][~inside],
                               atol=0, rtol=0)


def test_opcheck():
    image = noisy_image((2, 3, 12, 12))
    params = bm3d_params(0.1, **SMALL)
    args = (image, 0.1, "final", list(params.block_size), list(params.step), list(params.search_size),
            list(params.group_size), list(params.match_threshold), params.threshold,
            params.wiener_factor)
    torch.library.opcheck(torch.ops.fusegen.bm3d_denoise, args)
    torch.library.opcheck(torch.ops.fusegen.bm3d_denoise, (image[0, 0].double(), 0.2, "basic") + args[3:])


def test_torch_compile():
    @torch.compile(fullgraph=True, backend="aot_eager")
    def restore(x):
        return bm3d_denoise(x, 0.1, **SMALL) * 2

    image = noisy_image((3, 16, 16))
    torch.testing.assert_close(restore(image), 2 * bm3d_denoise(image, 0.1, **SMALL))


def test_backward_raises():
    image = noisy_image((12, 12)).requires_grad_()
    with pytest.raises(RuntimeError, match="no gradient"):
        bm3d_denoise(image, 0.1).sum().backward()


def test_params_defaults_and_overrides():
    p = bm3d_params(0.1)
    assert p.block_size == (8, 8) and p.group_size[0] <= p.group_size[1]
    assert bm3d_params(25.0, torch.uint8).match_threshold == pytest.approx(
        tuple(t * 255 ** 2 for t in p.match_threshold))
    q = bm3d_params(0.1, block_size=(8, 4), threshold=3.0)
    assert q.block_size == (8, 4) and q.threshold == 3.0


ERRORS = [
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.0), ValueError, "sigma"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), -1.0), ValueError, "sigma"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), math.nan), ValueError, "sigma"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), math.inf), ValueError, "sigma"),
    (lambda: bm3d_denoise(torch.zeros(8, 8, dtype=torch.int32), 0.1), TypeError, "dtype"),
    (lambda: bm3d_denoise(torch.zeros(8), 0.1), ValueError, "shape"),
    (lambda: bm3d_denoise(torch.zeros(1, 1, 1, 8, 8), 0.1), ValueError, "shape"),
    (lambda: bm3d_denoise([[0.0]], 0.1), TypeError, "torch.Tensor"),
    (lambda: bm3d_denoise(noisy_image((7, 20)), 0.1), ValueError, "block"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, stage="both"), ValueError, "stage"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, group_size=12), ValueError, "group_size"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, group_size=128), ValueError, "group_size"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, search_size=4), ValueError, "search_size"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, block_size=17), ValueError, "block_size"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, block_size=0), ValueError, "block_size"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, step=0), ValueError, "step"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, step=(1, 2, 3)), ValueError, "step"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, block_size=4, step=5), ValueError, "step"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, block_size=8.0), TypeError, "block_size"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, match_threshold=-1.0), ValueError, "match_threshold"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, threshold=-1.0), ValueError, "threshold"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, wiener_factor=math.nan), ValueError, "wiener_factor"),
    (lambda: bm3d_denoise(noisy_image((8, 8)), 0.1, data_range=0), ValueError, "data_range"),
]


@pytest.mark.parametrize("bad_call,error,name", ERRORS)
def test_errors_name_the_argument(bad_call, error, name):
    with pytest.raises(error, match=name):
        bad_call()


def _raw(image, sigma=0.1, stage="final", block=(8, 8), step=(3, 3), search=(7, 7), group=(16, 32),
         match=(0.05, 0.01), lam=2.7, mu2=1.0):
    return torch.ops.fusegen.bm3d_denoise(image, sigma, stage, list(block), list(step), list(search),
                                          list(group), list(match), lam, mu2)


RAW_ERRORS = [
    (lambda: _raw(noisy_image((8, 8)), sigma=0.0), "sigma"),
    (lambda: _raw(noisy_image((8, 8)), stage="all"), "stage"),
    (lambda: _raw(noisy_image((8, 8)), group=(16, 24)), "group_size"),
    (lambda: _raw(noisy_image((8, 8)), search=(7, 8)), "search_size"),
    (lambda: _raw(noisy_image((8, 8)), block=(8, 20)), "block_size"),
    (lambda: _raw(noisy_image((8, 8)), step=(0, 3)), "step"),
    (lambda: _raw(noisy_image((8, 8)), step=(3, 9)), "step"),
    (lambda: _raw(noisy_image((8, 8)), match=(math.nan, 1.0)), "match_threshold"),
    (lambda: _raw(noisy_image((8, 8)), lam=math.inf), "threshold"),
    (lambda: _raw(noisy_image((8, 8)), mu2=-1.0), "wiener_factor"),
    (lambda: _raw(noisy_image((6, 9))), "block"),
    (lambda: _raw(torch.zeros(8, 8, dtype=torch.int64)), "dtype"),
]


@pytest.mark.parametrize("bad_call,name", RAW_ERRORS)
def test_compiled_operator_checks_its_arguments(bad_call, name):
    """Callers of torch.ops.fusegen.bm3d_denoise directly get the same kind of message."""
    with pytest.raises((ValueError, TypeError, RuntimeError), match=name):
        bad_call()


def test_reference_package_agrees():
    """Within 0.3 dB of the authors' implementation (pip install bm3d) on a photograph crop."""
    bm3d = pytest.importorskip("bm3d")
    data = pytest.importorskip("skimage.data")
    import numpy as np

    clean = data.camera()[100:228, 200:328].astype(np.float64) / 255
    noisy = clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape)
    psnr = lambda x: 10 * np.log10(1 / np.mean((np.clip(x, 0, 1) - clean) ** 2))
    ours = bm3d_denoise(torch.from_numpy(noisy), 25 / 255).numpy()
    theirs = bm3d.bm3d(noisy, 25 / 255)
    assert psnr(ours) > psnr(theirs) - 0.3


@pytest.mark.parametrize("device", DEVICES)
def test_cpu_equals_device(device):
    image = noisy_image((2, 3, 40, 36))
    cpu = bm3d_denoise(image, 0.1)
    got = bm3d_denoise(image.to(device), 0.1)
    assert got.device.type == device
    torch.testing.assert_close(got.cpu(), cpu, atol=1e-4, rtol=0)
    grey = noisy_image((1, 1, 33, 47), torch.float64)
    torch.testing.assert_close(bm3d_denoise(grey.to(device), 0.1, stage="basic").cpu(),
                               bm3d_denoise(grey, 0.1, stage="basic"), atol=1e-10, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kw", [
    dict(block_size=16, search_size=9, step=4, group_size=64, match_threshold=float("inf")),
    # (Not one-pixel blocks: on these stripes their distances tie exactly, and last-bit
    # differences between the kernels' and the twin's basic estimates reorder the final ties.)
    dict(block_size=2, search_size=5, step=1, group_size=4),
    dict(block_size=5, search_size=41, step=2, group_size=(8, 16), match_threshold=0.0),
])
def test_device_matches_twin(device, kw):
    """Every device's kernel against the float64 twin, on the parameters' extremes."""
    image = noisy_image((2, 3, 23, 19), torch.float64)
    image[1, 2, 4, 5] = 0.25  # exact ties are common on the twin's stripes already
    for stage in ("basic", "final"):
        got = bm3d_denoise(image.to(device), 0.1, stage=stage, **kw).cpu()
        params = bm3d_params(0.1, torch.float64, **kw)
        torch.testing.assert_close(got, twin.bm3d_denoise(image, 0.1, params, stage), atol=1e-11, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_device_non_finite_and_batches(device):
    """The NaN rule, and a batch large enough to be cut into chunks, on every device."""
    batch = torch.rand(40, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    batch[7, 1, 3, 3] = float("nan")
    got = bm3d_denoise(batch.to(device), 0.1, search_size=9).cpu()
    expected = bm3d_denoise(batch, 0.1, search_size=9)
    assert torch.equal(got.isnan(), expected.isnan())
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0, equal_nan=True)
