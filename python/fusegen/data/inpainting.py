"""Images with holes for training and evaluating inpainting models."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .masks import MASK_KINDS, random_masks
from .symmetry import dihedral

# Training masks of strokes and boxes are drawn at this side and enlarged: see MaskedPatches.
DRAW_SIZE = 64


def kind_groups(n: int) -> torch.Tensor:
    """The mask kind (an index into :data:`~fusegen.data.MASK_KINDS`) of each mask of a
    training batch of ``n`` ``"mixed"`` masks: the kinds in equal shares (as equal as ``n``
    allows), in contiguous blocks, so that every kind trains at every step and a loss can weigh
    the kinds alike (:func:`fusegen.train.inpainting_loss`, ``distance="relative"``)."""
    return torch.arange(n) * len(MASK_KINDS) // max(n, 1)


def _check_kind(kind: str) -> str:
    if kind != "mixed" and kind not in MASK_KINDS:
        raise ValueError(f"mask kind must be one of {', '.join(MASK_KINDS)} or mixed, got {kind!r}")
    return kind


class MaskedPatches(torch.utils.data.Dataset):
    """Clean patches and random hole masks, for training an inpainting model.

    Args:
        clean: (N, C, p, p) patches in [0, 1].
        kind: the masks' kind: ``"mixed"`` (each mask strokes, pixels or boxes at random) or one
            of :data:`~fusegen.data.MASK_KINDS`.
        mask_size: the side of the images the model will fill. Stroke widths and box sizes
            scale with a mask's size, so each patch gets a ``p`` x ``p`` window, at a random
            place, of a ``mask_size`` x ``mask_size`` mask: it sees holes of the sizes that
            images of ``mask_size`` pixels get. Patches as large as ``mask_size`` or larger
            get masks of their own size.
        augment: :meth:`batch` also turns each patch by one of the 8 flips and quarter turns of
            the square (needs square patches).
        seed: indexing (``data[i]``) gives the same mask for the same ``seed`` and ``i``, a
            fixed evaluation set; :meth:`batch` draws fresh masks from ``generator`` or from
            torch's global generator (which the trainer seeds and checkpoints).

    Items are ``(clean, missing)``: the patch and a bool mask (1, p, p), True where a pixel is
    missing. The model's input is the patch with those pixels removed.

    How the masks are made (:func:`~fusegen.data.random_masks`' kinds, at its default hole
    fractions): each mask takes a kind (``"mixed"``: a batch holds the three in equal shares,
    in the blocks of :func:`kind_groups`; an indexed item takes one at random). Strokes and
    boxes are drawn at :data:`DRAW_SIZE` pixels and enlarged to ``mask_size`` (bilinear, then
    thresholded at one half): the shapes of masks drawn at ``mask_size``, up to the smoothness
    of their edges, for a small part of the time (strokes drawn at 256 x 256 take about 0.3 s
    each, longer than a training step). Scattered pixels are
    drawn at the patch's size: their statistics do not depend on the size.
    """

    def __init__(self, clean: torch.Tensor, kind: str = "mixed", mask_size: int = 256,
                 augment: bool = False, seed: int = 0) -> None:
        if not isinstance(clean, torch.Tensor) or clean.dim() != 4 or clean.shape[-1] != clean.shape[-2]:
            raise ValueError(f"clean must be square patches (N, C, p, p), got "
                             f"{tuple(clean.shape) if isinstance(clean, torch.Tensor) else type(clean).__name__}")
        if isinstance(mask_size, bool) or not isinstance(mask_size, int) or mask_size < 1:
            raise ValueError(f"mask_size must be an integer >= 1, got {mask_size!r}")
        self.clean, self.kind, self.mask_size = clean.float().contiguous(), _check_kind(kind), mask_size
        self.augment, self.seed = augment, seed

    def __len__(self) -> int:
        return len(self.clean)

    @property
    def channels(self) -> int:
        return self.clean.shape[1]

    def masks(self, n: int, generator: torch.Generator | None = None, stratified: bool = False) -> torch.Tensor:
        """``n`` bool masks (n, 1, p, p), True = missing: windows of ``mask_size`` masks.
        ``"mixed"`` masks take their kinds at random, or with ``stratified`` in the blocks of
        :func:`kind_groups` (what :meth:`batch` draws)."""
        p = self.clean.shape[-1]
        side = max(p, self.mask_size)
        if self.kind == "mixed":
            kinds = kind_groups(n) if stratified else torch.randint(len(MASK_KINDS), (n,), generator=generator)
        else:
            kinds = torch.full((n,), MASK_KINDS.index(self.kind))
        out = torch.zeros(n, 1, p, p, dtype=torch.bool)
        for index, kind in enumerate(MASK_KINDS):
            chosen = (kinds == index).nonzero().flatten()
            if not len(chosen):
                continue
            if kind == "pixels":
                out[chosen] = random_masks(len(chosen), p, p, kind, generator=generator)
                continue
            small = min(side, DRAW_SIZE)
            drawn = random_masks(len(chosen), small, small, kind, generator=generator)
            if small < side:
                drawn = F.interpolate(drawn.float(), size=(side, side), mode="bilinear", align_corners=False) > 0.5
            corners = torch.randint(side - p + 1, (len(chosen), 2), generator=generator)
            out[chosen] = torch.stack([m[:, i:i + p, j:j + p] for m, (i, j) in zip(drawn, corners.tolist())])
        return out

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        return self.clean[index], self.masks(1, g)[0]

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None):
        clean = self.clean[indices]
        if self.augment:
            clean = dihedral(clean, torch.randint(8, (len(clean),), generator=generator))
        return clean, self.masks(len(clean), generator, stratified=True)


class MaskedImages:
    """A fixed evaluation set for inpainting: each image with seeded masks of each kind.

    Args:
        images: (P, C, H, W) in [0, 1].
        kinds: the mask kinds (names of :data:`~fusegen.data.MASK_KINDS`; ``"mixed"`` means all
            three).
        per_image: masks per image and kind.
        seed: the masks of kind ``k`` come from a generator seeded ``seed * 1000 + MASK_KINDS.index(k)``.

    ``clean`` (M, C, H, W) and ``missing`` (M, 1, H, W) hold the pairs, kind after kind and, in
    each kind, ``per_image`` pairs of image 0, then of image 1, ...; ``kinds`` names each pair's
    mask kind.
    """

    def __init__(self, images: torch.Tensor, kinds: str | tuple[str, ...] = "mixed", per_image: int = 4,
                 seed: int = 1) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or not len(images):
            raise ValueError(f"images must be a non-empty (P, C, H, W) tensor, got "
                             f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        kinds = MASK_KINDS if kinds == ("mixed",) else tuple(_check_kind(k) for k in kinds)
        if "mixed" in kinds:
            raise ValueError("kinds must be 'mixed' alone or names of mask kinds")
        h, w = images.shape[-2:]
        clean, missing, names = [], [], []
        for kind in kinds:
            g = torch.Generator().manual_seed(seed * 1000 + MASK_KINDS.index(kind))
            clean.append(images.float().repeat_interleave(per_image, 0))
            missing.append(random_masks(len(images) * per_image, h, w, kind, generator=g))
            names += [kind] * (len(images) * per_image)
        self.clean, self.missing, self.kinds = torch.cat(clean), torch.cat(missing), names

    def __len__(self) -> int:
        return len(self.clean)
