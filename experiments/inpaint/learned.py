"""A trained inpainting model on the classical baselines' test set, beside their best.

    python experiments/inpaint/learned.py CKPT [--size 256] [--masks 16] [--seed 0]
                                          [--out experiments/inpaint/results] [--name NAME]
                                          [--threads N]

CKPT is a checkpoint of ``fusegen train inpaint`` (its best.pt). The model fills the same
held-out photographs and seeded masks as ``classical.py`` (``held_out_images`` and
``held_out_masks``: same size, masks per photograph and seed give the same pairs); the known
pixels are kept and PSNR (``fusegen.metrics.psnr``) is averaged over the images, over the whole
image and over the missing pixels. With ``results/classical.json`` from the same settings the
table shows the best classical method per kind and the difference. For a model that corrects a
smooth fill (``fill="biharmonic"``, the default) the table also shows that fill alone
(``fusegen.models.inpaint.smooth_fill``, no network): the difference is what training added. Writes
``learned-NAME.json`` (NAME: the checkpoint's folder name by default) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classical import held_out_images, held_out_masks, machine  # noqa: E402  (needs OpenCV, scikit-image)

import fusegen  # noqa: E402
from fusegen.data import MASK_KINDS  # noqa: E402
from fusegen.metrics import psnr  # noqa: E402
from fusegen.models.inpaint import smooth_fill  # noqa: E402


def fill(model, images: torch.Tensor, masks: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """The model's fills of ``images`` (float64) with ``masks``, known pixels kept."""
    out = [model.inpaint(images[i:i + batch].float(), masks[i:i + batch]).double()
           for i in range(0, len(images), batch)]
    return torch.cat(out)


def best_classical(classical: dict | None, kind: str, metric: str) -> tuple[str, float] | None:
    if classical is None:
        return None
    methods = classical["kinds"][kind]["methods"]
    name = max(methods, key=lambda m: methods[m][metric])
    return name, methods[name][metric]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--size", type=int, default=256, help="side of the square test images (default 256)")
    parser.add_argument("--masks", type=int, default=16, help="masks per photograph and kind (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the masks (default 0)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--name", default=None, help="name of the JSON file (default: the checkpoint's folder)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = fusegen.load(args.checkpoint)
    clean = held_out_images(args.size).repeat_interleave(args.masks, 0)
    if model.channels == 3:
        clean = clean.expand(-1, 3, -1, -1)
    classical_path = args.out / "classical.json"
    classical = json.loads(classical_path.read_text()) if classical_path.is_file() else None
    if classical and (classical["size"], classical["masks_per_photo"], classical["seed"]) != (
            args.size, args.masks, args.seed):
        classical = None  # another test set: no comparison
    report = {"command": " ".join(["python", "experiments/inpaint/learned.py", *sys.argv[1:]]),
              "date": date.today().isoformat(), "machine": machine(), "checkpoint": str(args.checkpoint),
              "config": model.config, "versions": {"fusegen": fusegen.__version__, "torch": torch.__version__},
              "size": args.size, "masks_per_photo": args.masks, "seed": args.seed, "kinds": {}}
    with_fill = model.config.get("fill", "none") != "none"
    lines = ["| mask kind | hole fraction | best classical | learned | difference | learned, holes only |"
             + (" fill alone |" if with_fill else ""),
             "|---|---:|---:|---:|---:|---:|" + ("---:|" if with_fill else "")]
    for kind in MASK_KINDS:
        masks = held_out_masks(kind, len(clean), args.size, args.seed)
        began = time.perf_counter()
        with torch.no_grad():
            filled = fill(model, clean, masks)
        seconds = time.perf_counter() - began
        whole, holes = psnr(filled, clean.double()), psnr(filled, clean.double(), region=masks)
        entry = {"hole_fraction": masks.double().mean().item(), "psnr": whole.mean().item(),
                 "psnr_holes": holes.mean().item(), "psnr_per_image": [round(v, 3) for v in whole.tolist()],
                 "seconds_per_image": seconds / len(clean)}
        if with_fill:
            valid = (~masks).to(clean.dtype)
            alone = torch.where(masks, smooth_fill(clean * valid, valid).clamp(0, 1), clean)
            entry["psnr_fill_alone"] = psnr(alone.double(), clean.double()).mean().item()
        best = best_classical(classical, kind, "psnr")
        if best:
            entry["best_classical"] = {"method": best[0], "psnr": best[1]}
        report["kinds"][kind] = entry
        versus = f"{best[1]:.2f} ({best[0]}) | {entry['psnr']:.2f} | {entry['psnr'] - best[1]:+.2f}" if best \
            else f"- | {entry['psnr']:.2f} | -"
        alone = f" {entry['psnr_fill_alone']:.2f} |" if with_fill else ""
        lines.append(f"| {kind} | {entry['hole_fraction']:.1%} | {versus} | {entry['psnr_holes']:.2f} |{alone}")
    report["table"] = "\n".join(lines)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.name or args.checkpoint.resolve().parent.name
    (args.out / f"learned-{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Mean PSNR (dB) over {len(clean)} images per kind, {args.size}x{args.size}, known pixels kept; "
          f"{args.checkpoint}\n")
    print(report["table"])
    print(f"\n{report['machine']}; {report['date']}; {report['wall_seconds']} s")
    return report


if __name__ == "__main__":
    main()
