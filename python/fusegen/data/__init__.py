"""Offline data for fusegen's models.

* :func:`digits` -- scikit-learn's handwritten digits, with labels (needs scikit-learn);
* :func:`faces` -- scikit-image's LFW faces;
* :func:`image_folder` -- a folder of images (sub-folders become class labels);
* :func:`idx_dataset` -- MNIST-format IDX files;
* :class:`NoisyPairs` and :func:`extract_patches` -- noisy/clean pairs for denoisers;
* :func:`add_noise` -- Gaussian noise on the 0-255 scale; :func:`read_image` / :func:`write_image`.
* :func:`random_masks` -- hole masks for inpainting (strokes, pixels, boxes); :func:`read_mask` /
  :func:`write_mask`; :class:`MaskedPatches` and :class:`MaskedImages` -- images with holes to
  train and evaluate inpainting models on.
* :func:`load_dataset` -- any of the first four by name or path (what ``fusegen train --data`` takes).

Images are float32 tensors (N, C, H, W) with values in [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path

from .builtin import PHOTOS, digits, faces, photo
from .dataset import ImageDataset, resize_square, to_channels
from .denoising import NoisyPairs, extract_patches
from .grid import make_grid, save_grid
from .files import idx_dataset, image_folder, read_idx, read_image, write_image
from .inpainting import MaskedImages, MaskedPatches, kind_groups
from .masks import MASK_FRACTIONS, MASK_KINDS, random_masks, read_mask, write_mask
from .noise import add_noise

BUILTIN = {"digits": digits, "faces": faces}


def load_dataset(source: str | os.PathLike, image_size: int = 32, channels: int = 1) -> ImageDataset:
    """``"digits"``, ``"faces"``, a folder of images, or an IDX images file (its labels are read
    from a file next to it named with ``labels`` in place of ``images`` -- and ``idx1`` in place
    of ``idx3``, as MNIST's -- when there is one)."""
    if str(source) in BUILTIN:
        return BUILTIN[str(source)](image_size=image_size, channels=channels)
    path = Path(source)
    if path.is_dir():
        return image_folder(path, image_size, channels)
    if path.is_file():
        # MNIST's naming: train-images-idx3-ubyte -> train-labels-idx1-ubyte
        labels = path.with_name(path.name.replace("images-idx3", "labels-idx1").replace("images", "labels"))
        has_labels = labels != path and labels.is_file()
        return idx_dataset(path, labels if has_labels else None, image_size, channels)
    raise OSError(f"{source}: no such data set, folder or IDX file (built in: {', '.join(BUILTIN)})")


__all__ = ["BUILTIN", "ImageDataset", "MASK_FRACTIONS", "MASK_KINDS", "MaskedImages",
           "MaskedPatches", "add_noise", "NoisyPairs", "PHOTOS", "digits",
           "extract_patches", "faces", "idx_dataset", "image_folder", "kind_groups", "load_dataset", "make_grid", "photo",
           "random_masks", "read_idx", "read_image", "read_mask", "resize_square", "save_grid", "to_channels",
           "write_image", "write_mask"]
