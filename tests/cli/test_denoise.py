"""``fusegen denoise``: files in, files out, time and PSNR printed, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

Image = pytest.importorskip("PIL.Image", reason="the denoise command reads and writes with Pillow")

from fusegen.cli import main
from fusegen.metrics import psnr as psnr_tensors
from fusegen.ops import nlm_denoise
from fusegen.ops.bm3d import bm3d_denoise


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of two 8-bit arrays (fusegen.metrics.psnr, data range 255)."""
    to = lambda a: torch.from_numpy(np.array(a)).double()  # noqa: E731  (a writable copy)
    return float(psnr_tensors(to(image), to(reference), data_range=255.0))


def smooth_image(shape) -> np.ndarray:
    """A smooth 8-bit test image: blobs that NLM can restore."""
    h, w = shape[:2]
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = 128 + 80 * np.sin(6 * x) * np.cos(5 * y)
    if len(shape) == 3:
        base = np.stack([base, base[::-1], base[:, ::-1]], axis=-1)
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture
def files(tmp_path):
    gray, color = tmp_path / "gray.png", tmp_path / "color.png"
    Image.fromarray(smooth_image((40, 48))).save(gray)
    Image.fromarray(smooth_image((32, 36, 3))).save(color)
    return tmp_path, gray, color


@pytest.mark.parametrize("which", ["gray", "color"])
def test_add_noise_then_denoise_improves_psnr(files, which, capsys):
    tmp, gray, color = files
    src = gray if which == "gray" else color
    out = tmp / f"{which}-out.png"
    assert main(["denoise", str(src), "-o", str(out), "--add-noise", "20", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert " s on cpu" in printed and "PSNR" in printed
    clean = np.asarray(Image.open(src))
    noisy = np.asarray(Image.open(tmp / f"{which}-out-noisy.png"))
    result = np.asarray(Image.open(out))
    assert result.shape == clean.shape == noisy.shape
    assert psnr(result, clean) > psnr(noisy, clean) + 3


def test_result_is_the_operator_on_the_file(files):
    tmp, gray, _ = files
    out = tmp / "out.png"
    assert main(["denoise", str(gray), "-o", str(out), "--sigma", "15", "--h", "12",
                 "--patch", "5", "--search", "11", "--method", "nlm"]) == 0
    image = torch.from_numpy(np.asarray(Image.open(gray)).copy())
    expected = nlm_denoise(image, 15.0, h=12.0, patch_size=5, search_size=11).numpy()
    np.testing.assert_array_equal(np.asarray(Image.open(out)), expected)


def test_reference_gives_psnr(files, capsys):
    tmp, gray, _ = files
    assert main(["denoise", str(gray), "-o", str(tmp / "o.png"), "--sigma", "5",
                 "--reference", str(gray)]) == 0
    assert "PSNR: input inf dB" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--sigma", "5", "--patch", "4"], "patch_size"),
        (["--sigma", "-5"], "sigma"),
        ([], "--sigma"),
        (["--sigma", "5", "--reference", "missing.png"], "missing.png"),
        (["--sigma", "5", "--reference", "COLOR"], "--reference"),
        (["--add-noise", "-1"], "--add-noise"),
        (["--sigma", "5", "--self-ensemble"], "--self-ensemble is for --method dncnn"),
        (["--sigma", "5", "--search", "100001"], "search_size must be at most"),
        # options of one method given with another
        (["--sigma", "5", "--method", "bm3d", "--h", "3"], "--h is for --method nlm, got --method bm3d"),
        (["--sigma", "5", "--method", "bm3d", "--h", "0"], "--h is for --method nlm"),
        (["--sigma", "5", "--method", "bm3d", "--patch", "5"], "--patch is for --method nlm"),
        (["--sigma", "5", "--stage", "basic"], "--stage is for --method bm3d, got --method nlm"),
        (["--sigma", "5", "--method", "bm3d", "--self-ensemble"], "--self-ensemble is for --method dncnn"),
        (["--sigma", "5", "--method", "bm3d", "--model", "m.pt"], "--model is for --method dncnn"),
        (["--method", "dncnn", "--model", "m.pt", "--stage", "final"], "--stage is for --method bm3d"),
        (["--method", "dncnn", "--model", "m.pt", "--search", "7"], "--search is for --method nlm or bm3d"),
        # BM3D's own checks
        (["--method", "bm3d"], "--sigma"),
        (["--method", "bm3d", "--sigma", "0"], "sigma"),
        (["--method", "bm3d", "--sigma", "5", "--search", "8"], "search_size"),
    ],
)
def test_bad_arguments_end_in_one_line_and_exit_code_2(files, extra, message, capsys):
    tmp, gray, color = files
    extra = [str(color) if e == "COLOR" else e for e in extra]
    assert main(["denoise", str(gray), "-o", str(tmp / "o.png"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fusegen denoise: error:") and message in err


def test_unreadable_and_unwritable_files(files, capsys):
    tmp, gray, _ = files
    garbage = tmp / "garbage.png"
    garbage.write_text("not an image")
    assert main(["denoise", str(garbage), "-o", str(tmp / "o.png"), "--sigma", "5"]) == 2
    assert main(["denoise", str(tmp / "nope.png"), "-o", str(tmp / "o.png"), "--sigma", "5"]) == 2
    assert main(["denoise", str(gray), "-o", str(tmp / "o.unknown"), "--sigma", "5"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("fusegen denoise: error:") for line in lines)
    assert "Traceback" not in "".join(lines)


def test_unknown_method_or_stage_is_rejected(files):
    tmp, gray, _ = files
    for extra in (["--method", "wiener"], ["--method", "bm3d", "--stage", "both"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["denoise", str(gray), "-o", str(tmp / "o.png"), "--sigma", "5", *extra])
        assert exit_info.value.code == 2


@pytest.mark.parametrize("which", ["gray", "color"])
def test_bm3d_improves_psnr(files, which, capsys):
    tmp, gray, color = files
    src = gray if which == "gray" else color
    out = tmp / f"{which}-bm3d.png"
    assert main(["denoise", str(src), "-o", str(out), "--method", "bm3d", "--add-noise", "20",
                 "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "with bm3d, sigma 20" in printed and "PSNR" in printed
    clean = np.asarray(Image.open(src))
    noisy = np.asarray(Image.open(tmp / f"{which}-bm3d-noisy.png"))
    result = np.asarray(Image.open(out))
    assert result.shape == clean.shape == noisy.shape
    assert psnr(result, clean) > psnr(noisy, clean) + 3


@pytest.mark.parametrize("stage", [None, "basic"])
def test_bm3d_result_is_the_operator_on_the_file(files, stage, capsys):
    tmp, gray, color = files
    for src in (gray, color):
        out = tmp / f"bm3d-{src.stem}.png"
        extra = [] if stage is None else ["--stage", stage]
        assert main(["denoise", str(src), "-o", str(out), "--method", "bm3d", "--sigma", "15",
                     "--search", "11", *extra]) == 0
        image = torch.from_numpy(np.asarray(Image.open(src)).copy())
        image = image if image.dim() == 2 else image.permute(2, 0, 1)
        expected = bm3d_denoise(image, 15.0, search_size=11, **({} if stage is None else {"stage": stage}))
        expected = expected if expected.dim() == 2 else expected.permute(1, 2, 0)
        np.testing.assert_array_equal(np.asarray(Image.open(out)), expected.numpy())
    assert ("basic stage" in capsys.readouterr().out) == (stage == "basic")


def test_bm3d_refuses_an_image_smaller_than_a_block(tmp_path, capsys):
    tiny = tmp_path / "tiny.png"
    Image.fromarray(smooth_image((5, 6))).save(tiny)
    assert main(["denoise", str(tiny), "-o", str(tmp_path / "o.png"), "--method", "bm3d", "--sigma", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "block" in err and not (tmp_path / "o.png").exists()


def test_the_result_never_replaces_what_the_command_reads(files, capsys):
    tmp, gray, color = files
    before = gray.read_bytes()
    assert main(["denoise", str(gray), "-o", str(gray), "--sigma", "5"]) == 2
    assert main(["denoise", str(color), "-o", str(tmp / "x.png"), "--sigma", "5",
                 "--reference", str(tmp / "x.png")]) == 2
    noisy_is_input = tmp / "gray-noisy.png"
    noisy_is_input.write_bytes(before)
    assert main(["denoise", str(noisy_is_input), "-o", str(tmp / "gray.png"), "--add-noise", "5"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all("would overwrite what it reads" in line for line in err)
    assert gray.read_bytes() == before


def test_nothing_is_written_when_a_later_argument_is_bad(files, capsys):
    tmp, gray, color = files
    out = tmp / "out.png"
    assert main(["denoise", str(gray), "-o", str(out), "--add-noise", "10",
                 "--reference", str(color)]) == 2  # the reference's shape is wrong
    assert main(["denoise", str(gray), "-o", str(out), "--add-noise", "10", "--method", "dncnn",
                 "--model", str(tmp / "missing.pt")]) == 2
    assert not list(tmp.glob("out*"))  # no noisy copy, no result
    assert capsys.readouterr().err.count("\n") == 2


@pytest.mark.parametrize("device", ["meta", "cuda:7" if torch.cuda.is_available() else "cuda"])
def test_unusable_devices_are_one_line(files, capsys, device):
    tmp, gray, _ = files
    assert main(["denoise", str(gray), "-o", str(tmp / "o.png"), "--sigma", "5", "--device", device]) == 2
    assert capsys.readouterr().err.startswith("fusegen denoise: error: --device")


def test_a_decompression_bomb_is_refused_in_one_line(files, capsys, monkeypatch):
    tmp, gray, _ = files
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the 40x48 test image counts as a bomb
    assert main(["denoise", str(gray), "-o", str(tmp / "o.png"), "--sigma", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "decompression bomb" in err.lower()
