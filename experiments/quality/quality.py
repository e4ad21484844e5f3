"""Measure the quality figures of fusegen's models (an evaluation, not a timed test).

    python experiments/quality/quality.py [--only gan|dncnn] [--out quality-output] [--gan-steps N]

* gan: trains a conditional DCGAN on scikit-learn's digits with ``fusegen.train.train`` and
  reports (1) the share of generated digits that a CNN classifier trained on real digits
  recognises as their conditioning label, (2) precision and recall of Kynkaeaenniemi et al. (2019)
  (k = 3 nearest neighbours, in the classifier's penultimate features), and the training time.
* dncnn: trains a DnCNN at sigma 25 on scikit-image photographs and compares its PSNR with NLM
  (``fusegen.ops.nlm_denoise`` when it exists, else scikit-image's ``denoise_nl_means``) on
  photographs it was not trained on; DnCNN alone and with the 8-fold geometric self-ensemble.
(The speed of a whole DCGAN training step is ``fusegen bench gan-step ema``.)
Writes ``report.json`` (and the sample grids) into ``--out`` and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import fusegen
from fusegen.data import NoisyPairs, digits, photo, save_grid
from fusegen.metrics import psnr
from fusegen.train import TEST_PHOTOS, train


# --- a judge for generated digits: a small CNN in plain PyTorch, trained on real digits ------

class DigitClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(64 * 16, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        return self.head(self.features(x))


def train_classifier(images, labels, epochs: int = 15, seed: int = 0):
    """A CNN trained on 80% of the real digits; returns it and its accuracy on the other 20%."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=g)
    n_test = len(images) // 5
    test, fit = order[:n_test], order[n_test:]
    torch.manual_seed(seed)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(epochs):
        for batch in fit[torch.randperm(len(fit), generator=g)].split(64):
            opt.zero_grad()
            F.cross_entropy(model(images[batch]), labels[batch]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(images[test]).argmax(1) == labels[test]).float().mean().item()
    return model, accuracy


def manifold_fraction(reference: torch.Tensor, queries: torch.Tensor, k: int = 3) -> float:
    """Share of ``queries`` inside the k-NN manifold of ``reference`` (Kynkaeaenniemi et al.):
    within the distance from some reference point to its k-th nearest reference neighbour."""
    radii = torch.cdist(reference, reference).kthvalue(k + 1, dim=1).values  # +1: itself
    distances = torch.cdist(queries, reference)
    return (distances <= radii[None, :]).any(dim=1).double().mean().item()


def evaluate_gan(out: Path, steps: int, image_size: int, width: int, batch_size: int,
                 spectral_norm: bool, mode_seeking: float = 0.0) -> dict:
    real = digits(image_size=image_size)
    classifier, judge_accuracy = train_classifier(real.images, real.labels)
    started = time.perf_counter()
    summary = train("dcgan", "digits", out / "gan", steps, conditional=True, image_size=image_size,
                    width=width, batch_size=batch_size, spectral_norm=spectral_norm,
                    mode_seeking=mode_seeking, device="cpu",
                    seed=0, sample_every=steps // 4,
                    checkpoint_every=steps // 4, progress=True, overwrite=True)
    train_seconds = time.perf_counter() - started
    model = fusegen.load(out / "gan" / "last.pt")
    g = torch.Generator().manual_seed(123)
    per_class = torch.arange(10).repeat_interleave(100)
    fakes = torch.cat([model.sample(100, labels=per_class[i:i + 100], generator=g)
                       for i in range(0, 1000, 100)])
    save_grid(model.sample(100, labels=torch.arange(10).repeat_interleave(10), generator=g),
              out / "gan_samples.png", nrow=10)
    with torch.no_grad():
        predicted = classifier(fakes).argmax(1)
        label_accuracy = (predicted == per_class).float().mean().item()
        # Precision/recall against all real digits, with as many fakes drawn with the real labels.
        matched = torch.cat([model.sample(len(chunk), labels=chunk, generator=g)
                             for chunk in real.labels.split(200)])
        real_features = classifier.features(real.images)
        fake_features = classifier.features(matched)
    return {
        "steps": steps, "image_size": image_size, "width": width, "batch_size": batch_size,
        "spectral_norm": spectral_norm, "mode_seeking": mode_seeking,
        "train_seconds": train_seconds, "judge_accuracy_on_real_test_digits": judge_accuracy,
        "label_accuracy": label_accuracy,
        "per_class_accuracy": [(predicted[per_class == c] == c).float().mean().item() for c in range(10)],
        "precision": manifold_fraction(real_features, fake_features),
        "recall": manifold_fraction(fake_features, real_features),
        "final_losses": summary["final_losses"],
    }


def nlm(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """NLM with 7x7 patches and a 21x21 search window (sigma in 0..1 units)."""
    ops = fusegen.ops
    if hasattr(ops, "nlm_denoise"):
        return ops.nlm_denoise(image[None], sigma)[0].clamp(0, 1)
    from skimage.restoration import denoise_nl_means

    array = denoise_nl_means(image[0].numpy(), h=0.8 * sigma, sigma=sigma, patch_size=7,
                             patch_distance=10, fast_mode=True)
    return torch.from_numpy(array).float()[None].clamp(0, 1)


def evaluate_dncnn(out: Path, steps: int, depth: int, width: int, batch_size: int,
                   lr_schedule: str = "constant") -> dict:
    started = time.perf_counter()
    summary = train("dncnn", "photos", out / "dncnn", steps, depth=depth, width=width, batch_size=batch_size,
                    sigma=25.0, device="cpu", seed=0, val_every=max(1, steps // 5), progress=True,
                    lr_schedule=lr_schedule, overwrite=True)
    train_seconds = time.perf_counter() - started
    model = fusegen.load(out / "dncnn" / "best.pt")
    rows = {}
    for name in TEST_PHOTOS:
        clean = photo(name)
        noisy, _ = NoisyPairs(clean[None], sigma=25.0, seed=7)[0]
        t0 = time.perf_counter()
        by_nlm = nlm(noisy, 25 / 255)
        t1 = time.perf_counter()
        by_dncnn = model.denoise(noisy)
        t2 = time.perf_counter()
        by_dncnn_x8 = model.denoise(noisy, self_ensemble=True)
        rows[name] = {"noisy": psnr(noisy.clamp(0, 1), clean).item(),
                      "nlm": psnr(by_nlm, clean).item(), "dncnn": psnr(by_dncnn, clean).item(),
                      "dncnn_self_ensemble": psnr(by_dncnn_x8, clean).item(),
                      "nlm_seconds": t1 - t0, "dncnn_seconds": t2 - t1}
        save_grid(torch.stack([clean, noisy.clamp(0, 1), by_nlm, by_dncnn]), out / f"denoise_{name}.png", 4)
    mean = {k: sum(r[k] for r in rows.values()) / len(rows)
            for k in ("noisy", "nlm", "dncnn", "dncnn_self_ensemble")}
    return {"steps": steps, "depth": depth, "width": width, "batch_size": batch_size,
            "lr_schedule": lr_schedule, "train_seconds": train_seconds,
            "nlm": "fusegen.ops.nlm_denoise" if hasattr(fusegen.ops, "nlm_denoise") else "skimage",
            "test_photos": rows, "mean_psnr": mean, "dncnn_minus_nlm_db": mean["dncnn"] - mean["nlm"],
            "dncnn_self_ensemble_minus_nlm_db": mean["dncnn_self_ensemble"] - mean["nlm"],
            "best_val_psnr": summary["best_metric"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["gan", "dncnn"], action="append")
    parser.add_argument("--out", default="quality-output")
    parser.add_argument("--gan-steps", type=int, default=6000)
    parser.add_argument("--gan-image-size", type=int, default=16, choices=[16, 32, 64])
    parser.add_argument("--gan-width", type=int, default=32)
    parser.add_argument("--gan-batch", type=int, default=64)
    parser.add_argument("--gan-spectral-norm", action="store_true")
    parser.add_argument("--gan-mode-seeking", type=float, default=0.3,
                        help="weight of the mode-seeking term (0: the plain DCGAN loss)")
    parser.add_argument("--dncnn-steps", type=int, default=30000)
    parser.add_argument("--dncnn-depth", type=int, default=10)
    parser.add_argument("--dncnn-width", type=int, default=32)
    parser.add_argument("--dncnn-batch", type=int, default=16)
    parser.add_argument("--dncnn-lr-schedule", default="step", choices=["constant", "cosine", "step"],
                        help="step (default): lr/10 for the last quarter of the steps")
    args = parser.parse_args()
    sections = args.only or ["gan", "dncnn"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
              "torch": torch.__version__, "fusegen": fusegen.__version__, "date": str(date.today())}
    path = out / "report.json"
    if path.exists():  # sections run separately accumulate in one report
        report = {**json.loads(path.read_text()), **report}
    if "gan" in sections:
        report["gan"] = evaluate_gan(out, args.gan_steps, args.gan_image_size, args.gan_width,
                                   args.gan_batch, args.gan_spectral_norm,
                                   args.gan_mode_seeking)
        print(json.dumps(report["gan"], indent=2))
    if "dncnn" in sections:
        report["dncnn"] = evaluate_dncnn(out, args.dncnn_steps, args.dncnn_depth, args.dncnn_width,
                                         args.dncnn_batch, args.dncnn_lr_schedule)
        print(json.dumps(report["dncnn"], indent=2))
    path.write_text(json.dumps(report, indent=2))
    print(f"report written to {path}")


if __name__ == "__main__":
    main()
