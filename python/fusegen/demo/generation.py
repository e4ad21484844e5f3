"""The demo's generation steps: a conditional DCGAN on the digits, and how far its samples are
from the real digits (fusegen.metrics)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ..data import digits, save_grid
from ..load import load
from ..metrics import FeatureExtractor, evaluate
from ..train import train
from .sizes import DemoSizes


def _digit_judge():
    """A logistic regression on scikit-learn's real 8x8 digits: does a sample show its label?"""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    real = load_digits()
    return LogisticRegression(max_iter=2000).fit(real.data / 16.0, real.target)


def step_gan(out: Path, device: str, sizes: DemoSizes) -> dict[str, Any]:
    """Train a conditional DCGAN on the digits with the defaults of ``fusegen train gan``; save
    a grid (one row per label); score it."""
    steps = sizes.gan_steps
    summary = train("dcgan", "digits", out / "gan", steps, conditional=True, image_size=sizes.gan_size,
                    width=sizes.gan_width, device=device,
                    val_every=steps // 4, sample_every=steps // 4, checkpoint_every=steps // 2, overwrite=True)
    model = load(out / "gan" / "last.pt", device=device)
    labels = torch.arange(10).repeat_interleave(10)
    images = model.sample(100, labels=labels, generator=torch.Generator().manual_seed(0)).cpu()
    save_grid(images, out / "gan-digits.png", nrow=10)
    small = torch.nn.functional.adaptive_avg_pool2d(images, 8).flatten(1).numpy()
    accuracy = float((_digit_judge().predict(small) == labels.numpy()).mean())
    print(f"conditional DCGAN: {steps} steps in {summary['seconds']:.0f} s, losses "
          f"{summary['final_losses']}; {accuracy:.0%} of 100 samples are read as their label by a "
          f"logistic regression on real digits; grid: {out}/gan-digits.png")
    return {"steps": steps, "seconds": summary["seconds"], "final_losses": summary["final_losses"],
            "pixel_fd": summary["best_metric"], "label_accuracy_logreg": accuracy,
            "checkpoint": summary["checkpoint"], "grid": str(out / "gan-digits.png")}


def step_metrics(out: Path, device: str, sizes: DemoSizes) -> dict[str, Any]:
    """How far the GAN's digits are from the real ones: set metrics in the features of a digit
    classifier trained here, and the per-sample confidence risk (riskiest samples saved)."""
    model = load(out / "gan" / "last.pt", device=device)
    real = digits(image_size=model.config["image_size"])
    start = time.perf_counter()
    extractor = FeatureExtractor.train_classifier(real.images, real.labels, epochs=sizes.metrics_epochs,
                                                   seed=0)
    g = torch.Generator().manual_seed(1)
    fake = torch.cat([model.sample(len(chunk), labels=chunk.to(device), generator=g).cpu()
                      for chunk in real.labels.split(500)])
    scores = evaluate(real.images, fake, extractor, kid_subsets=50, risk=True)
    seconds = time.perf_counter() - start
    riskiest = scores["confidence_risk"].argsort(descending=True)[:16]
    save_grid(fake[riskiest], out / "gan-riskiest.png", nrow=8)
    summary = {k: v for k, v in scores.items() if not isinstance(v, torch.Tensor)}
    summary.update(seconds=seconds, feature_extractor=str(extractor.description),
                   extractor_train_accuracy=extractor.train_accuracy,
                   mean_confidence_risk=float(scores["confidence_risk"].mean()),
                   riskiest=str(out / "gan-riskiest.png"))
    print(f"GAN vs real digits ({summary['n_fake']} vs {summary['n_real']}, features of a classifier "
          f"trained on the digits): Frechet {summary['frechet_distance']:.2f}, KID "
          f"{summary['kid_mean']:.4f} +- {summary['kid_std']:.4f}, precision {summary['precision']:.2f}, "
          f"recall {summary['recall']:.2f}, two-sample test accuracy {summary['c2st_accuracy']:.2f}; "
          f"the 16 samples of highest confidence risk: {out}/gan-riskiest.png ({seconds:.0f} s)")
    return summary
