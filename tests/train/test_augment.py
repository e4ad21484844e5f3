"""Differentiable augmentation (fusegen.train.augment): policies, and each transform against a reference."""

from __future__ import annotations

import itertools

import pytest
import torch

from fusegen.train.augment import POLICIES, diff_augment, parse_policy


def _images(n=64, c=1, size=16, seed=0, dtype=torch.float32):
    """Random images with no zero pixel (so that cutout's zeros are its own)."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=g, dtype=dtype) * 0.9 + 0.1


def _shifted(image, dy, dx):
    """``image`` (C, H, W) with out[:, i, j] = image[:, clamp(i + dy), clamp(j + dx)] (border repeated)."""
    _, h, w = image.shape
    rows = [min(max(i + dy, 0), h - 1) for i in range(h)]
    cols = [min(max(j + dx, 0), w - 1) for j in range(w)]
    return image[:, rows][:, :, cols]


# ----------------------------------------------------------------------------- parse_policy

def test_policy_names_are_parsed_in_order():
    assert parse_policy("translation,cutout") == ("translation", "cutout")
    assert parse_policy(" color , translation ") == ("color", "translation")
    assert parse_policy(",".join(POLICIES)) == POLICIES


@pytest.mark.parametrize("empty", ["", "none", None])
def test_no_policy_is_the_empty_tuple(empty):
    assert parse_policy(empty) == ()


@pytest.mark.parametrize("bad", ["rotation", "translation,translation", "translation,", "Cutout",
                                 "translation;cutout"])
def test_unknown_or_repeated_names_are_refused(bad):
    with pytest.raises(ValueError, match="augment"):
        parse_policy(bad)


@pytest.mark.parametrize("bad", [1, ["translation"], ("cutout",), b"color"])
def test_non_strings_are_refused(bad):
    with pytest.raises(TypeError, match="augment"):
        parse_policy(bad)


# ----------------------------------------------------------------------------- diff_augment: generic

@pytest.mark.parametrize("policy", [(name,) for name in POLICIES] + [POLICIES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_and_dtype_are_kept(policy, dtype):
    x = torch.rand(5, 3, 16, 12, dtype=dtype) * 2 - 1
    out = diff_augment(x, policy, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == dtype


def test_the_empty_policy_returns_the_input():
    x = torch.rand(3, 1, 16, 16)
    assert diff_augment(x, ()) is x


def test_gradients_flow_through_every_transform():
    x = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_(True)
    diff_augment(x, POLICIES, torch.Generator().manual_seed(1)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_a_seeded_generator_makes_it_reproducible():
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    a = diff_augment(x, POLICIES, torch.Generator().manual_seed(7))
    b = diff_augment(x, POLICIES, torch.Generator().manual_seed(7))
    c = diff_augment(x, POLICIES, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ----------------------------------------------------------------------------- translation

def test_translation_is_an_integer_shift_of_at_most_an_eighth_with_border_replication():
    x = _images(n=60, c=2)
    out = diff_augment(x, ("translation",), torch.Generator().manual_seed(0))
    limit = round(16 / 8)
    shifts = list(itertools.product(range(-limit, limit + 1), repeat=2))
    found = []
    for image, result in zip(x, out):
        matches = [s for s in shifts if torch.equal(result, _shifted(image, *s))]
        assert len(matches) == 1, "each output must be exactly one allowed shift of its input"
        found.append(matches[0])
    # The draws use the whole range, in both directions (not only the identity).
    assert {dy for dy, _ in found} == set(range(-limit, limit + 1))
    assert {dx for _, dx in found} == set(range(-limit, limit + 1))


# ----------------------------------------------------------------------------- cutout

def test_cutout_zeroes_one_square_of_half_the_size_clipped_at_the_border():
    size, side = 16, round(16 / 2)
    x = _images(n=80, c=3, size=size)
    out = diff_augment(x, ("cutout",), torch.Generator().manual_seed(0))
    clipped = 0
    for image, result in zip(x, out):
        zeroed = result == 0
        # The same pixels in every channel, and elsewhere the input untouched.
        assert torch.equal(zeroed, zeroed[:1].expand_as(zeroed))
        assert torch.equal(result[~zeroed], image[~zeroed])
        mask = zeroed[0]
        rows = mask.any(1).nonzero().flatten()
        cols = mask.any(0).nonzero().flatten()
        assert 0 < int(mask.sum()) <= side * side
        # A rectangle: contiguous rows and columns, and every pixel of their product.
        assert torch.equal(rows, torch.arange(int(rows[0]), int(rows[-1]) + 1))
        assert torch.equal(cols, torch.arange(int(cols[0]), int(cols[-1]) + 1))
        assert int(mask.sum()) == len(rows) * len(cols)
        # A full square of the side, unless the border clips it.
        for index in (rows, cols):
            if len(index) < side:
                clipped += 1
                assert int(index[0]) == 0 or int(index[-1]) == size - 1
            else:
                assert len(index) == side
    assert clipped > 0  # the centre is drawn anywhere, so some squares are clipped


# ----------------------------------------------------------------------------- color

def _fit(columns, target):
    """Least-squares coefficients and the largest residual of target ~ columns."""
    A = torch.stack([c.flatten() for c in columns], dim=1).double()
    t = target.flatten().double()
    coef = torch.linalg.lstsq(A, t[:, None]).solution.flatten()
    return coef, float((A @ coef - t).abs().max())


def test_color_on_grayscale_is_brightness_and_contrast_per_image():
    x = _images(n=40, c=1) * 2 - 1
    out = diff_augment(x, ("color",), torch.Generator().manual_seed(0))
    scales = []
    for image, result in zip(x, out):
        (a, _), residual = _fit([image, torch.ones_like(image)], result)
        assert residual < 1e-5
        assert 0.5 - 1e-6 <= float(a) <= 1.5 + 1e-6
        # Contrast keeps the mean: the mean moves by the brightness only.
        assert abs(float(result.mean() - image.mean())) <= 0.5 + 1e-6
        scales.append(float(a))
    assert max(scales) - min(scales) > 0.3  # drawn per image


def test_color_on_rgb_is_affine_in_the_pixel_and_its_channel_mean():
    # brightness b, saturation s about the channel mean, contrast c about the image mean:
    # out = c*s*(x - mean_c x) + c*mean_c x + const, per image.
    x = _images(n=30, c=3) * 2 - 1
    out = diff_augment(x, ("color",), torch.Generator().manual_seed(3))
    saturations = []
    for image, result in zip(x, out):
        grey = image.mean(0, keepdim=True).expand_as(image)
        (cs, c, _), residual = _fit([image - grey, grey, torch.ones_like(image)], result)
        assert residual < 1e-5
        assert 0.5 - 1e-6 <= float(c) <= 1.5 + 1e-6
        assert -1e-6 <= float(cs) / float(c) <= 2 + 1e-6
        saturations.append(float(cs) / float(c))
    assert max(saturations) - min(saturations) > 0.5
