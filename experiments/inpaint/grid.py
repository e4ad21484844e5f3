"""A sample grid of the classical baselines' test set: one held-out photograph per mask kind,
filled by OpenCV's Telea, scikit-image's biharmonic inpainting and a fusegen checkpoint.

    python experiments/inpaint/grid.py CKPT [--image 32] [--out experiments/inpaint/results/grid.png]

Columns: strokes, pixels, boxes (the same seeded masks as ``classical.py``, picture ``--image``
of its 48 per kind: 0-15 coins, 16-31 moon, 32-47 camera). Rows: the damaged picture (holes in
white), Telea (radius 5), biharmonic, the checkpoint, the original. Prints each fill's PSNR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cv2  # noqa: E402
from classical import biharmonic, held_out_images, held_out_masks, opencv  # noqa: E402

import fusegen  # noqa: E402
from fusegen.data import MASK_KINDS, save_grid  # noqa: E402
from fusegen.metrics import psnr  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--image", type=int, default=32, help="which of the 48 test pictures (default 32: camera)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "grid.png")
    args = parser.parse_args(argv)
    model = fusegen.load(args.checkpoint)
    clean = held_out_images(256).repeat_interleave(16, 0)[args.image:args.image + 1]
    telea = opencv(cv2.INPAINT_TELEA, 5)
    rows: dict[str, list[torch.Tensor]] = {"damaged": [], "Telea r5": [], "biharmonic": [], "fusegen": [], "original": []}
    for kind in MASK_KINDS:
        missing = held_out_masks(kind, 48, 256, 0)[args.image:args.image + 1]
        image, hole = clean[0, 0].numpy(), missing[0, 0].numpy()
        fills = {"Telea r5": torch.from_numpy(telea(image * ~hole, hole)),
                 "biharmonic": torch.from_numpy(biharmonic(image * ~hole, hole)),
                 "fusegen": model.inpaint(clean.float(), missing)[0, 0].double()}
        rows["damaged"].append(clean[0].masked_fill(missing[0], 1.0))
        for name, filled in fills.items():
            filled = torch.where(missing[0, 0], filled.clamp(0, 1), clean[0, 0])[None]
            rows[name].append(filled)
            print(f"{kind:8s} {name:11s} {psnr(filled[None], clean).item():.2f} dB")
        rows["original"].append(clean[0])
    pictures = torch.stack([p.float() for row in rows.values() for p in row])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_grid(pictures, args.out, nrow=len(MASK_KINDS))
    print(f"{args.out}: rows {', '.join(rows)}; columns {', '.join(MASK_KINDS)}")


if __name__ == "__main__":
    main()
