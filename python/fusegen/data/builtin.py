"""Data sets that ship with scikit-learn and scikit-image: no download needed."""

from __future__ import annotations

import numpy as np
import torch

from .dataset import ImageDataset, resize_square, to_channels


def digits(image_size: int = 32, channels: int = 1) -> ImageDataset:
    """scikit-learn's 1,797 handwritten digits (8x8, 10 classes), upsampled to ``image_size``.

    Needs scikit-learn (``pip install scikit-learn``).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # an optional dependency: say how to get it
        raise OSError("the digits data set needs scikit-learn: pip install scikit-learn") from exc
    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    images = resize_square(images, image_size)
    return ImageDataset(to_channels(images, channels), torch.from_numpy(bunch.target),
                        [str(i) for i in range(10)])


def faces(image_size: int = 32, channels: int = 1) -> ImageDataset:
    """The 100 face images of scikit-image's LFW subset (25x25 grayscale), resized; unlabelled."""
    from skimage.data import lfw_subset

    images = torch.from_numpy(np.asarray(lfw_subset()[:100], dtype=np.float32))[:, None]
    return ImageDataset(to_channels(resize_square(images, image_size), channels))


# Grayscale photographs in skimage.data, for denoising: the first ones train, the last test.
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "page", "text",
          "brick", "grass", "gravel", "camera")


def photo(name: str, channels: int = 1) -> torch.Tensor:
    """One of scikit-image's sample photographs as a (C, H, W) float tensor in [0, 1]."""
    import skimage.data

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; known: {', '.join(PHOTOS)}")
    array = np.asarray(getattr(skimage.data, name)())
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    else:
        array = array.astype(np.float32)
        array = (array - array.min()) / max(float(array.max() - array.min()), 1e-8)
    image = torch.from_numpy(array)
    image = image[None] if image.dim() == 2 else image[..., :3].permute(2, 0, 1)
    return to_channels(image[None], channels)[0].contiguous()
