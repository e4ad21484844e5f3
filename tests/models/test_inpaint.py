"""InpaintingUNet: shapes, any size, known pixels kept, holes filled from the known pixels only,
saving and loading, and a few training steps that lower the loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import fusegen
from fusegen.checkpoint import save_model
from fusegen.data import random_masks
from fusegen.models import InpaintingUNet, build_model
from fusegen.models.inpaint import pyramid_fill, smooth_fill
from fusegen.train import inpainting_loss

TINY = dict(width=4, depth=2)


def smooth_images(n: int, channels: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    phase = torch.rand(n, channels, 1, 1, generator=g) * 6
    return 0.5 + 0.4 * torch.sin(5 * x + phase) * torch.cos(3 * y + phase)


@pytest.mark.parametrize("fill", ["none", "biharmonic"])
@pytest.mark.parametrize("channels", [1, 3])
def test_inpaint_keeps_shape_dtype_and_known_pixels(fill, channels):
    torch.manual_seed(0)
    model = InpaintingUNet(channels, fill=fill, **TINY).eval()
    image = torch.rand(2, channels, 13, 22)  # odd sizes: padded to multiples of 4, cropped back
    missing = torch.rand(2, 1, 13, 22) > 0.6
    out = model.inpaint(image, missing)
    assert out.shape == image.shape and out.dtype == image.dtype
    known = ~missing.expand_as(image)
    assert torch.equal(out[known], image[known])
    assert not torch.equal(out[~known], image[~known]) and out.min() >= 0 and out.max() <= 1
    single = model.inpaint(image[0], missing[0])  # one image, (C, H, W) with a (1, H, W) mask
    assert single.shape == image[0].shape and torch.allclose(single, out[0], atol=1e-6)
    assert torch.allclose(model.inpaint(image[0], missing[0, 0]), single)  # an (H, W) mask


def test_float64_images_and_per_channel_masks():
    model = InpaintingUNet(3, **TINY).eval()
    image = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    missing = torch.zeros(1, 3, 8, 8, dtype=torch.bool)
    missing[0, 1, 2:5, 2:5] = True  # the green channel only
    out = model.inpaint(image, missing)
    assert out.dtype == torch.float64
    assert torch.equal(out[~missing], image[~missing]) and not torch.equal(out[missing], image[missing])


@pytest.mark.parametrize("fill", ["none", "biharmonic"])
def test_the_values_under_the_holes_are_never_read(fill):
    torch.manual_seed(1)
    model = InpaintingUNet(1, fill=fill, **TINY).eval()
    image = torch.rand(2, 1, 16, 16)
    missing = random_masks(2, 16, 16, "boxes", generator=torch.Generator().manual_seed(0))
    garbage = image.masked_fill(missing, float("nan"))
    other = image.masked_fill(missing, 7.0)
    assert torch.equal(model.inpaint(garbage, missing), model.inpaint(other, missing))
    assert torch.isfinite(model.inpaint(garbage, missing)).all()


def test_a_mask_with_no_hole_returns_the_image_and_a_full_mask_still_fills():
    model = InpaintingUNet(1, **TINY).eval()
    image = torch.rand(1, 1, 9, 9)
    assert torch.equal(model.inpaint(image, torch.zeros(1, 1, 9, 9, dtype=torch.bool)), image)
    everything = model.inpaint(image, torch.ones(1, 1, 9, 9))
    assert everything.shape == image.shape and torch.isfinite(everything).all()


def test_forward_needs_multiples_of_two_to_the_depth():
    model = InpaintingUNet(1, **TINY)
    assert model.multiple == 4
    assert model(torch.rand(2, 1, 8, 12), torch.ones(2, 1, 8, 12)).shape == (2, 1, 8, 12)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.rand(2, 1, 10, 12), torch.ones(2, 1, 10, 12))


@pytest.mark.parametrize("call,error,message", [
    (lambda m: m.inpaint(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8)), ValueError, "image must have shape"),
    (lambda m: m.inpaint(torch.rand(8, 8), torch.zeros(8, 8)), ValueError, "image must have shape"),
    (lambda m: m.inpaint(torch.randint(0, 255, (1, 1, 8, 8)), torch.zeros(1, 1, 8, 8)), TypeError, "float"),
    (lambda m: m.inpaint([[0.5]], torch.zeros(1, 1)), TypeError, "image must be a torch.Tensor"),
    (lambda m: m.inpaint(torch.rand(1, 1, 8, 8), torch.zeros(1, 1, 8, 9)), ValueError, r"mask must have shape \(1, 1, 8, 8\)"),
    (lambda m: m.inpaint(torch.rand(2, 1, 8, 8), torch.zeros(1, 1, 8, 8)), ValueError, "mask must have shape"),
    (lambda m: m.inpaint(torch.rand(1, 8, 8), torch.zeros(2, 1, 8, 8)), ValueError, "mask must have shape"),
    (lambda m: m.inpaint(torch.rand(1, 1, 8, 8), "holes.png"), TypeError, "mask must be a torch.Tensor"),
    (lambda m: m.inpaint(torch.rand(1, 1, 8, 8), torch.zeros(1, 1, 8, 8, dtype=torch.complex64)), TypeError,
     "mask must be bool, integer or float"),
    (lambda m: m.inpaint(torch.rand(0, 1, 8, 8), torch.zeros(0, 1, 8, 8)), ValueError, "must not be empty"),
])
def test_bad_arguments_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call(InpaintingUNet(1, **TINY))


@pytest.mark.parametrize("kwargs,message", [
    (dict(channels=2), "channels must be 1 or 3"), (dict(depth=0), "depth must be an integer >= 1"),
    (dict(width=0), "width must be"), (dict(norm="layer"), "norm must be one of"),
    (dict(fill="telea"), "fill must be one of"), (dict(full_width=-1), "full_width must be"),
    (dict(full_depth=0), "full_depth must be"), (dict(full_width=0, full_depth=2), "needs a full-resolution level"),
    (dict(reach=-1), "reach must be None or an integer"), (dict(reach=1.5), "reach must be None or an integer"),
    (dict(reach=2, fill="none"), "reach limits the correction of a fill"),
])
def test_bad_configurations_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InpaintingUNet(**{"channels": 1, **TINY, **kwargs})


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(2)
    model = InpaintingUNet(3, width=4, depth=3, full_width=4, fill="biharmonic")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.eval()
    path = save_model(model, tmp_path / "inpaint.pt")
    loaded = fusegen.load(path)
    assert isinstance(loaded, InpaintingUNet) and loaded.config == model.config and not loaded.training
    assert build_model("inpaint", model.config).config == model.config
    image, missing = torch.rand(1, 3, 20, 20), torch.rand(1, 1, 20, 20) > 0.5
    assert torch.equal(loaded.inpaint(image, missing), model.inpaint(image, missing))


def test_smooth_fill_interpolates_smooth_images_well():
    image = smooth_images(1, 1, 48, 48)
    missing = random_masks(1, 48, 48, "pixels", fraction=0.5, generator=torch.Generator().manual_seed(0))
    valid = (~missing).float()
    error = lambda f: float(((f - image) ** 2)[missing.expand_as(image)].mean())  # noqa: E731
    zero, pyramid, smooth = error(image * valid), error(pyramid_fill(image * valid, valid)), error(smooth_fill(image * valid, valid))
    assert smooth < pyramid / 4 and pyramid < zero / 100
    assert torch.equal(smooth_fill(image, valid)[~missing.expand_as(image)], image[~missing.expand_as(image)])


def test_a_biharmonic_model_starts_from_its_fill():
    model = InpaintingUNet(1, fill="biharmonic", **TINY).eval()
    image, missing = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16) > 0.5
    valid = (~missing).float()
    expected = torch.where(missing, smooth_fill(image * valid, valid).clamp(0, 1), image)
    assert torch.allclose(model.inpaint(image, missing), expected, atol=1e-6)


@pytest.mark.parametrize("fill", ["none", "biharmonic"])
def test_thirty_training_steps_lower_the_hole_loss(fill):
    torch.manual_seed(0)
    model = InpaintingUNet(1, width=8, depth=2, fill=fill)
    images = smooth_images(8, 1, 16, 16)
    missing = random_masks(8, 16, 16, "mixed", generator=torch.Generator().manual_seed(3))
    valid = (~missing).float()
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)

    def hole_loss():
        return inpainting_loss(model(images * valid, valid), images, missing)["hole"]

    with torch.no_grad():
        before = float(hole_loss())
    for _ in range(30):
        optimizer.zero_grad()
        inpainting_loss(model(images * valid, valid), images, missing)["loss"].backward()
        optimizer.step()
    with torch.no_grad():
        after = float(hole_loss())
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("fill", ["none", "biharmonic"])
def test_the_padding_counts_as_missing(fill):
    torch.manual_seed(3)
    model = InpaintingUNet(1, fill=fill, **TINY).eval()
    image = torch.rand(1, 1, 13, 22)
    missing = torch.rand(1, 1, 13, 22) > 0.6
    padded = torch.nn.functional.pad(image, (0, 2, 0, 3), value=0.9)  # 16 x 24: no padding inside
    padded_missing = torch.nn.functional.pad(missing, (0, 2, 0, 3), value=True)
    expected = model.inpaint(padded, padded_missing)[..., :13, :22]
    assert torch.allclose(model.inpaint(image, missing), expected, atol=1e-6)


def test_reach_limits_the_correction_to_missing_pixels_near_known_ones():
    torch.manual_seed(0)
    model = InpaintingUNet(3, width=4, depth=3, full_width=8, full_depth=2, reach=2)
    nn.init.normal_(model.decoder[-1].weight)  # a nonzero correction
    image = torch.rand(2, 3, 32, 32)
    valid = torch.ones(2, 1, 32, 32)
    valid[..., 5:20, 5:20] = 0
    fill = smooth_fill(image * valid, valid)
    change = (model(image * valid, valid) - fill).abs().sum(1)
    assert change[:, valid[0, 0] > 0].eq(0).all()  # known pixels: exactly the image
    assert change[:, 8:17, 8:17].eq(0).all()  # more than 2 pixels from a known one: the fill
    assert change[:, 5:7, 5:20].ne(0).all() and change[:, 5:20, 18:20].ne(0).all()  # the hole's rim
    everywhere = InpaintingUNet(3, width=4, depth=3, full_width=8, full_depth=2)
    everywhere.load_state_dict(model.state_dict())
    assert (everywhere(image * valid, valid) - fill).abs().sum(1)[:, 8:17, 8:17].ne(0).any()


def test_forward_takes_the_fill_when_given_and_checks_its_shape():
    torch.manual_seed(0)
    model = InpaintingUNet(1, full_depth=2, **TINY)
    nn.init.normal_(model.decoder[-1].weight)
    image, valid = torch.rand(2, 1, 16, 16), (torch.rand(2, 1, 16, 16) > 0.4).float()
    fill = smooth_fill(image * valid, valid)
    assert torch.equal(model(image * valid, valid, fill=fill), model(image * valid, valid))
    with pytest.raises(ValueError, match="fill must have the image's shape"):
        model(image * valid, valid, fill=fill[:1])


def test_harmonic_pyramid_fill_solves_laplace_in_large_holes():
    # a linear ramp is harmonic: the smoothed pyramid recovers it inside a large hole, the plain
    # push-pull fill does not
    ramp = torch.linspace(0, 1, 64).expand(1, 1, 64, 64).contiguous()
    valid = torch.ones(1, 1, 64, 64)
    valid[..., 8:56, 8:56] = 0
    plain = (pyramid_fill(ramp * valid, valid) - ramp).abs().max()
    smoothed = (pyramid_fill(ramp * valid, valid, smoothing=20) - ramp).abs().max()
    assert smoothed < 0.02 < plain
    assert torch.equal(pyramid_fill(ramp, valid, smoothing=5)[valid.expand_as(ramp) > 0], ramp[valid > 0])
