"""The end-to-end demo behind ``fusegen demo`` / ``make demo``.

Each step is a function that prints what it does and returns a dictionary for the report,
which is written as JSON (``report.json``) and as a short markdown summary (``report.md``) to
the output folder, next to the PNG images the steps make. On data the package reaches offline,
it trains a conditional DCGAN on digits and a small DnCNN, compares DnCNN with NLM, measures the
GAN's distance to the real digits, adapts the DnCNN to a new noise level, combines models in
ensembles and runs an active-learning loop: a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from .atomic import atomic_write
from .info import format_info, info
from .timing import median_seconds
from .ops import nlm_denoise, reference, weighted_sum


def _median_ms(fn: Callable[[], Any], repeats: int = 15) -> float:
    return median_seconds(fn, repeats) * 1e3


def step_info() -> dict[str, Any]:
    facts = info()
    print(format_info(facts))
    return facts


def step_weighted_sum(device: str) -> dict[str, Any]:
    """Blend K generator outputs, per model and per sample, and time it against torch.stack."""
    K, shape = 8, (64, 3, 64, 64)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(shape, generator=g).to(device) for _ in range(K)]
    per_model = torch.softmax(torch.randn(K, generator=g), 0).to(device)
    choice = torch.randint(0, K, (shape[0],), generator=g)
    per_sample = torch.nn.functional.one_hot(choice, K).t().float().to(device)  # a mixture draw

    error = max(
        (weighted_sum(xs, w) - reference.weighted_sum(xs, w)).abs().max().item()
        for w in (per_model, per_sample)
    )
    fused_ms = _median_ms(lambda: weighted_sum(xs, per_model))
    stack_ms = _median_ms(lambda: torch.stack(xs).mul(per_model.view(K, 1, 1, 1, 1)).sum(0))
    print(
        f"weighted_sum of {K} tensors of shape {shape} on {device}: fusegen {fused_ms:.2f} ms, "
        f"torch.stack formulation {stack_ms:.2f} ms ({stack_ms / fused_ms:.1f}x); "
        f"max difference from the reference {error:.2e}"
    )
    return {
        "inputs": K,
        "shape": list(shape),
        "device": device,
        "fusegen_ms": fused_ms,
        "stack_ms": stack_ms,
        "speedup": stack_ms / fused_ms,
        "max_abs_error": error,
    }


def step_nlm(out: Path, device: str) -> dict[str, Any]:
    """Denoise scikit-image's camera photo at sigma = 25 with non-local means, given sigma only."""
    from skimage import data  # the data extra: scikit-image ships the photo, no download

    from .commands.denoise import add_noise, psnr, write_image

    clean = data.camera()
    sigma = 25.0
    noisy = add_noise(clean, sigma, seed=0)
    image = torch.from_numpy(noisy).to(device)
    restored = nlm_denoise(image, sigma)  # warm-up, then timed
    start = time.perf_counter()
    restored = nlm_denoise(image, sigma)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    restored_np = restored.cpu().numpy()
    write_image(out / "nlm-noisy.png", noisy)
    write_image(out / "nlm-denoised.png", restored_np)
    result = {
        "image": "skimage.data.camera (512x512 grey)",
        "sigma": sigma,
        "psnr_noisy_db": psnr(noisy, clean),
        "psnr_denoised_db": psnr(restored_np, clean),
        "seconds": seconds,
    }
    print(
        f"NLM on camera (512x512, sigma {sigma:g}): PSNR {result['psnr_noisy_db']:.2f} dB -> "
        f"{result['psnr_denoised_db']:.2f} dB in {seconds * 1e3:.0f} ms on {device}; "
        f"images in {out}/nlm-*.png"
    )
    return result


# Sizes that keep the whole demo to a few minutes on a 2-core CPU.
GAN_STEPS, GAN_WIDTH, GAN_SIZE, GAN_MODE_SEEKING = 600, 32, 16, 0.1
DNCNN_STEPS, DNCNN_DEPTH, DNCNN_WIDTH, DNCNN_BATCH = 1500, 8, 32, 16
SPEED_SIZE, SPEED_WIDTH, SPEED_BATCH = 32, 64, 64
METRICS_EPOCHS = 8  # of the digit classifier whose features the metrics use
ENSEMBLE_SAMPLES, ENSEMBLE_VAE_STEPS = 400, 100
ACTIVE_ROUNDS, ACTIVE_LEARNER_STEPS = 6, 120
TRANSFER_STEPS = 20


def _digit_judge():
    """A logistic regression on scikit-learn's real 8x8 digits: does a sample show its label?"""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    real = load_digits()
    return LogisticRegression(max_iter=2000).fit(real.data / 16.0, real.target)


def step_gan(out: Path, device: str) -> dict[str, Any]:
    """Train a conditional DCGAN on the digits; save a grid (one row per label); score it."""
    from .data import save_grid
    from .load import load
    from .train import train

    summary = train("gan", "digits", out / "gan", GAN_STEPS, conditional=True, image_size=GAN_SIZE,
                    width=GAN_WIDTH, mode_seeking=GAN_MODE_SEEKING, device=device, val_every=GAN_STEPS // 4,
                    sample_every=GAN_STEPS // 4, checkpoint_every=GAN_STEPS // 2)
    model = load(out / "gan" / "last.pt", device=device)
    labels = torch.arange(10).repeat_interleave(10)
    images = model.sample(100, labels=labels, generator=torch.Generator().manual_seed(0)).cpu()
    save_grid(images, out / "gan-digits.png", nrow=10)
    small = torch.nn.functional.adaptive_avg_pool2d(images, 8).flatten(1).numpy()
    accuracy = float((_digit_judge().predict(small) == labels.numpy()).mean())
    print(f"conditional DCGAN: {GAN_STEPS} steps in {summary['seconds']:.0f} s, losses "
          f"{summary['final_losses']}; {accuracy:.0%} of 100 samples are read as their label by a "
          f"logistic regression on real digits; grid: {out}/gan-digits.png")
    return {"steps": GAN_STEPS, "seconds": summary["seconds"], "final_losses": summary["final_losses"],
            "pixel_fd": summary["best_metric"], "label_accuracy_logreg": accuracy,
            "checkpoint": summary["checkpoint"], "grid": str(out / "gan-digits.png")}


def step_metrics(out: Path, device: str) -> dict[str, Any]:
    """How far the GAN's digits are from the real ones: set metrics in the features of a digit
    classifier trained here, and the per-sample confidence risk (riskiest samples saved)."""
    from .data import digits, save_grid
    from .load import load
    from .metrics import FeatureExtractor, evaluate

    real = digits(image_size=GAN_SIZE)
    start = time.perf_counter()
    extractor = FeatureExtractor.train_classifier(real.images, real.labels, epochs=METRICS_EPOCHS,
                                                   seed=0)
    model = load(out / "gan" / "last.pt", device=device)
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


def step_dncnn(out: Path, device: str) -> dict[str, Any]:
    """Train a small DnCNN at sigma 25 on scikit-image photographs (not the camera)."""
    from .train import train

    summary = train("dncnn", "photos", out / "dncnn", DNCNN_STEPS, depth=DNCNN_DEPTH,
                    width=DNCNN_WIDTH, batch_size=DNCNN_BATCH, sigma=25.0, device=device,
                    val_every=DNCNN_STEPS // 4)
    print(f"DnCNN (depth {DNCNN_DEPTH}, width {DNCNN_WIDTH}): {DNCNN_STEPS} steps in "
          f"{summary['seconds']:.0f} s, best validation PSNR {summary['best_metric']:.2f} dB")
    return {"steps": DNCNN_STEPS, "seconds": summary["seconds"], "best_val_psnr": summary["best_metric"],
            "checkpoint": summary["best_checkpoint"]}


def step_denoise_compare(out: Path, device: str) -> dict[str, Any]:
    """Denoise the noisy camera photo (unseen in training) with NLM and with the DnCNN."""
    from .data import NoisyPairs, photo, save_grid
    from .load import load
    from .models import NLMDenoiser
    from .train.validation import psnr

    clean = photo("camera").to(device)
    noisy = NoisyPairs(clean[None].cpu(), sigma=25.0, seed=0)[0][0].to(device)
    result: dict[str, Any] = {"image": "skimage.data.camera (512x512 grey)", "sigma": 25.0,
                              "psnr_noisy_db": psnr(noisy.clamp(0, 1)[None], clean[None])}
    restored = {}
    models = {"nlm": NLMDenoiser(25.0), "dncnn": load(out / "dncnn" / "best.pt", device)}
    for name, model in models.items():
        model.denoise(noisy[:, :64, :64])  # warm-up
        start = time.perf_counter()
        restored[name] = model.denoise(noisy)
        result[f"{name}_seconds"] = time.perf_counter() - start
        result[f"psnr_{name}_db"] = psnr(restored[name][None], clean[None])
    start = time.perf_counter()
    turned = models["dncnn"].denoise(noisy, self_ensemble=True)  # on the 8 flips/turns, averaged
    result["dncnn_self_ensemble_seconds"] = time.perf_counter() - start
    result["psnr_dncnn_self_ensemble_db"] = psnr(turned[None], clean[None])
    grid = torch.stack([clean, noisy.clamp(0, 1), restored["nlm"], restored["dncnn"]])
    save_grid(grid, out / "denoise-camera.png", nrow=4)
    print(f"camera at sigma 25: noisy {result['psnr_noisy_db']:.2f} dB, NLM {result['psnr_nlm_db']:.2f} dB "
          f"({result['nlm_seconds']:.2f} s), DnCNN {result['psnr_dncnn_db']:.2f} dB "
          f"({result['dncnn_seconds']:.2f} s), DnCNN self-ensemble "
          f"{result['psnr_dncnn_self_ensemble_db']:.2f} dB ({result['dncnn_self_ensemble_seconds']:.2f} s); "
          f"clean | noisy | NLM | DnCNN in {out}/denoise-camera.png")
    return result


def step_transfer(out: Path, device: str) -> dict[str, Any]:
    """The DnCNN trained at sigma 25 fine-tuned to sigma 50, against the same steps from scratch."""
    from .transfer import demo_step

    return demo_step(out / "dncnn" / "best.pt", out, device=device, steps=TRANSFER_STEPS)


def step_ensemble(out: Path, device: str) -> dict[str, Any]:
    """NLM + the DnCNN averaged with learned weights; a mixture of generators with MMD weights."""
    from .models import ensemble_demo

    return ensemble_demo(out, out / "dncnn" / "best.pt",
                         [out / "gan" / "last.pt", out / "gan" / "best.pt"], device=device,
                         samples=ENSEMBLE_SAMPLES, vae_steps=ENSEMBLE_VAE_STEPS)


def step_active(out: Path, device: str) -> dict[str, Any]:
    """Active learning on digits: k-center queries against random ones at equal budgets."""
    from .active import active_learning_demo

    return active_learning_demo(out, device, rounds=ACTIVE_ROUNDS, learner_steps=ACTIVE_LEARNER_STEPS)


def step_fused_vs_eager(device: str) -> dict[str, Any]:
    """Time one DCGAN training step with fused blocks and with the same model in eager PyTorch."""
    from .models import DCGAN, unfuse
    from .train import GANTask
    from .train.distributed import Distributed

    torch.manual_seed(0)
    fused = DCGAN(image_size=SPEED_SIZE, width=SPEED_WIDTH, num_classes=10)
    images = torch.rand(SPEED_BATCH, 1, SPEED_SIZE, SPEED_SIZE, device=device)
    labels = torch.randint(0, 10, (SPEED_BATCH,), device=device)
    times = {}
    for name, model in (("fusegen", fused), ("eager", unfuse(fused))):
        task = GANTask(model)
        task.setup(torch.device(device), Distributed(), amp=False)
        times[name] = _median_ms(lambda: task.step((images, labels)), repeats=5)
    ratio = times["eager"] / times["fusegen"]
    print(f"DCGAN {SPEED_SIZE}px training step (batch {SPEED_BATCH}): fusegen {times['fusegen']:.0f} ms, eager "
          f"{times['eager']:.0f} ms: fusegen is {ratio:.2f}x the speed of eager")
    return {"fusegen_ms": times["fusegen"], "eager_ms": times["eager"], "speedup": ratio}


def markdown_report(report: dict[str, Any]) -> str:
    """A short human summary of the report's model steps."""
    lines = ["# fusegen demo", ""]
    if "gan" in report:
        g = report["gan"]
        lines += [f"- Conditional DCGAN on digits: {g['steps']} steps in {g['seconds']:.0f} s; "
                  f"{g['label_accuracy_logreg']:.0%} of samples read as their label; "
                  f"![samples](gan-digits.png)"]
    if "metrics" in report:
        m = report["metrics"]
        lines += [f"- GAN vs real digits (classifier features): Frechet {m['frechet_distance']:.2f}, "
                  f"KID {m['kid_mean']:.4f}, precision {m['precision']:.2f}, recall {m['recall']:.2f}, "
                  f"two-sample test accuracy {m['c2st_accuracy']:.2f} "
                  f"![highest confidence risk](gan-riskiest.png)"]
    if "dncnn" in report:
        d = report["dncnn"]
        lines += [f"- DnCNN: {d['steps']} steps in {d['seconds']:.0f} s, validation PSNR "
                  f"{d['best_val_psnr']:.2f} dB"]
    if "denoise" in report:
        c = report["denoise"]
        lines += [f"- Camera at sigma 25: noisy {c['psnr_noisy_db']:.2f} dB, NLM {c['psnr_nlm_db']:.2f} dB, "
                  f"DnCNN {c['psnr_dncnn_db']:.2f} dB (self-ensemble {c['psnr_dncnn_self_ensemble_db']:.2f} dB) "
                  f"![clean, noisy, NLM, DnCNN](denoise-camera.png)"]
    if "transfer" in report:
        t = report["transfer"]
        lines += [f"- DnCNN adapted to sigma 50 in {t['steps']} steps: {t['psnr_finetuned_db']:.2f} dB on "
                  f"camera vs {t['psnr_scratch_db']:.2f} dB from scratch, {t['psnr_unchanged_db']:.2f} dB "
                  f"unchanged ![clean, noisy, unchanged, scratch, fine-tuned](transfer-camera.png)"]
    if "ensemble" in report:
        lines += list(report["ensemble"].get("markdown", []))
    if "active" in report:
        a = report["active"]
        lines += [f"- Active learning on digits: {a['strategy']} vs {a['baseline']} at equal budgets, "
                  f"area under the accuracy curve {a['auc'][a['strategy']]:.3f} vs "
                  f"{a['auc'][a['baseline']]:.3f} ![learning curves](active-curve.png)"]
    if "fused_vs_eager" in report:
        f = report["fused_vs_eager"]
        lines += [f"- DCGAN training step: fusegen {f['fusegen_ms']:.0f} ms, eager {f['eager_ms']:.0f} ms "
                  f"({f['speedup']:.2f}x)"]
    return "\n".join(lines) + "\n"


def run(out_dir: str | os.PathLike, device: str = "cpu") -> Path:
    """Run every demo step and write ``report.json`` into ``out_dir``; returns its path."""
    out = Path(out_dir)
    report: dict[str, Any] = {}
    print("== fusegen info")
    report["info"] = step_info()
    print("\n== fused weighted sum (ensembles, model averaging, EMA)")
    report["weighted_sum"] = step_weighted_sum(device)
    print("\n== non-local means denoising")
    out.mkdir(parents=True, exist_ok=True)
    report["nlm"] = step_nlm(out, device)
    print("\n== conditional DCGAN on digits")
    report["gan"] = step_gan(out, device)
    print("\n== distance to real digits (fusegen.metrics)")
    report["metrics"] = step_metrics(out, device)
    print("\n== DnCNN denoiser")
    report["dncnn"] = step_dncnn(out, device)
    print("\n== NLM vs DnCNN on an unseen photo")
    report["denoise"] = step_denoise_compare(out, device)
    print("\n== transfer learning: the DnCNN adapted to sigma 50 (fusegen.transfer)")
    report["transfer"] = step_transfer(out, device)
    print("\n== ensembles (fusegen.models.Ensemble)")
    report["ensemble"] = step_ensemble(out, device)
    print("\n== active learning (fusegen.active)")
    report["active"] = step_active(out, device)
    print("\n== fused blocks vs eager PyTorch")
    report["fused_vs_eager"] = step_fused_vs_eager(device)
    path = out / "report.json"
    with atomic_write(path, "w") as f:  # a crash never leaves half a report
        json.dump(report, f, indent=2, default=str)
    (out / "report.md").write_text(markdown_report(report))
    print(f"\nreport written to {path} and {out / 'report.md'}; images in {out}")
    return path
