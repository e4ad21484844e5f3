"""``fusegen inpaint``: image + mask files in, filled image out; random test masks; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

Image = pytest.importorskip("PIL.Image", reason="the inpaint command reads and writes with Pillow")

from fusegen.checkpoint import save_model
from fusegen.cli import main
from fusegen.data import read_mask
from fusegen.models import DnCNN, InpaintingUNet


def smooth_image(shape) -> np.ndarray:
    h, w = shape[:2]
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = 128 + 80 * np.sin(6 * x) * np.cos(5 * y)
    if len(shape) == 3:
        base = np.stack([base, base[::-1], base[:, ::-1]], axis=-1)
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture
def files(tmp_path):
    grey, colour = tmp_path / "grey.png", tmp_path / "colour.png"
    Image.fromarray(smooth_image((30, 41))).save(grey)
    Image.fromarray(smooth_image((24, 20, 3))).save(colour)
    mask = np.zeros((30, 41), dtype=np.uint8)
    mask[10:18, 5:20] = 255
    mask[2, ::3] = 1  # any non-zero value is missing
    Image.fromarray(mask).save(tmp_path / "mask.png")
    torch.manual_seed(0)
    save_model(InpaintingUNet(1, width=4, depth=2, fill="biharmonic").eval(), tmp_path / "grey.pt")
    save_model(InpaintingUNet(3, width=4, depth=2).eval(), tmp_path / "colour.pt")
    save_model(DnCNN(depth=3, width=4).eval(), tmp_path / "dncnn.pt")
    return tmp_path


def test_fill_a_grey_image_keeps_its_known_pixels(files, capsys):
    out = files / "out.png"
    assert main(["inpaint", str(files / "grey.png"), "--mask", str(files / "mask.png"), "-o", str(out),
                 "--model", str(files / "grey.pt"), "--reference", str(files / "grey.png")]) == 0
    printed = capsys.readouterr().out
    assert "filled" in printed and "s on cpu" in printed and "dB over the missing pixels" in printed
    image, result = np.asarray(Image.open(files / "grey.png")), np.asarray(Image.open(out))
    missing = np.asarray(Image.open(files / "mask.png")) > 0
    assert result.shape == image.shape
    assert np.array_equal(result[~missing], image[~missing])
    # the smooth fill of a smooth picture: close to the truth in the holes
    assert np.abs(result[missing].astype(int) - image[missing].astype(int)).mean() < 12


def test_mask_out_writes_a_random_mask_of_the_image_size(files, capsys):
    path = files / "holes.png"
    assert main(["inpaint", str(files / "colour.png"), "--mask-out", str(path), "--mask-kind", "boxes",
                 "--seed", "3"]) == 0
    assert "boxes mask of 20x24 pixels (seed 3" in capsys.readouterr().out
    mask = read_mask(path)
    assert mask.shape == (1, 24, 20) and 0 < mask.float().mean() < 0.5
    again = files / "again.png"
    assert main(["inpaint", str(files / "colour.png"), "--mask-out", str(again), "--mask-kind", "boxes",
                 "--seed", "3"]) == 0
    assert torch.equal(read_mask(again), mask)
    assert main(["inpaint", "--mask-out", str(files / "sized.png"), "--size", "33x17"]) == 0
    assert read_mask(files / "sized.png").shape == (1, 17, 33)


def test_mask_out_with_a_model_damages_fills_and_scores(files, capsys):
    out = files / "filled.png"
    assert main(["inpaint", str(files / "colour.png"), "--mask-out", str(files / "m.png"), "-o", str(out),
                 "--model", str(files / "colour.pt"), "--mask-kind", "strokes"]) == 0
    printed = capsys.readouterr().out
    assert "damaged copy" in printed and "PSNR" in printed
    damaged = np.asarray(Image.open(files / "filled-damaged.png"))
    missing = np.asarray(read_mask(files / "m.png")[0])
    assert (damaged[missing] == 255).all()
    result, image = np.asarray(Image.open(out)), np.asarray(Image.open(files / "colour.png"))
    assert result.shape == image.shape and np.array_equal(result[~missing], image[~missing])


@pytest.mark.parametrize("argv,message", [
    (["{tmp}/grey.png", "--mask", "{tmp}/small.png", "-o", "{tmp}/o.png", "--model", "{tmp}/grey.pt"],
     "the mask is 12x10 pixels (width x height) but the image is 41x30"),
    (["{tmp}/grey.png", "--mask", "{tmp}/junk.png", "-o", "{tmp}/o.png", "--model", "{tmp}/grey.pt"],
     "junk.png: not a readable image"),
    (["{tmp}/nothing.png", "--mask", "{tmp}/mask.png", "-o", "{tmp}/o.png", "--model", "{tmp}/grey.pt"],
     "nothing.png"),
    (["{tmp}/grey.png", "--mask", "{tmp}/mask.png", "-o", "{tmp}/o.png", "--model", "{tmp}/dncnn.pt"],
     "is not an inpainting model"),
    (["{tmp}/grey.png", "--mask", "{tmp}/mask.png", "-o", "{tmp}/o.png", "--model", "{tmp}/colour.pt"],
     "train a model with --channels 1"),
    (["{tmp}/grey.png", "--mask", "{tmp}/mask.png", "-o", "{tmp}/o.png", "--model", "{tmp}/missing.pt"],
     "no such checkpoint"),
    (["{tmp}/grey.png", "--mask", "{tmp}/mask.png", "-o", "{tmp}/o.png"], "--model CKPT is required"),
    (["{tmp}/grey.png", "--mask", "{tmp}/mask.png", "--model", "{tmp}/grey.pt"], "-o OUT is required"),
    (["{tmp}/grey.png", "-o", "{tmp}/o.png", "--model", "{tmp}/grey.pt"], "--mask MASK is required"),
    (["{tmp}/grey.png", "--mask", "{tmp}/mask.png", "--mask-out", "{tmp}/m.png"], "give one of the two"),
    (["{tmp}/grey.png", "--mask", "{tmp}/mask.png", "-o", "{tmp}/grey.png", "--model", "{tmp}/grey.pt"],
     "would overwrite what it reads"),
    (["{tmp}/grey.png", "--mask", "{tmp}/mask.png", "-o", "{tmp}/o.xyz", "--model", "{tmp}/grey.pt"],
     "unknown image file extension"),
    (["{tmp}/grey.png", "--mask-out", "{tmp}/m.jpg"], "losslessly"),
    (["{tmp}/grey.png", "--mask-out", "{tmp}/m.png", "--size", "10"], "--size is for --mask-out without IMAGE"),
    ([], "IMAGE is required"),
])
def test_bad_arguments_and_files_give_one_line(files, capsys, argv, message):
    Image.fromarray(np.zeros((10, 12), dtype=np.uint8)).save(files / "small.png")
    (files / "junk.png").write_bytes(b"not a picture")
    argv = ["inpaint"] + [a.replace("{tmp}", str(files)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("fusegen inpaint: error:")
    assert not (files / "o.png").exists()


def test_bad_sizes_and_kinds_are_argparse_errors(capsys):
    for argv in (["inpaint", "--mask-out", "m.png", "--size", "0x4"],
                 ["inpaint", "--mask-out", "m.png", "--mask-kind", "circles"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2


def test_train_then_inpaint_from_the_command_line(files, capsys):
    from tests.fixtures import write_images

    data = write_images(files / "images", 4, 32, seed=1)
    run = files / "run"
    assert main(["train", "inpaint", "--data", data, "--steps", "2", "--out", str(run), "--width", "4",
                 "--depth", "2", "--patch-size", "16", "--batch-size", "2", "--mask-kind", "strokes",
                 "--val-every", "1", "--device", "cpu", "--no-progress"]) == 0
    assert '"kind": "inpaint"' in capsys.readouterr().out
    out = files / "filled.png"
    assert main(["inpaint", str(files / "grey.png"), "--mask", str(files / "mask.png"), "-o", str(out),
                 "--model", str(run / "best.pt")]) == 0
    assert np.asarray(Image.open(out)).shape == (30, 41)
    assert main(["train", "inpaint", "--data", data, "--steps", "1", "--out", str(files / "bad"),
                 "--patch-size", "20", "--depth", "3", "--device", "cpu"]) == 2
    assert "patch_size must be a multiple of 2**depth = 8" in capsys.readouterr().err
