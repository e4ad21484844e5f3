"""Loaders for a user's files, tested on small files the tests write."""

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from fusegen.data import idx_dataset, image_folder, load_dataset, read_idx, read_image, save_grid


def _png(path, value, size=(20, 12), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = size[::-1] if mode == "L" else (*size[::-1], 3)
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode).save(path)


def test_image_folder_with_class_subfolders(tmp_path):
    _png(tmp_path / "cats" / "a.png", 255)
    _png(tmp_path / "cats" / "b.jpg", 0)
    _png(tmp_path / "dogs" / "c.png", 128, mode="RGB")
    data = image_folder(tmp_path, image_size=16, channels=1)
    assert data.images.shape == (3, 1, 16, 16)
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 1]
    assert data.images[0].min() == 1.0 and data.images[1].max() < 0.05  # values in [0, 1]
    assert load_dataset(tmp_path, 16, 3).images.shape == (3, 3, 16, 16)


def test_flat_image_folder_is_unlabelled(tmp_path):
    _png(tmp_path / "x.png", 10)
    data = image_folder(tmp_path, image_size=16)
    assert data.num_classes == 0 and len(data) == 1


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(OSError, match="no image files"):
        image_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(OSError, match="broken.png"):
        image_folder(tmp_path)
    with pytest.raises(OSError, match="not a folder"):
        image_folder(tmp_path / "missing")


def _write_idx(path, array, code):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def test_idx_images_and_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, 0x08)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, 0x08)
    np.testing.assert_array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), images)
    data = idx_dataset(tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz",
                       image_size=32)
    assert data.images.shape == (5, 1, 32, 32) and data.labels.tolist() == [3, 1, 4, 1, 5]
    found = load_dataset(tmp_path / "train-images-idx3-ubyte.gz", image_size=16)  # finds the labels
    assert found.labels.tolist() == [3, 1, 4, 1, 5]
    floats = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    _write_idx(tmp_path / "f.idx", floats, 0x0D)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), floats)


def test_idx_errors(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(OSError, match="magic"):
        read_idx(tmp_path / "bad.idx")
    _write_idx(tmp_path / "short.idx", np.zeros((2, 3), np.uint8), 0x08)
    data = (tmp_path / "short.idx").read_bytes()[:-1]
    (tmp_path / "short.idx").write_bytes(data)
    with pytest.raises(OSError, match="size"):
        read_idx(tmp_path / "short.idx")
    _write_idx(tmp_path / "labels.idx", np.zeros(3, np.uint8), 0x08)
    with pytest.raises(OSError, match=r"\(N, H, W\)"):
        idx_dataset(tmp_path / "labels.idx")


def test_read_image_and_grid_roundtrip(tmp_path):
    images = torch.linspace(0, 1, 4 * 3 * 8 * 8).reshape(4, 3, 8, 8)
    save_grid(images, tmp_path / "grid.png", nrow=2)
    grid = read_image(tmp_path / "grid.png")
    assert grid.shape == (3, 2 + 2 * 10, 2 + 2 * 10)
    torch.testing.assert_close(grid[:, 2:10, 2:10], images[0], atol=1 / 255, rtol=0)


def test_read_image_uint8_and_write_image_round_trip_exactly(tmp_path):
    from fusegen.data import write_image

    rng = np.random.default_rng(0)
    grey = torch.from_numpy(rng.integers(0, 256, (1, 9, 13), dtype=np.uint8))
    colour = torch.from_numpy(rng.integers(0, 256, (3, 7, 5), dtype=np.uint8))
    for name, image in (("grey.png", grey), ("colour.png", colour)):
        write_image(image, tmp_path / name)
        back = read_image(tmp_path / name, dtype=torch.uint8)
        assert back.dtype == torch.uint8 and torch.equal(back, image)
        as_float = read_image(tmp_path / name)
        assert as_float.dtype == torch.float32 and torch.allclose(as_float * 255, image.float())
    write_image(grey.float() / 255, tmp_path / "float.png")  # floats in [0, 1] round to the same bytes
    assert torch.equal(read_image(tmp_path / "float.png", dtype=torch.uint8), grey)
    assert read_image(tmp_path / "colour.png", channels=1).shape == (1, 7, 5)


def test_read_and_write_image_errors_name_the_argument(tmp_path):
    from fusegen.data import write_image

    _png(tmp_path / "a.png", 3)
    with pytest.raises(ValueError, match="channels must be 1, 3 or None"):
        read_image(tmp_path / "a.png", channels=2)
    with pytest.raises(ValueError, match="dtype must be a float dtype or torch.uint8"):
        read_image(tmp_path / "a.png", dtype=torch.int32)
    with pytest.raises(ValueError, match=r"image must be a \(C, H, W\) or \(H, W\) tensor"):
        write_image(torch.zeros(1, 1, 4, 4), tmp_path / "b.png")


def test_16_bit_and_float_files_are_read_at_their_range(tmp_path):
    sixteen = np.array([[0, 65535], [257 * 100, 30000]], dtype=np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "a16.png")
    as_float = read_image(tmp_path / "a16.png", dtype=torch.float64)
    np.testing.assert_allclose(as_float[0].numpy(), sixteen / 65535.0, rtol=1e-6)
    as_bytes = read_image(tmp_path / "a16.png", dtype=torch.uint8)
    assert as_bytes[0].tolist() == [[0, 255], [100, 117]]  # scaled, not clipped to 255
    assert read_image(tmp_path / "a16.png", channels=3).shape == (3, 2, 2)
    unit = np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32)
    Image.fromarray(unit).save(tmp_path / "f.tiff")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tiff")[0].numpy(), unit)
    Image.fromarray(unit * 200).save(tmp_path / "bright.tiff")
    with pytest.raises(OSError, match=r"float image must hold values in \[0, 1\]"):
        read_image(tmp_path / "bright.tiff")


def test_idx_images_of_unknown_range_empty_width_and_bad_labels_are_refused(tmp_path):
    _write_idx(tmp_path / "i16.idx", np.zeros((2, 4, 4), dtype=np.int16), 0x0B)
    with pytest.raises(OSError, match="no known value range"):
        idx_dataset(tmp_path / "i16.idx")
    _write_idx(tmp_path / "f.idx", np.full((2, 4, 4), 3.0, dtype=np.float32), 0x0D)
    with pytest.raises(OSError, match=r"finite values in \[0, 1\]"):
        idx_dataset(tmp_path / "f.idx")
    _write_idx(tmp_path / "nan.idx", np.full((2, 4, 4), np.nan, dtype=np.float32), 0x0D)
    with pytest.raises(OSError, match=r"finite values in \[0, 1\]"):
        idx_dataset(tmp_path / "nan.idx")
    _write_idx(tmp_path / "w0.idx", np.zeros((2, 4, 0), dtype=np.uint8), 0x08)
    with pytest.raises(OSError, match="H, W >= 1"):
        idx_dataset(tmp_path / "w0.idx")
    _write_idx(tmp_path / "ok.idx", np.zeros((2, 4, 4), dtype=np.uint8), 0x08)
    _write_idx(tmp_path / "neg.idx", np.array([0, -1], dtype=np.int32), 0x0C)
    with pytest.raises(OSError, match="labels must be integers from 0"):
        idx_dataset(tmp_path / "ok.idx", tmp_path / "neg.idx")
    unit = idx_dataset(tmp_path / "ok.idx", image_size=4)
    assert unit.images.shape == (2, 1, 4, 4)
