"""Measure ensembles against their members (an evaluation, not a timed test).

    python experiments/ensembles/ensemble_eval.py [--quick] [--out ensemble-output]
        [--only restoration|generators|soup] [--dncnn-steps N] [--gan-steps N] [--vae-steps N]

* restoration: NLM + a small DnCNN at sigma 25 on scikit-image photographs no recipe trains on
  (``TEST_PHOTOS``: camera, coins, moon). The DnCNN trains on seven of the nine training photographs;
  the other two (chelsea, coffee) are the validation set the ensemble weights are learned on.
  Rows: each member, the equal-weight average, the average with least-squares weights and with
  weights from gradient descent on the mean validation PSNR, and (as an upper bound, not a result)
  the weights fitted on the test photographs themselves (a reference).
* generators: a conditional DCGAN and two conditional VAEs (latent 16 and 4), briefly trained on
  the digits, mixed with weights learned by minimising the squared MMD to real features (one half of the
  digits) and scored on the other half: Fréchet distance, KID, precision/recall, density/coverage
  in the features of a small classifier trained on the real digits (``FeatureExtractor``).
  Rows: each member, the uniform mixture, the learned mixture.
* soup: the restoration DnCNN fine-tuned twice (different seeds) from its weights; the soup of the
  two (uniform, and with learned weights) against each fine-tune and their output average.

Writes ``report.json`` into ``--out`` and prints markdown tables. Every number is measured here.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

import fusegen
from fusegen.data import NoisyPairs, digits, extract_patches, photo, write_image
from fusegen.metrics import FeatureExtractor, psnr
from fusegen.models import Ensemble, NLMDenoiser, format_report
from fusegen.ops import weighted_sum
from fusegen.tables import format_table
from fusegen.train import TEST_PHOTOS, TRAIN_PHOTOS, train

SIGMA = 25.0
VAL_PHOTOS = ("chelsea", "coffee")  # held out of the DnCNN's training: the weights' validation set
SIZES = {  # full run / --quick
    "dncnn_steps": (300, 40), "finetune_steps": (40, 10), "gan_steps": (250, 30), "vae_steps": (250, 40),
    "samples": (898, 200), "soup_fit_steps": (20, 5),
}


def size(args, key: str) -> int:
    override = getattr(args, key, None)
    return override if override is not None else SIZES[key][1 if args.quick else 0]


def noisy_copy(image: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return image + torch.randn(image.shape, generator=g) * SIGMA / 255.0


def test_set() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    clean = [photo(name) for name in TEST_PHOTOS]
    return [noisy_copy(c, 1000 + i) for i, c in enumerate(clean)], clean


def validation_pairs(patch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    clean = extract_patches([photo(name) for name in VAL_PHOTOS], patch, stride=patch)
    return noisy_copy(clean, 7), clean


def per_photo(ensemble: Ensemble, noisy, clean, baselines=None) -> list[dict]:
    """report() on each test photo; rows keep each photo's PSNR and the mean."""
    per = [ensemble.report(x[None], y[None], baselines=baselines) for x, y in zip(noisy, clean)]
    rows = []
    for i, row in enumerate(per[0]):
        out = {"name": row["name"], "weights": row["weights"]}
        for name, r in zip(TEST_PHOTOS, per):
            out[name] = r[i]["psnr"]
        out["psnr"] = sum(r[i]["psnr"] for r in per) / len(per)
        out["ssim"] = sum(r[i]["ssim"] for r in per) / len(per)
        rows.append(out)
    return rows


def best_weights(outputs: list[list[torch.Tensor]], clean: list[torch.Tensor], steps: int = 300
                 ) -> torch.Tensor:
    """Weights on the simplex maximising the mean PSNR of images of different sizes (Adam on
    softmax logits, through the fused weighted sum)."""
    logits = torch.zeros(len(outputs), requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.05)
    for _ in range(steps):
        w = torch.softmax(logits, 0)
        loss = -torch.stack([psnr(weighted_sum([o[i] for o in outputs], w), c)
                             for i, c in enumerate(clean)]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.softmax(logits.detach(), 0)


def psnr_table(rows: list[dict]) -> str:
    cells = []
    for r in rows:
        w = r["weights"]
        w = "" if w is None else ("/".join(f"{x:.2f}" for x in w) if isinstance(w, list) else f"{w:.2f}")
        cells.append([r["name"], w, *(f"{r[n]:.2f}" for n in TEST_PHOTOS), f"{r['psnr']:.2f}",
                      f"{r['ssim']:.4f}"])
    header = ["", "weights", *TEST_PHOTOS, "mean PSNR (dB)", "mean SSIM"]
    return format_table(header, cells, markdown=True, right=range(2, len(header)))


# ----------------------------------------------------------------------------- restoration

def train_dncnn(work: Path, steps: int) -> Path:
    folder = work / "dncnn-photos"
    folder.mkdir(parents=True, exist_ok=True)
    for name in TRAIN_PHOTOS:
        if name not in VAL_PHOTOS:
            write_image(photo(name), folder / f"{name}.png")
    train("dncnn", folder, work / "dncnn", steps, depth=5, width=16, batch_size=16, sigma=SIGMA,
          device="cpu", seed=0, val_fraction=0.0, progress=False, overwrite=True)
    return work / "dncnn" / "last.pt"


def evaluate_restoration(args, work: Path) -> tuple[dict, Path]:
    started = time.perf_counter()
    checkpoint = train_dncnn(work, size(args, "dncnn_steps"))
    train_seconds = time.perf_counter() - started
    dncnn, nlm = fusegen.load(checkpoint), NLMDenoiser(SIGMA)
    noisy, clean = test_set()
    val_noisy, val_clean = validation_pairs()
    ens = Ensemble([nlm, dncnn], names=["NLM", "DnCNN"])  # equal weights
    rows = per_photo(ens, noisy, clean)
    rows[-1]["name"] = "average, equal weights"
    fits = {}
    for method in ("lstsq", "psnr"):
        ens.fit_weights(val_noisy, val_clean, method=method, steps=300)
        fits[method] = ens.last_fit
        row = per_photo(ens, noisy, clean)[-1]
        row["name"] = f"average, weights learned ({'least squares' if method == 'lstsq' else 'PSNR descent'})"
        rows.append(row)
    # About the best any convex combination of these two members does on these photographs: weights
    # fitted on the test photographs themselves (a reference, not a result).
    oracle = Ensemble([nlm, dncnn], names=["NLM", "DnCNN"])
    oracle.set_weights(best_weights([[m.denoise(x) for x in noisy] for m in oracle.members], clean))
    row = per_photo(oracle, noisy, clean)[-1]
    row["name"] = "reference: weights fitted on the test photos themselves (not a result)"
    rows.append(row)
    camera = noisy[TEST_PHOTOS.index("camera")]
    seconds = {}
    for name, fn in (("NLM", nlm.denoise), ("DnCNN", dncnn.denoise), ("ensemble", ens.denoise)):
        fn(camera)
        start = time.perf_counter()
        fn(camera)
        seconds[name] = time.perf_counter() - start
    return {"dncnn": {"steps": size(args, "dncnn_steps"), "depth": 5, "width": 16,
                      "train_seconds": train_seconds},
            "sigma": SIGMA, "test_photos": list(TEST_PHOTOS), "validation_photos": list(VAL_PHOTOS),
            "validation_patches": len(val_noisy), "fits": fits, "rows": rows,
            "camera_seconds": seconds}, checkpoint


# ----------------------------------------------------------------------------- soup

def fine_tune(checkpoint: Path, seed: int, steps: int, lr: float = 5e-4):
    """A few Adam steps from ``checkpoint`` on the DnCNN's training photographs, with its own seed."""
    model = fusegen.load(checkpoint).train()
    images = [photo(n) for n in TRAIN_PHOTOS if n not in VAL_PHOTOS]
    pairs = NoisyPairs(extract_patches(images, 40, 20), SIGMA)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr)
    for _ in range(steps):
        noisy, clean = pairs.batch(torch.randint(0, len(pairs), (16,), generator=g), generator=g)
        loss = F.mse_loss(model(noisy), noisy - clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def evaluate_soup(args, checkpoint: Path) -> dict:
    started = time.perf_counter()
    a, b = (fine_tune(checkpoint, seed, size(args, "finetune_steps")) for seed in (1, 2))
    finetune_seconds = time.perf_counter() - started
    noisy, clean = test_set()
    val_noisy, val_clean = validation_pairs()
    soup = Ensemble([a, b], mode="soup", names=["fine-tune A", "fine-tune B"])
    rows = per_photo(soup, noisy, clean)
    rows[-1]["name"] = "soup, equal weights"
    soup_learned = Ensemble([a, b], mode="soup", learnable=True, names=["fine-tune A", "fine-tune B"])
    soup_learned.fit_weights(val_noisy, val_clean, steps=size(args, "soup_fit_steps"), lr=0.2)
    row = per_photo(soup_learned, noisy, clean)[-1]
    row["name"] = "soup, weights learned (PSNR descent)"
    rows.append(row)
    average = per_photo(Ensemble([a, b], names=["A", "B"]), noisy, clean)[-1]
    average["name"] = "output average of A and B (2 forward passes)"
    rows.append(average)
    return {"fine_tune_steps": size(args, "finetune_steps"), "fine_tune_seconds": finetune_seconds,
            "fit": soup_learned.last_fit, "rows": rows}


# ----------------------------------------------------------------------------- generators

# (name, kind, seed, steps key, train() options): conditional models of the digits, 16x16.
MEMBERS = (("DCGAN", "dcgan", 0, "gan_steps", {"width": 32}),
           ("VAE, latent 16", "vae", 0, "vae_steps", {"width": 32, "latent_dim": 16}),
           ("VAE, latent 4", "vae", 1, "vae_steps", {"width": 32, "latent_dim": 4}))


def evaluate_generators(args, work: Path) -> dict:
    real = digits(image_size=16)
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    fit_real, report_real = real.images[order[: len(real) // 2]], real.images[order[len(real) // 2:]]
    started = time.perf_counter()
    extractor = FeatureExtractor.train_classifier(real.images, real.labels, epochs=5, seed=0)
    members, names, seconds = [], [], {}
    for name, kind, seed, steps, options in MEMBERS:
        t0 = time.perf_counter()
        out = work / f"{kind}{seed}"
        train(kind, "digits", out, size(args, steps), conditional=True, image_size=16, device="cpu",
              seed=seed, val_fraction=0.0, progress=False, overwrite=True, **options)
        members.append(fusegen.load(out / "last.pt"))
        names.append(name)
        seconds[name] = time.perf_counter() - t0
    n = size(args, "samples")
    ens = Ensemble(members, mode="mixture", names=names)
    ens.fit_weights(real=fit_real, feature_fn=extractor, n=n, generator=torch.Generator().manual_seed(1))
    rows = ens.report(real=report_real, feature_fn=extractor, n=n, baselines={"uniform": None},
                      generator=torch.Generator().manual_seed(2), kid_subsets=50)
    return {"members": {name: {"kind": kind, "seed": seed, "steps": size(args, steps), **options}
                        for name, kind, seed, steps, options in MEMBERS},
            "train_seconds": seconds, "extractor": extractor.description,
            "extractor_train_accuracy": extractor.train_accuracy, "fit": ens.last_fit,
            "samples_per_row": n, "real_fit": len(fit_real), "real_report": len(report_real),
            "rows": rows, "total_seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny training runs: a smoke test")
    parser.add_argument("--out", default="ensemble-output")
    parser.add_argument("--only", choices=["restoration", "generators", "soup"], action="append")
    for key in ("dncnn_steps", "gan_steps", "vae_steps"):  # longer runs than the ~6-minute default
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=int, metavar="N",
                            help=f"override the {key.split('_')[0]} training steps")
    args = parser.parse_args()
    sections = args.only or ["restoration", "soup", "generators"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    report = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
              "torch": torch.__version__, "fusegen": fusegen.__version__, "date": str(date.today()),
              "quick": args.quick}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "restoration" in sections or "soup" in sections:
            report["restoration"], checkpoint = evaluate_restoration(args, work)
            r = report["restoration"]
            print(f"\n## Restoration: NLM + DnCNN at sigma {SIGMA:g} on unseen photographs "
                  f"(weights learned on {len(VAL_PHOTOS)} held-out photos, {r['validation_patches']} "
                  f"patches)\n")
            print(psnr_table(r["rows"]))
            times = ", ".join(f"{k} {v:.2f}" for k, v in r["camera_seconds"].items())
            print(f"\ncamera 512x512 seconds: {times}")
        if "soup" in sections:
            report["soup"] = evaluate_soup(args, checkpoint)
            steps = report["soup"]["fine_tune_steps"]
            print(f"\n## Soup: two fine-tunes of that DnCNN ({steps} steps each)\n")
            print(psnr_table(report["soup"]["rows"]))
        if "generators" in sections:
            report["generators"] = evaluate_generators(args, work)
            g = report["generators"]
            print(f"\n## Generators: mixture of a DCGAN and two VAEs on digits 16x16 "
                  f"({g['samples_per_row']} samples per row vs {g['real_report']} held-out real digits; "
                  f"{g['extractor']})\n")
            print(format_report(g["rows"], markdown=True))
    report["total_seconds"] = time.perf_counter() - started
    path = out / "report.json"
    if path.exists():  # sections run separately accumulate in one report
        report = {**json.loads(path.read_text()), **report}
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\ntotal {report['total_seconds']:.0f} s; report written to {path}")


if __name__ == "__main__":
    main()
