"""``ImageDataset``: images in memory, with optional class labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class ImageDataset(torch.utils.data.Dataset):
    """Images (N, C, H, W), float32 in [0, 1], and labels (N,) long (zeros when unlabelled).

    Attributes: ``images``, ``labels``, ``num_classes`` (0 when unlabelled), ``class_names``.
    Indexing returns ``(image, label)``; :meth:`batch` gathers many indices at once.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                 class_names: list[str] | None = None) -> None:
        if images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if len(images) == 0:
            raise ValueError("the dataset has no images")
        self.images = images.float().contiguous()
        if labels is None:
            self.labels = torch.zeros(len(images), dtype=torch.long)
            self.class_names: list[str] = []
        else:
            self.labels = torch.as_tensor(labels, dtype=torch.long)
            if self.labels.shape != (len(images),):
                raise ValueError(f"labels must be ({len(images)},), got {tuple(self.labels.shape)}")
            count = int(self.labels.max()) + 1
            self.class_names = list(class_names) if class_names else [str(i) for i in range(count)]
        self.num_classes = len(self.class_names)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], self.labels[index]

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[indices], self.labels[indices]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def subset(self, indices: torch.Tensor) -> ImageDataset:
        sub = ImageDataset(self.images[indices], self.labels[indices] if self.num_classes else None,
                           self.class_names or None)
        sub.class_names, sub.num_classes = self.class_names, self.num_classes
        return sub

    def select_classes(self, classes) -> ImageDataset:
        """The images of some classes only, relabelled ``0 .. len(classes) - 1`` in the order given.

        ``classes``: class names (``"7"``, or a folder's name) or indices, e.g. ``[5, 6, 7, 8, 9]``
        of the digits; ``class_names`` of the result are the selected names, so label ``i`` of a
        model trained on it is ``class_names[i]``.
        """
        if not self.num_classes:
            raise ValueError("this data set has no class labels to select from")
        picked: list[int] = []
        for c in classes:
            text = str(c).strip()
            if text in self.class_names:
                index = self.class_names.index(text)
            elif text.lstrip("-").isdigit() and 0 <= int(text) < self.num_classes:
                index = int(text)
            else:
                raise ValueError(f"unknown class {c!r}; the classes are {', '.join(self.class_names)}")
            if index in picked:
                raise ValueError(f"class {c!r} is selected twice")
            picked.append(index)
        if not picked:
            raise ValueError("select at least one class")
        new_label = torch.full((self.num_classes,), -1, dtype=torch.long)
        new_label[torch.tensor(picked)] = torch.arange(len(picked))
        keep = new_label[self.labels] >= 0
        if not bool(keep.any()):
            raise ValueError(f"no images of the classes {[self.class_names[i] for i in picked]}")
        names = [self.class_names[i] for i in picked]
        return ImageDataset(self.images[keep], new_label[self.labels[keep]], names)


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Center-crop (N, C, H, W) images to squares, then resize them to ``size`` x ``size``."""
    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[..., top:top + side, left:left + side]
    if side == size:
        return images
    mode = "area" if side > size else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(images, size=(size, size), mode=mode, **kwargs).clamp(0, 1)


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grayscale <-> RGB conversion of (N, C, H, W) images (ITU-R 601 luma for RGB -> gray)."""
    c = images.shape[1]
    if c == channels:
        return images
    if channels == 1 and c == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)
        return (images * w).sum(1, keepdim=True)
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    raise ValueError(f"cannot convert {c}-channel images to {channels} channels")
