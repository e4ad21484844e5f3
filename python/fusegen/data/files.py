"""Loaders for a user's own images: a folder of image files, MNIST-format IDX files."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write
from .dataset import ImageDataset, resize_square, to_channels

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # read as one channel
# Pillow modes whose values are not 8-bit: read at their own range, not clipped to 255.
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _unit_range(path, im) -> np.ndarray:
    """A 16-bit, 32-bit integer or float single-channel image as float32 values in [0, 1]."""
    array = np.asarray(im)
    if im.mode == "F":  # float files hold [0, 1] images by convention; anything else is ambiguous
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise OSError(f"{path}: a float image must hold values in [0, 1], got "
                          f"[{float(np.nanmin(array)):.4g}, {float(np.nanmax(array)):.4g}]")
        return array.astype(np.float32)
    if array.size and (array.min() < 0 or array.max() > 65535):  # mode "I": 32-bit integers
        raise OSError(f"{path}: integer pixel values outside 0..65535 (got "
                      f"{int(array.min())}..{int(array.max())}): no known range to scale")
    return array.astype(np.float32) / 65535.0


def read_image(path: str | os.PathLike, channels: int | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One image file as a (C, H, W) tensor: grey files give C = 1, others C = 3 (alpha dropped);
    ``channels`` 1 or 3 converts. Values in [0, 1] for a float ``dtype``, 0..255 for
    ``torch.uint8`` (an 8-bit file's values, unchanged). 16-bit files are scaled by 65,535 (not
    clipped); float files (e.g. TIFF) must hold values in [0, 1].

    Raises ``OSError`` naming the file when it cannot be read as an image.
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None (as the file), got {channels!r}")
    if dtype != torch.uint8 and not dtype.is_floating_point:
        raise ValueError(f"dtype must be a float dtype or torch.uint8, got {dtype}")
    try:
        with Image.open(path) as im:
            if im.mode in WIDE_MODES:  # 16-bit and float files: scaled by their own range
                unit = torch.from_numpy(_unit_range(path, im))[None]
                unit = unit.expand(3, -1, -1).contiguous() if channels == 3 else unit
                return (unit * 255).round().to(torch.uint8) if dtype == torch.uint8 else unit.to(dtype)
            mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if im.mode in GREY_MODES else "RGB")
            array = np.asarray(im.convert(mode), dtype=np.uint8).copy()
    except Image.DecompressionBombError as exc:  # a huge declared size: refuse before decoding
        raise OSError(f"{path}: {exc}") from None
    except (UnidentifiedImageError, ValueError) as exc:
        raise OSError(f"{path}: not a readable image ({exc})") from exc
    image = torch.from_numpy(array)
    image = image[None] if image.dim() == 2 else image.permute(2, 0, 1).contiguous()
    return image if dtype == torch.uint8 else image.to(dtype) / 255.0


def write_image(image: torch.Tensor, path: str | os.PathLike) -> None:
    """Save a (C, H, W) or (H, W) image as an 8-bit file (format from the suffix of ``path``):
    a float tensor with values in [0, 1] (clamped, rounded), or a ``torch.uint8`` tensor as is."""
    from PIL import Image

    if not isinstance(image, torch.Tensor) or image.dim() not in (2, 3):
        raise ValueError(f"image must be a (C, H, W) or (H, W) tensor, got "
                         f"{tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__}")
    x = image.detach().cpu()
    if x.dim() == 3:
        x = x[0] if x.shape[0] == 1 else x.permute(1, 2, 0)
    if x.dtype == torch.uint8:
        array = x.numpy()
    else:
        array = (x.float().clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
    image_format = Image.registered_extensions().get(Path(path).suffix.lower())
    if image_format is None:
        raise ValueError(f"cannot write {path}: unknown image file extension {Path(path).suffix!r}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:  # a crash leaves the old file or the new one, never half
        Image.fromarray(np.ascontiguousarray(array)).save(f, format=image_format)


def image_folder(root: str | os.PathLike, image_size: int = 32, channels: int = 1) -> ImageDataset:
    """Every image under ``root``, center-cropped and resized to ``image_size``.

    Images in sub-folders are labelled by sub-folder name (sorted, as torchvision's
    ``ImageFolder``); images directly in ``root`` make an unlabelled data set.
    """
    root = Path(root)
    if not root.is_dir():
        raise OSError(f"{root}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise OSError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) found")
    classes = sorted({p.parent.relative_to(root).parts[0] for p in files if p.parent != root})
    if classes and any(p.parent == root for p in files):
        raise OSError(f"{root}: mixes images at the top level with class sub-folders")
    images = [resize_square(read_image(p, channels)[None], image_size) for p in files]
    labels = None
    if classes:
        index = {name: i for i, name in enumerate(classes)}
        labels = torch.tensor([index[p.parent.relative_to(root).parts[0]] for p in files])
    return ImageDataset(torch.cat(images), labels, classes or None)


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An array from an IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise OSError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise OSError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    count = int(np.prod(shape)) if shape else 1
    if len(data) - header != count * dtype.itemsize:
        raise OSError(f"{path}: IDX data size does not match its header shape {shape}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def idx_dataset(images_path: str | os.PathLike, labels_path: str | os.PathLike | None = None,
                image_size: int = 32, channels: int = 1) -> ImageDataset:
    """MNIST-format images (N, H, W), with labels (N,) from a second IDX file if given.

    uint8 images are scaled from 0..255, float images must hold values in [0, 1]; other integer
    types have no known range and are refused. Labels must be integers from 0 to 2³¹ - 1.
    """
    array = read_idx(images_path)
    if array.ndim != 3 or 0 in array.shape[1:]:
        raise OSError(f"{images_path}: expected (N, H, W) images with H, W >= 1, got shape {array.shape}")
    if array.dtype == np.uint8:
        images = array.astype(np.float32) / 255.0
    elif array.dtype.kind == "f":
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise OSError(f"{images_path}: float IDX images must hold finite values in [0, 1]")
        images = array.astype(np.float32)
    else:
        raise OSError(f"{images_path}: IDX images of type {array.dtype} have no known value range; "
                      f"store uint8 (0-255) or float (0-1) images")
    images = torch.from_numpy(images)[:, None]
    labels = None
    if labels_path is not None:
        raw = read_idx(labels_path)
        if raw.dtype.kind not in "iu" or (raw.size and (raw.min() < 0 or raw.max() > 2**31 - 1)):
            raise OSError(f"{labels_path}: labels must be integers from 0 to 2^31 - 1")
        labels = torch.from_numpy(raw.astype(np.int64))
        if labels.shape != (len(images),):
            raise OSError(f"{labels_path}: {tuple(labels.shape)} labels for {len(images)} images")
    return ImageDataset(to_channels(resize_square(images, image_size), channels), labels)
