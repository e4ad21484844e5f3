"""fusegen.ops.nlm_denoise against the pixel-by-pixel reference, plus its properties and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fusegen
from fusegen.ops import nlm_denoise, reference
from fusegen.ops.nlm import OPPONENT_CHROMA_SCALE, nlm_params

needs_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and fusegen.build_info()["cuda"]),
    reason="needs a CUDA GPU and fusegen built with CUDA kernels",
)

# (patch_size, search_size): the smallest windows, equal windows, and wider searches.
WINDOWS = [(1, 1), (1, 3), (3, 3), (3, 5), (5, 7), (3, 9)]
# Absolute tolerance against the float64 reference, for images with values in [0, 1].
FLOAT_TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-6, torch.float16: 2e-3,
                   torch.bfloat16: 1.6e-2}


def noisy_image(shape, dtype=torch.float32, seed=0):
    """A smooth ramp plus noise, in [0, 1] (0-255 for uint8)."""
    g = torch.Generator().manual_seed(seed)
    h, w = shape[-2:]
    ramp = torch.linspace(0.2, 0.8, w).expand(h, w)
    x = (ramp + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    if dtype == torch.uint8:
        return (x * 255).round().to(torch.uint8)
    return x.to(dtype)


def call(image, sigma, h, patch, search, colour_space="rgb"):
    """The wrapper with explicit parameters; 3-channel images in RGB (all channels filtered
    together, as the operator and the reference do) unless colour_space says otherwise."""
    return nlm_denoise(image, sigma, h=h, patch_size=patch, search_size=search,
                       colour_space=colour_space)


# BM3D's opponent space, from its definition: Y = (R+G+B)/3, U = (R-B)/2, V = (R-2G+B)/4, each
# divided by the factor it scales the noise's standard deviation by (the norm of its row).
_BM3D_OPPONENT = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]],
                              dtype=torch.float64)
NOISE_FACTORS = torch.tensor([1 / 3 ** 0.5, 1 / 2 ** 0.5, 0.375 ** 0.5], dtype=torch.float64)
OPPONENT = _BM3D_OPPONENT / NOISE_FACTORS[:, None]


def reference_opponent(image, sigma, h, patch, search, chroma_scale=OPPONENT_CHROMA_SCALE):
    """The opponent colour path composed of plain PyTorch and the float64 reference: rotate,
    scale U and V by ``chroma_scale``, the reference with sigma and h scaled so that its mean
    over the channels is the weighted mean ``(dY² + a² dU² + a² dV²) / (1 + 2 a²)``, unscale,
    rotate back with the inverse matrix; the image's dtype."""
    x = image.double().reshape(-1, 3, *image.shape[-2:])
    weights = torch.tensor([1.0, chroma_scale, chroma_scale], dtype=torch.float64)
    z = torch.einsum("ij,njhw->nihw", OPPONENT, x) * weights[:, None, None]
    c = ((1 + 2 * chroma_scale**2) / 3) ** 0.5
    filtered = reference.nlm_denoise(z, sigma * c, h * c, patch, search) / weights[:, None, None]
    out = torch.einsum("ij,njhw->nihw", torch.linalg.inv(OPPONENT), filtered).reshape(image.shape)
    if image.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    return out.to(image.dtype)


def test_default_parameters_follow_the_table():
    image = noisy_image((2, 20, 20), torch.float64)
    params = nlm_params(0.1, channels=2, dtype=torch.float64)
    expected = call(image, 0.1, params.h, params.patch_size, params.search_size)
    torch.testing.assert_close(nlm_denoise(image, 0.1), expected, atol=0, rtol=0)
    colour = noisy_image((3, 20, 20), torch.float64)
    params = nlm_params(0.1, channels=3, dtype=torch.float64, colour_space="rgb")
    expected = call(colour, 0.1, params.h, params.patch_size, params.search_size)
    torch.testing.assert_close(nlm_denoise(colour, 0.1, colour_space="rgb"), expected, atol=0,
                               rtol=0)


# --- colour: the opponent space (the default for 3 channels) ----------------------------------


def test_the_opponent_matrix_is_bm3ds_scaled_to_equal_noise():
    from fusegen.ops.nlm import OPPONENT as exported

    torch.testing.assert_close(torch.tensor(exported, dtype=torch.float64), OPPONENT, atol=1e-15,
                               rtol=0)
    # orthonormal: a rotation, so white RGB noise of sigma stays white noise of sigma
    torch.testing.assert_close(OPPONENT @ OPPONENT.T, torch.eye(3, dtype=torch.float64),
                               atol=1e-15, rtol=0)


@pytest.mark.parametrize("shape", [(3, 9, 8), (2, 3, 7, 6)])
@pytest.mark.parametrize("patch,search", [(1, 3), (3, 5), (3, 7)])
@pytest.mark.parametrize("sigma", [0.0, 0.1])
def test_colour_matches_the_reference_composition(shape, patch, search, sigma):
    image = noisy_image(shape, torch.float64)
    expected = reference_opponent(image, sigma, 0.12, patch, search)
    got = nlm_denoise(image, sigma, h=0.12, patch_size=patch, search_size=search)
    assert got.dtype == torch.float64 and got.shape == image.shape and got.is_contiguous()
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=0)
    got32 = nlm_denoise(image.float(), sigma, h=0.12, patch_size=patch, search_size=search)
    torch.testing.assert_close(got32, expected.float(), atol=4e-6, rtol=0)


@pytest.mark.parametrize("sigma255", [10.0, 30.0, 60.0])
def test_colour_defaults_follow_the_opponent_rows(sigma255):
    image = noisy_image((3, 10, 11), torch.float64)
    sigma = sigma255 / 255
    params = nlm_params(sigma, channels=3, dtype=torch.float64)
    expected = reference_opponent(image, sigma, *params)
    torch.testing.assert_close(nlm_denoise(image, sigma), expected, atol=1e-10, rtol=0)


def test_a_chroma_scale_of_one_is_the_rgb_distance(monkeypatch):
    """The opponent space is a rotation: with U and V weighed like luma, the weights and so the
    result are RGB's, to rounding."""
    import fusegen.ops.nlm as nlm

    image = noisy_image((2, 3, 11, 10), torch.float64)
    rgb = nlm_denoise(image, 0.1, h=0.1, patch_size=3, search_size=7, colour_space="rgb")
    monkeypatch.setattr(nlm, "OPPONENT_CHROMA_SCALE", 1.0)
    opponent = nlm_denoise(image, 0.1, h=0.1, patch_size=3, search_size=7)
    torch.testing.assert_close(opponent, rgb, atol=1e-12, rtol=0)


def test_colour_rgb_is_the_shared_weight_operator():
    image = noisy_image((2, 3, 9, 10), torch.float64)
    expected = reference.nlm_denoise(image, 0.1, 0.12, 3, 5)
    got = nlm_denoise(image, 0.1, h=0.12, patch_size=3, search_size=5, colour_space="rgb")
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=0)
    # the opponent path filters the channels differently
    assert not torch.allclose(nlm_denoise(image, 0.1, h=0.12, patch_size=3, search_size=5), got)


def test_colour_space_is_ignored_without_three_channels():
    for shape in ((9, 8), (1, 9, 8), (2, 9, 8), (2, 4, 9, 8)):
        image = noisy_image(shape)
        torch.testing.assert_close(nlm_denoise(image, 0.1, colour_space="opponent"),
                                   nlm_denoise(image, 0.1, colour_space="rgb"), atol=0, rtol=0)
        channels = image.shape[-3] if image.dim() > 2 else 1
        assert nlm_params(0.1, channels) == nlm_params(0.1, channels, colour_space="rgb")


def test_colour_uint8_round_trip():
    image = noisy_image((3, 10, 9), torch.uint8)
    got = nlm_denoise(image, 20.0, h=25.0, patch_size=3, search_size=5)
    assert got.dtype == torch.uint8 and got.shape == image.shape
    # computed in float32 on the 0-255 values, then rounded and saturated once
    float_path = nlm_denoise(image.float(), 20.0, h=25.0, patch_size=3, search_size=5)
    assert torch.equal(got, float_path.round().clamp(0, 255).to(torch.uint8))
    expected = reference_opponent(image, 20.0, 25.0, 3, 5)
    assert (got.int() - expected.int()).abs().max() <= 1
    # Extreme values: the shared weights make every result a weighted mean of RGB pixels, so
    # the rotations leave 0-255 by rounding only, and saturation takes 0 and 255 back exactly.
    extreme = torch.zeros(3, 8, 8, dtype=torch.uint8)
    extreme[0] = 255
    extreme[:, ::2, ::3] = 255 - extreme[:, ::2, ::3]
    float_out = nlm_denoise(extreme.float(), 40.0, h=25.0, patch_size=3, search_size=5)
    assert -1e-3 < float_out.min() and float_out.max() < 255 + 1e-3
    out = nlm_denoise(extreme, 40.0, h=25.0, patch_size=3, search_size=5)
    assert torch.equal(out, float_out.round().clamp(0, 255).to(torch.uint8))
    assert out.min() == 0 and out.max() == 255
    # a uint8 constant stays exactly constant through the rotations
    constant = torch.full((2, 3, 12, 10), 200, dtype=torch.uint8)
    constant[:, 1] = 17
    assert torch.equal(nlm_denoise(constant, 25.0), constant)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_colour_half_types_are_computed_in_float32(dtype):
    image = noisy_image((3, 9, 8), dtype)
    got = nlm_denoise(image, 0.1, h=0.12, patch_size=3, search_size=5)
    assert got.dtype == dtype
    expected = nlm_denoise(image.float(), 0.1, h=0.12, patch_size=3, search_size=5).to(dtype)
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


def test_colour_batches_layouts_and_grey_forms():
    batch = noisy_image((3, 3, 16, 14))
    got = nlm_denoise(batch, 0.1, patch_size=3, search_size=7)
    for n in range(batch.shape[0]):
        torch.testing.assert_close(got[n], nlm_denoise(batch[n], 0.1, patch_size=3, search_size=7),
                                   atol=0, rtol=0)
    channels_last = batch.to(memory_format=torch.channels_last)
    torch.testing.assert_close(nlm_denoise(channels_last, 0.1, patch_size=3, search_size=7), got,
                               atol=0, rtol=0)
    out = nlm_denoise(batch.transpose(-1, -2), 0.1, patch_size=3, search_size=7)
    assert out.is_contiguous()
    torch.testing.assert_close(
        out, nlm_denoise(batch.transpose(-1, -2).contiguous(), 0.1, patch_size=3, search_size=7),
        atol=0, rtol=0)
    strided = noisy_image((2, 6, 32, 18))[:, ::2, ::2]
    torch.testing.assert_close(nlm_denoise(strided, 0.1), nlm_denoise(strided.contiguous(), 0.1),
                               atol=0, rtol=0)


def test_colour_non_finite_pixels_reach_all_channels():
    clean = noisy_image((3, 48, 52), torch.float64)
    for value in (float("nan"), float("inf")):
        image = clean.clone()
        image[1, 20, 30] = value  # green only: U does not read it, Y and V do, the weights mix all
        out = call(image, 0.1, 0.1, 5, 11, colour_space="opponent")
        reference_out = call(clean, 0.1, 0.1, 5, 11, colour_space="opponent")
        expected_nan = _reach((48, 52), [(20, 30)], 5 // 2 + 11 // 2)
        assert torch.equal(torch.isnan(out).all(0), expected_nan)
        assert not torch.isnan(out[:, ~expected_nan]).any()
        torch.testing.assert_close(out[:, ~expected_nan], reference_out[:, ~expected_nan],
                                   atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    "sigma,channels,dtype,data_range,expected",
    [
        (10 / 255, 1, torch.float32, None, (0.40 * 10 / 255, 3, 21)),
        (20 / 255, 1, torch.float32, None, (0.40 * 20 / 255, 5, 21)),
        (40.0, 1, torch.uint8, None, (0.35 * 40, 7, 35)),
        (60.0, 1, torch.uint8, None, (0.35 * 60, 9, 35)),
        (90.0, 2, torch.uint8, None, (0.30 * 90, 11, 35)),
        (150.0, 1, torch.uint8, None, (0.30 * 150, 11, 35)),
        (25.0, 3, torch.uint8, None, (0.55 * 25, 3, 21)),
        (50.0, 3, torch.uint8, None, (0.40 * 50, 5, 35)),
        (0.3, 3, torch.float32, None, (0.35 * 0.3, 7, 35)),
        (10.0, 3, torch.float32, 255.0, (0.55 * 10, 3, 21)),
    ],
)
def test_ipol_table(sigma, channels, dtype, data_range, expected):
    # The IPOL colour rows are for the three RGB channels filtered together.
    params = nlm_params(sigma, channels, dtype, data_range=data_range, table="ipol",
                        colour_space="rgb")
    assert params.h == pytest.approx(expected[0])
    assert (params.patch_size, params.search_size) == expected[1:]


@pytest.mark.parametrize(
    "sigma,channels,dtype,expected",
    [
        (10 / 255, 1, torch.float32, (0.80 * 10 / 255, 5, 21)),
        (25.0, 1, torch.uint8, (0.65 * 25, 7, 21)),
        (40.0, 2, torch.uint8, (0.55 * 40, 7, 21)),
        (50 / 255, 1, torch.float64, (0.40 * 50 / 255, 7, 21)),
        (120.0, 1, torch.uint8, (0.30 * 120, 7, 15)),
        (5.0, 3, torch.uint8, (0.75 * 5, 3, 21)),
        (25 / 255, 3, torch.float16, (0.55 * 25 / 255, 3, 21)),
        (50.0, 3, torch.uint8, (0.40 * 50, 5, 15)),
        (80.0, 3, torch.uint8, (0.30 * 80, 3, 15)),
    ],
)
def test_default_table(sigma, channels, dtype, expected):
    # Colour rows: the RGB path (colour_space="rgb"); grey rows ignore the colour space.
    params = nlm_params(sigma, channels, dtype, colour_space="rgb")
    assert params.h == pytest.approx(expected[0])
    assert (params.patch_size, params.search_size) == expected[1:]
    if channels != 3:
        assert nlm_params(sigma, channels, dtype) == params


@pytest.mark.parametrize("sigma255", [5.0, 10.0, 20.0, 25.0, 35.0, 50.0, 80.0])
@pytest.mark.parametrize("dtype,data_range", [(torch.uint8, None), (torch.float32, None),
                                              (torch.float64, 2.0)])
def test_opponent_table(sigma255, dtype, data_range):
    from fusegen.ops.nlm import MEASURED_TABLE

    sigma = sigma255 if dtype == torch.uint8 else sigma255 / 255.0 * (data_range or 1.0)
    params = nlm_params(sigma, 3, dtype, data_range=data_range)
    row = next(r for r in MEASURED_TABLE["opponent"] if sigma255 <= r[0])
    assert params.h == pytest.approx(row[3] * sigma)
    assert (params.patch_size, params.search_size) == row[1:3]
    assert params == nlm_params(sigma, 3, dtype, data_range=data_range, colour_space="opponent")


def test_unknown_table_is_rejected():
    with pytest.raises(ValueError, match="table"):
        nlm_params(0.1, 1, table="opencv")


def test_parameter_overrides():
    params = nlm_params(0.1, 1, h=0.5, patch_size=9, search_size=11)
    assert params == (0.5, 9, 11)
    # A patch wider than the table's search window widens the search window with it.
    assert nlm_params(0.01, 1, patch_size=25).search_size == 25


def test_constant_image_stays_constant():
    image = torch.full((3, 12, 10), 0.37, dtype=torch.float64)
    torch.testing.assert_close(nlm_denoise(image, 0.1), image, atol=1e-14, rtol=0)
    # float32 sums of a thousand equal terms round by a few ulps.
    torch.testing.assert_close(nlm_denoise(image.float(), 0.1), image.float(), atol=4e-6, rtol=0)
    image8 = torch.full((12, 10), 200, dtype=torch.uint8)
    assert torch.equal(nlm_denoise(image8, 25.0), image8)


def test_tiny_h_gives_the_input_back():
    image = torch.rand(2, 15, 13, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(call(image, 0.0, 1e-4, 3, 7), image, atol=0, rtol=0)


def test_huge_h_gives_the_search_window_mean():
    image = torch.rand(2, 3, 12, 11, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    rs = 2
    padded = F.pad(image, (rs, rs, rs, rs), mode="reflect")
    expected = F.avg_pool2d(padded, 2 * rs + 1, stride=1)
    torch.testing.assert_close(call(image, 0.0, 1e6, 3, 2 * rs + 1), expected, atol=1e-9, rtol=0)


def test_batch_equals_one_image_at_a_time():
    batch = noisy_image((3, 2, 16, 14))
    got = call(batch, 0.1, 0.1, 3, 7)
    for n in range(batch.shape[0]):
        torch.testing.assert_close(got[n], call(batch[n], 0.1, 0.1, 3, 7), atol=0, rtol=0)


def test_grey_forms_agree():
    image = noisy_image((13, 17))
    expected = call(image, 0.1, 0.1, 5, 9)
    torch.testing.assert_close(call(image[None], 0.1, 0.1, 5, 9)[0], expected, atol=0, rtol=0)
    torch.testing.assert_close(call(image[None, None], 0.1, 0.1, 5, 9)[0, 0], expected, atol=0, rtol=0)


def test_large_image_uses_many_strips():
    """Taller than several row strips and wider than the SIMD width: the reference on a crop."""
    image = noisy_image((1, 100, 70), torch.float64)
    got = call(image, 0.1, 0.1, 3, 5)
    expected = reference.nlm_denoise(image, 0.1, 0.1, 3, 5)
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=0)


def test_non_contiguous_and_channels_last_inputs():
    image = noisy_image((2, 3, 16, 18))
    expected = call(image, 0.1, 0.1, 3, 7)
    channels_last = image.to(memory_format=torch.channels_last)
    torch.testing.assert_close(call(channels_last, 0.1, 0.1, 3, 7), expected, atol=0, rtol=0)
    transposed = image.transpose(-1, -2).contiguous().transpose(-1, -2)
    torch.testing.assert_close(call(transposed, 0.1, 0.1, 3, 7), expected, atol=0, rtol=0)
    strided = noisy_image((2, 3, 32, 18))[:, :, ::2]
    torch.testing.assert_close(
        call(strided, 0.1, 0.1, 3, 7), call(strided.contiguous(), 0.1, 0.1, 3, 7), atol=0, rtol=0
    )


@pytest.mark.parametrize("shape", [(0, 3, 8, 8), (3, 0, 8), (3, 8, 0), (0, 5)])
def test_empty_images_give_empty_results(shape):
    image = torch.empty(shape)
    out = nlm_denoise(image, 0.1)
    assert out.shape == image.shape and out.dtype == image.dtype


def _reach(shape, where, margin):
    """Pixels whose windows (margin pixels each way, over the image and its reflect-101 copy)
    see one of the positions `where`: the NaN policy's expected NaN mask."""
    H, W = shape
    seen = torch.zeros(H, W, dtype=torch.bool)
    for y, x in where:
        for ry in {y, -y, 2 * (H - 1) - y}:  # the pixel and its mirror images near the borders
            for rx in {x, -x, 2 * (W - 1) - x}:
                seen[max(ry - margin, 0):max(ry + margin + 1, 0), max(rx - margin, 0):max(rx + margin + 1, 0)] = True
    return seen


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(("patch", "search", "where"), [
    (7, 21, [(5, 5)]), (3, 5, [(30, 40)]), (3, 5, [(0, 0), (63, 20)]), (5, 11, [(40, 0)])])
def test_non_finite_pixels_make_exactly_their_reach_nan(device, value, patch, search, where):
    # PyTorch's rule for a windowed operation: an output whose window sees a NaN (or an
    # infinity, whose differences make NaN) is NaN, and nothing else changes.
    clean = noisy_image((2, 64, 72), dtype=torch.float64).to(device)
    image = clean.clone()
    for y, x in where:
        image[1, y, x] = value  # one channel: the channels share the weights
    out = call(image, 0.1, 0.1, patch, search).cpu()
    reference = call(clean, 0.1, 0.1, patch, search).cpu()
    expected_nan = _reach((64, 72), where, patch // 2 + search // 2)
    assert torch.equal(torch.isnan(out).all(0), expected_nan)
    assert not torch.isnan(out[:, ~expected_nan]).any()
    torch.testing.assert_close(out[:, ~expected_nan], reference[:, ~expected_nan], rtol=1e-12,
                               atol=1e-12)


def test_nan_in_a_half_image():
    image = noisy_image((1, 32, 32)).half()
    image[0, 16, 16] = float("nan")
    out = call(image, 0.1, 0.1, 3, 5)
    assert torch.isnan(out[0, 13:20, 13:20]).all() and torch.isnan(out).sum() == 49


def test_operator_check():
    image = noisy_image((2, 3, 9, 10))
    torch.library.opcheck(torch.ops.fusegen.nlm_denoise, (image, 0.1, 0.1, 3, 5))
    torch.library.opcheck(torch.ops.fusegen.nlm_denoise, (image[0, 0].double(), 0.0, 0.2, 1, 3))


def test_torch_compile():
    image = noisy_image((1, 3, 12, 12))

    @torch.compile(fullgraph=True, backend="aot_eager")
    def denoise_then_scale(x):
        return nlm_denoise(x, 0.1, h=0.1, patch_size=3, search_size=5) * 2

    @torch.compile(fullgraph=True, backend="aot_eager")
    def denoise_rgb(x):
        return nlm_denoise(x, 0.1, h=0.1, patch_size=3, search_size=5, colour_space="rgb")

    # 3 channels: the opponent path (rotations around the operator) compiles too
    torch.testing.assert_close(denoise_then_scale(image),
                               call(image, 0.1, 0.1, 3, 5, colour_space="opponent") * 2,
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(denoise_rgb(image), call(image, 0.1, 0.1, 3, 5), atol=0, rtol=0)


# --- errors: the message names the argument -------------------------------------------------

ERRORS = [
    (lambda x: nlm_denoise(x[0, 0, 0], 0.1), ValueError, "image"),
    (lambda x: nlm_denoise(x[None], 0.1), ValueError, "image"),
    (lambda x: nlm_denoise(x.to(torch.int32), 0.1), TypeError, "image"),
    (lambda x: nlm_denoise(x.bool(), 0.1), TypeError, "image"),
    (lambda x: nlm_denoise(x.numpy(), 0.1), TypeError, "image"),
    (lambda x: nlm_denoise(x, -0.1), ValueError, "sigma"),
    (lambda x: nlm_denoise(x, float("nan")), ValueError, "sigma"),
    (lambda x: nlm_denoise(x, "0.1"), TypeError, "sigma"),
    (lambda x: nlm_denoise(x, 0.0), ValueError, "h"),
    (lambda x: nlm_denoise(x, 0.1, h=0.0), ValueError, "h"),
    (lambda x: nlm_denoise(x, 0.1, h=-1.0), ValueError, "h"),
    (lambda x: nlm_denoise(x, 0.1, patch_size=4), ValueError, "patch_size"),
    (lambda x: nlm_denoise(x, 0.1, patch_size=0), ValueError, "patch_size"),
    (lambda x: nlm_denoise(x, 0.1, patch_size=-3), ValueError, "patch_size"),
    (lambda x: nlm_denoise(x, 0.1, patch_size=3.0), TypeError, "patch_size"),
    (lambda x: nlm_denoise(x, 0.1, search_size=10), ValueError, "search_size"),
    (lambda x: nlm_denoise(x, 0.1, search_size=-1), ValueError, "search_size"),
    (lambda x: nlm_denoise(x, 0.1, patch_size=7, search_size=5), ValueError, "search_size"),
    (lambda x: nlm_denoise(x, 0.1, data_range=0), ValueError, "data_range"),
    (lambda x: nlm_denoise(x, 0.1, colour_space="lab"), ValueError, "colour_space"),
    (lambda x: nlm_denoise(x, 0.1, colour_space="RGB"), ValueError, "colour_space"),
    (lambda x: nlm_denoise(x, 0.1, colour_space=None), TypeError, "colour_space"),
    (lambda x: nlm_denoise(x[:, :1], 0.1, colour_space="yuv"), ValueError, "colour_space"),
    (lambda x: nlm_params(0.1, 3, colour_space="lab"), ValueError, "colour_space"),
    (lambda x: nlm_params(0.1, 3, table="ipol"), ValueError, "colour_space"),
    (lambda x: nlm_denoise(x, 0.1, patch_size=7, search_size=5, colour_space="rgb"), ValueError,
     "search_size"),
]


@pytest.mark.parametrize("bad_call,error,name", ERRORS)
def test_bad_arguments_raise_naming_the_argument(bad_call, error, name):
    with pytest.raises(error, match=rf"\b{name}\b"):
        bad_call(torch.rand(2, 3, 8, 8))


OPERATOR_ERRORS = [
    ((torch.rand(8),), ValueError, "image"),
    ((torch.zeros(8, 8, dtype=torch.int16),), TypeError, "image"),
    ((torch.rand(8, 8), -1.0), ValueError, "sigma"),
    ((torch.rand(8, 8), 0.1, 0.0), ValueError, "h"),
    ((torch.rand(8, 8), 0.1, 0.1, 2), ValueError, "patch_size"),
    ((torch.rand(8, 8), 0.1, 0.1, 3, 0), ValueError, "search_size"),
    ((torch.rand(8, 8), 0.1, 0.1, 5, 3), ValueError, "search_size"),
]


@pytest.mark.parametrize("args,error,name", OPERATOR_ERRORS)
def test_the_compiled_operator_checks_its_arguments(args, error, name):
    """Callers of torch.ops.fusegen.nlm_denoise, bypassing the wrapper, get the same errors."""
    full = args + (0.1, 0.1, 3, 5)[len(args) - 1 :]
    with pytest.raises(error, match=rf"\b{name}\b"):
        torch.ops.fusegen.nlm_denoise(*full)


# --- CUDA ------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.uint8])
@pytest.mark.parametrize("shape,patch,search", [((2, 3, 37, 45), 3, 7), ((1, 70, 33), 5, 21),
                                                ((50, 41), 7, 35), ((4, 5, 17, 19), 1, 3)])
def test_cuda_matches_cpu(dtype, shape, patch, search):
    image = noisy_image(shape, dtype)
    sigma, h = (20.0, 25.0) if dtype == torch.uint8 else (0.08, 0.1)
    expected = call(image, sigma, h, patch, search)
    got = call(image.cuda(), sigma, h, patch, search)
    assert got.is_cuda and got.dtype == dtype
    if dtype == torch.uint8:
        assert (got.cpu().int() - expected.int()).abs().max() <= 1
    else:
        torch.testing.assert_close(got.cpu(), expected, atol=FLOAT_TOLERANCE[dtype] * 5, rtol=0)


@needs_cuda
@pytest.mark.cuda
def test_cuda_many_channels_and_non_default_stream():
    image = noisy_image((2, 16, 30, 31))
    expected = call(image, 0.1, 0.1, 5, 11)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        got = call(image.cuda(), 0.1, 0.1, 5, 11)
    stream.synchronize()
    torch.testing.assert_close(got.cpu(), expected, atol=1e-5, rtol=0)


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_cuda_colour_matches_cpu(dtype):
    image = noisy_image((2, 3, 29, 33), dtype)
    sigma = 25.0 if dtype == torch.uint8 else 0.1
    expected = nlm_denoise(image, sigma)
    got = nlm_denoise(image.cuda(), sigma)
    assert got.is_cuda and got.dtype == dtype
    if dtype == torch.uint8:
        assert (got.cpu().int() - expected.int()).abs().max() <= 1
    else:
        torch.testing.assert_close(got.cpu(), expected, atol=FLOAT_TOLERANCE[dtype] * 5, rtol=0)


@needs_cuda
@pytest.mark.cuda
def test_cuda_operator_check():
    image = noisy_image((2, 3, 9, 10)).cuda()
    torch.library.opcheck(torch.ops.fusegen.nlm_denoise, (image, 0.1, 0.1, 3, 5))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sigma", [0.0, 0.1])
@pytest.mark.parametrize("h", [1e-20, 1e-30, 1e-200])
def test_a_tiny_h_gives_the_limit_of_small_h_not_nan(dtype, sigma, h):
    # 1/h² overflowed and 0 · inf made NaN where a patch's distance is within 2 sigma² of zero
    image = torch.rand(1, 12, 12, generator=torch.Generator().manual_seed(0), dtype=dtype)
    out = nlm_denoise(image, sigma, h=h, patch_size=3, search_size=5)
    assert torch.isfinite(out).all()
    # the weights are already 0 or 1 at h = 1e-15: any smaller h gives the same result
    torch.testing.assert_close(out, nlm_denoise(image, sigma, h=1e-15, patch_size=3, search_size=5))
    if sigma == 0:  # every other patch differs: each pixel keeps its own value
        torch.testing.assert_close(out, image)
    # the operator itself (not only the Python function) caps 1/h²
    direct = torch.ops.fusegen.nlm_denoise(image, sigma, h, 3, 5)
    torch.testing.assert_close(direct, out)


def test_backward_through_it_is_a_clear_error():
    image = torch.rand(1, 8, 8, requires_grad=True)
    out = nlm_denoise(image, 0.1, patch_size=3, search_size=5)
    with pytest.raises(RuntimeError, match="nlm_denoise has no gradient"):
        out.sum().backward()
    with torch.no_grad():
        assert not nlm_denoise(image, 0.1, patch_size=3, search_size=5).requires_grad


def test_windows_far_wider_than_the_image_are_refused_before_allocating():
    from fusegen.ops import nlm_denoise

    image = torch.rand(1, 16, 16)
    with pytest.raises(ValueError, match=r"search_size must be at most 35 for a 16x16 image.*got 100001"):
        nlm_denoise(image, 0.1, search_size=100001)
    with pytest.raises(ValueError, match=r"patch_size must be at most 35"):
        nlm_denoise(image, 0.1, patch_size=41, search_size=41)
    # The table's windows work on images smaller than them, and up to 2 * max(H, W) + 1 is fine.
    assert nlm_denoise(torch.rand(1, 4, 4), 0.1).shape == (1, 4, 4)
    assert nlm_denoise(torch.rand(1, 20, 8), 0.1, search_size=41).shape == (1, 20, 8)
