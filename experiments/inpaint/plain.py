"""A plain network correcting the model's fill: which losses let a correction learned on the
training photographs carry over to the held-out ones.

    python experiments/inpaint/plain.py [--kind mixed|strokes|pixels|boxes] [--distance l2|psnr|relative]
                                        [--reach R] [--clip C] [--activation relu|leaky_relu]
                                        [--steps 1200] [--every 200] [--threads 1] [--seed 0]

Not a fusegen model: six 3x3 convolutions of 32 channels at full resolution (``--layers``,
``--width``) see the fill (``fusegen.models.inpaint.smooth_fill``) and the mask and add a
correction (last layer initialized to zero) at the missing pixels, within ``--reach`` pixels of
a known one (-1: everywhere). It trains as ``fusegen train inpaint`` does (the same patches and
stratified masks, ``fusegen.data.MaskedPatches``; Adam, lr 1e-3, batch 16) on
``fusegen.train.inpainting_loss`` with the given distance against the fill, and prints the mean
PSNR on the classical baselines' test set (``classical.py``) every ``--every`` steps, with the
share of the last hidden layer's units that are active on the batch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical import held_out_images, held_out_masks  # noqa: E402  (needs OpenCV, scikit-image)

from fusegen.data import MASK_KINDS  # noqa: E402
from fusegen.metrics import psnr  # noqa: E402
from fusegen.models.inpaint import near_known, smooth_fill  # noqa: E402
from fusegen.train import inpainting_loss  # noqa: E402
from fusegen.train.recipes import inpainting_data  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", default="mixed")
    parser.add_argument("--distance", default="relative", choices=["l2", "psnr", "relative"])
    parser.add_argument("--reach", type=int, default=2)
    parser.add_argument("--clip", type=float, default=0.01, help="gradient norm clip (0: none)")
    parser.add_argument("--activation", default="leaky_relu", choices=["relu", "leaky_relu"])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data, _ = inpainting_data("photos", 1, 64, args.kind, 0.0, args.seed)
    act = (lambda: nn.ReLU()) if args.activation == "relu" else (lambda: nn.LeakyReLU(0.2))
    layers: list[nn.Module] = [nn.Conv2d(2, args.width, 3, padding=1), act()]
    for _ in range(args.layers - 2):
        layers += [nn.Conv2d(args.width, args.width, 3, padding=1), act()]
    hidden = nn.Sequential(*layers)
    last = nn.Conv2d(args.width, 1, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    optimizer = torch.optim.Adam([*hidden.parameters(), *last.parameters()], 1e-3)

    def predict(clean, missing):
        valid = (~missing).float()
        fill = smooth_fill(clean * valid, valid)
        features = hidden(torch.cat([fill, valid], 1))
        corrected = missing
        if args.reach >= 0:
            corrected = corrected & near_known(valid, args.reach)
        return torch.where(corrected, fill + last(features), fill), fill, features

    test = held_out_images(256).repeat_interleave(16, 0).float()
    test_masks = {kind: held_out_masks(kind, len(test), 256, 0) for kind in MASK_KINDS}

    @torch.no_grad()
    def scores() -> str:
        out = []
        for kind, masks in test_masks.items():
            filled = torch.cat([predict(test[i:i + 16], masks[i:i + 16])[0] for i in range(0, len(test), 16)])
            filled = torch.where(masks, filled.clamp(0, 1), test)
            out.append(f"{kind} {psnr(filled.double(), test.double()).mean().item():.2f}")
        return ", ".join(out)

    print(f"step 0 (the fill alone): {scores()}", flush=True)
    seconds = 0.0  # of training, evaluations left out
    for step in range(1, args.steps + 1):
        began = time.perf_counter()
        clean, missing = data.batch(torch.randint(len(data), (16,)))
        predicted, fill, features = predict(clean, missing)
        loss = inpainting_loss(predicted, clean, missing, distance=args.distance, baseline=fill,
                               hole_weight=1.0, valid_weight=0.0)["loss"]
        optimizer.zero_grad()
        loss.backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_([*hidden.parameters(), *last.parameters()], args.clip)
        optimizer.step()
        seconds += time.perf_counter() - began
        if step % args.every == 0:
            active = (features > 0).float().mean().item()
            print(f"step {step} ({seconds:.0f} s of training, {active:.0%} of the last hidden "
                  f"layer active): {scores()}", flush=True)


if __name__ == "__main__":
    main()
