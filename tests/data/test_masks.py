"""fusegen.data.random_masks (strokes, pixels, boxes) and the mask files read_mask / write_mask."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from fusegen.data import MASK_FRACTIONS, MASK_KINDS, random_masks, read_mask, write_mask
from fusegen.data.masks import BOX_SIDE, _box, _stroke

ndimage = pytest.importorskip("scipy.ndimage", reason="components are counted with scipy")
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """The masks are small: one thread."""


def masks(kind, n=64, height=48, width=64, seed=0, **options):
    return random_masks(n, height, width, kind, generator=torch.Generator().manual_seed(seed), **options)


def components(mask: torch.Tensor) -> int:
    """The number of 8-connected hole regions of one (H, W) mask."""
    return ndimage.label(mask.numpy(), structure=EIGHT_NEIGHBOURS)[1]


def clustering(mask: torch.Tensor) -> float:
    """P(right neighbour missing | pixel missing) minus the hole fraction: 0 for pixels missing
    independently of each other, near 1 - fraction for solid shapes."""
    left, right = mask[:, :-1], mask[:, 1:]
    return ((left & right).sum() / left.sum()).item() - mask.float().mean().item()


@pytest.mark.parametrize("kind", [*MASK_KINDS, "mixed"])
def test_shape_dtype_and_seeded_determinism(kind):
    m = masks(kind, n=5, height=30, width=41)
    assert m.shape == (5, 1, 30, 41) and m.dtype == torch.bool and m.is_contiguous()
    assert torch.equal(m, masks(kind, n=5, height=30, width=41))
    assert not torch.equal(m, masks(kind, n=5, height=30, width=41, seed=1))
    assert random_masks(0, 8, 8, kind).shape == (0, 1, 8, 8)


def test_the_global_generator_draws_without_a_generator():
    torch.manual_seed(3)
    first = random_masks(4, 16, 16)
    torch.manual_seed(3)
    assert torch.equal(first, random_masks(4, 16, 16))


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_default_fractions_stay_in_and_span_the_kinds_range(kind):
    low, high = MASK_FRACTIONS[kind]
    pixels = 48 * 64
    counts = masks(kind).flatten(1).sum(1)
    assert counts.min() >= math.ceil(low * pixels) and counts.max() <= math.floor(high * pixels)
    fractions = counts / pixels
    span = high - low
    assert fractions.min() < low + 0.25 * span and fractions.max() > high - 0.25 * span


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("fraction", [(0.2, 0.3), (0.5, 0.55), (0.9, 0.95)])
def test_a_chosen_fraction_range_is_met(kind, fraction):
    pixels = 40 * 40
    counts = masks(kind, n=16, height=40, width=40, fraction=fraction).flatten(1).sum(1)
    assert counts.min() >= math.ceil(fraction[0] * pixels) and counts.max() <= math.floor(fraction[1] * pixels)


def test_missing_pixels_meet_a_single_fraction_exactly():
    m = masks("pixels", n=8, height=20, width=30, fraction=0.25)
    assert (m.flatten(1).sum(1) == 150).all()
    assert not masks("strokes", fraction=0.0).any() and masks("boxes", n=2, fraction=1).all()


def test_missing_pixels_are_scattered_and_shapes_are_solid():
    for kind in MASK_KINDS:
        for mask in masks(kind)[:, 0]:
            c = clustering(mask)
            if kind == "pixels":  # independent pixels: a neighbour is missing as often as any pixel
                assert abs(c) < 0.07, (kind, c)
            else:
                assert c > 0.3, (kind, c)


def test_strokes_and_boxes_are_few_connected_shapes_and_pixels_many():
    counts = {kind: [components(m) for m in masks(kind)[:, 0]] for kind in MASK_KINDS}
    for kind in ("strokes", "boxes"):
        assert np.median(counts[kind]) <= 3 and max(counts[kind]) <= 12, (kind, counts[kind])
    assert np.median(counts["pixels"]) >= 50


def test_one_stroke_is_one_connected_brush_stroke():
    g = torch.Generator().manual_seed(4)
    strokes = _stroke(torch.full((40,), math.inf, dtype=torch.float64), 48, 64, g)
    for stroke in strokes:
        assert components(stroke) == 1
        # a brush at least 5% of the shorter side wide: eroding by one pixel leaves some of it
        assert ndimage.binary_erosion(stroke.numpy(), border_value=1).any()
    assert len({s.sum().item() for s in strokes}) > 30  # sizes vary


def test_one_box_is_one_filled_rectangle_of_the_documented_size():
    g = torch.Generator().manual_seed(5)
    height, width = 50, 80
    for box in _box(torch.full((40,), math.inf, dtype=torch.float64), height, width, g):
        rows, cols = box.any(1).nonzero().flatten(), box.any(0).nonzero().flatten()
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert box[top:bottom, left:right].all() and box.sum() == (bottom - top) * (right - left)
        assert int(BOX_SIDE[0] * height) <= bottom - top <= BOX_SIDE[1] * height
        assert int(BOX_SIDE[0] * width) <= right - left <= BOX_SIDE[1] * width


def test_shapes_shrink_to_the_room_left():
    g = torch.Generator().manual_seed(6)
    room = torch.full((30,), 40.0, dtype=torch.float64)
    assert _box(room, 64, 64, g).flatten(1).sum(1).max() <= 40
    assert _stroke(room, 64, 64, g).flatten(1).sum(1).max() <= 60  # area bound + rasterisation


def test_mixed_draws_every_kind():
    scattered = sum(abs(clustering(m)) < 0.07 for m in masks("mixed")[:, 0])
    assert 10 <= scattered <= 40  # about a third of 64 are "pixels"


def test_tiny_masks():
    assert random_masks(3, 1, 1, "pixels", fraction=1.0).all()
    for kind in MASK_KINDS:
        m = masks(kind, n=6, height=2, width=3, fraction=(0.5, 0.5))
        assert (m.flatten(1).sum(1) == 3).all()


def test_masks_are_the_same_on_every_device(device):
    cpu = masks("mixed", n=6)
    assert torch.equal(masks("mixed", n=6, device=device).cpu(), cpu)


@pytest.mark.parametrize("args, options, message", [
    ((-1, 8, 8), {}, "n must be an integer >= 0"),
    ((2, 0, 8), {}, "height must be an integer >= 1"),
    ((2, 8, 8.0), {}, "width must be an integer >= 1"),
    ((2, 8, 8, "blobs"), {}, "kind must be one of strokes, pixels, boxes or mixed, got 'blobs'"),
    ((2, 8, 8), {"fraction": (0.5, 0.2)}, "fraction must be"),
    ((2, 8, 8), {"fraction": 1.5}, "fraction must be"),
    ((2, 8, 8), {"fraction": (0.1, 0.2, 0.3)}, "fraction must be"),
    ((2, 8, 8), {"fraction": "0.2"}, "fraction must be"),
    ((2, 8, 8), {"generator": 0}, "generator must be a CPU torch.Generator"),
])
def test_bad_arguments_are_named(args, options, message):
    with pytest.raises(ValueError, match=message):
        random_masks(*args, **options)


def test_mask_files_round_trip(tmp_path):
    mask = masks("strokes", n=1, height=20, width=30)[0]
    write_mask(mask, tmp_path / "mask.png")
    assert np.array_equal(np.unique(np.asarray(Image.open(tmp_path / "mask.png"))), [0, 255])
    back = read_mask(tmp_path / "mask.png", size=(20, 30))
    assert back.dtype == torch.bool and torch.equal(back, mask)
    write_mask(mask[0].float(), tmp_path / "float.png")  # non-zero = missing, (H, W) too
    assert torch.equal(read_mask(tmp_path / "float.png"), mask)


def test_any_non_zero_pixel_is_missing(tmp_path):
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[1, 2, 2] = 1  # pure dark blue: zero luma, still missing
    Image.fromarray(rgb).save(tmp_path / "blue.png")
    expected = torch.zeros(1, 4, 5, dtype=torch.bool)
    expected[0, 1, 2] = True
    assert torch.equal(read_mask(tmp_path / "blue.png"), expected)
    wide = np.zeros((4, 5), dtype=np.uint16)
    wide[3, 4] = 1  # 1 / 65535 in a 16-bit file
    Image.fromarray(wide).save(tmp_path / "wide.png")
    assert read_mask(tmp_path / "wide.png").nonzero().tolist() == [[0, 3, 4]]


def test_mask_file_errors(tmp_path):
    write_mask(torch.zeros(6, 7, dtype=torch.bool), tmp_path / "m.png")
    with pytest.raises(ValueError, match="the mask is 7x6 pixels .* but the image is 8x6"):
        read_mask(tmp_path / "m.png", size=(6, 8))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(OSError, match="bad.png"):
        read_mask(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="mask must be a \\(1, H, W\\) or \\(H, W\\) tensor"):
        write_mask(torch.zeros(2, 1, 6, 7, dtype=torch.bool), tmp_path / "m.png")
