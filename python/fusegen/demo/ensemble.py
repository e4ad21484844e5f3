"""The demo's ensemble step, on models the demo has already trained."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..data import add_noise, extract_patches, load_dataset, photo, save_grid
from ..load import load
from ..metrics import FeatureExtractor, evaluate
from ..models import Ensemble, NLMDenoiser, format_report, soup
from ..train import train

SIGMA = 25.0
VALIDATION_PHOTOS = ("coins", "moon")  # unseen by fusegen's DnCNN recipe, and not the camera


def step_ensemble(out_dir: str | os.PathLike, dncnn_checkpoint: str | os.PathLike | None = None,
                  gan_checkpoints: Sequence[str | os.PathLike] = (), device: str = "cpu",
                  samples: int = 400, seed: int = 0, vae_steps: int = 100) -> dict[str, Any]:
    """Ensemble trained models and measure them beside their members, in about 10-30 s on a CPU.

    Args:
        out_dir: where ``ensemble-camera.png`` (clean | noisy | NLM | DnCNN | ensemble) goes.
        dncnn_checkpoint: a DnCNN checkpoint (σ = 25). It is averaged with NLM, with weights learned
            by least squares on noisy patches of the coins and moon photographs; PSNR is measured
            on the camera photograph (seen by neither the weights nor the recipe's DnCNN).
        gan_checkpoints: generator checkpoints trained on the digits, e.g. the demo's
            conditional DCGAN ``last.pt`` and ``best.pt`` (a checkpoint ensemble). When they hold
            fewer than two distinct models (best.pt is often last.pt), a VAE with the same
            conditioning is trained for ``vae_steps`` (about 10 s) as the second member. The
            members are mixed with weights learned by MMD in the features of a small classifier
            trained on the digits, and scored beside each member (Fréchet, KID, precision, recall)
            on ``samples`` samples per row against held-out digits. Members of one architecture
            are also souped (parameter average), as one more row.
        device: torch device. samples: samples per member and per row. seed: noise and samples.
        vae_steps: training steps of the fallback VAE member (0: skip the mixture instead).

    Returns:
        ``{"denoise": {...}, "mixture": {...}, "seconds": ..., "markdown": [lines]}``; a part
        without what it needs holds ``{"skipped": reason}``. Each part has ``rows``
        (:meth:`Ensemble.report` rows) and ``table`` (their text table); it prints what it does.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    if dncnn_checkpoint is None:
        result["denoise"] = {"skipped": "no DnCNN checkpoint given"}
    else:
        result["denoise"] = _denoise_part(out, dncnn_checkpoint, device, seed)
    if not gan_checkpoints:
        result["mixture"] = {"skipped": "no generator checkpoint given"}
    else:
        result["mixture"] = _mixture_part(out, gan_checkpoints, device, samples, seed, vae_steps)
    result["seconds"] = time.perf_counter() - started
    result["markdown"] = _markdown(result)
    return result


def _denoise_part(out: Path, checkpoint, device: str, seed: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    val_clean = extract_patches([photo(n) for n in VALIDATION_PHOTOS], 64, stride=64)
    val_clean = val_clean[torch.randperm(len(val_clean), generator=g)[:48]]
    val_noisy = add_noise(val_clean, SIGMA, g)
    clean = photo("camera")
    noisy = add_noise(clean, SIGMA, g)
    ens = Ensemble([NLMDenoiser(SIGMA), load(checkpoint, device)], names=["NLM", "DnCNN"]).to(device)
    ens.fit_weights(val_noisy.to(device), val_clean.to(device))
    rows = ens.report(noisy[None].to(device), clean[None].to(device), baselines={"equal weights": None})
    start = time.perf_counter()
    restored = ens.denoise(noisy.to(device)).cpu()
    seconds = time.perf_counter() - start
    nlm, dncnn = (m.denoise(noisy.to(device)).cpu() for m in ens.members)
    save_grid(torch.stack([clean, noisy.clamp(0, 1), nlm, dncnn, restored]), out / "ensemble-camera.png",
              nrow=5)
    table = format_report(rows)
    weights = ens.weights.tolist()
    print(f"NLM + DnCNN average, weights learned by least squares on {len(val_noisy)} patches of "
          f"{' and '.join(VALIDATION_PHOTOS)}: NLM {weights[0]:.2f}, DnCNN {weights[1]:.2f}; camera at "
          f"sigma {SIGMA:g}:\n{table}\nclean | noisy | NLM | DnCNN | ensemble in {out}/ensemble-camera.png")
    by = {r["name"]: r["psnr"] for r in rows}
    return {"image": "camera", "sigma": SIGMA, "validation": list(VALIDATION_PHOTOS), "weights": weights,
            "rows": rows, "table": table, "ensemble_seconds": seconds,
            "gain_over_best_member_db": by["ensemble"] - max(by["NLM"], by["DnCNN"]),
            "grid": str(out / "ensemble-camera.png")}


def _mixture_part(out: Path, checkpoints, device: str, samples: int, seed: int, vae_steps: int
                  ) -> dict[str, Any]:
    members, names = [], []
    for path in checkpoints:
        model = load(path, device)
        if not any(_same_weights(model, m) for m in members):  # best.pt is often last.pt
            members.append(model)
            names.append(_short(path))
    if len(set(names)) < len(names):
        names = [f"{n}#{k}" for k, n in enumerate(names)]
    if len(members) < 2:
        if vae_steps <= 0:
            return {"skipped": "the generator checkpoints hold one distinct model: nothing to mix"}
        config = members[0].config
        print(f"the generator checkpoints hold one distinct model; training a VAE ({vae_steps} steps) "
              f"as a second member")
        train("vae", "digits", out / "ensemble-vae", vae_steps, conditional=bool(config.get("num_classes")),
              image_size=config["image_size"], channels=config["channels"], width=16, batch_size=32,
              device=device, seed=seed, val_fraction=0.0, progress=False, overwrite=True)
        members.append(load(out / "ensemble-vae" / "last.pt", device))
        names.append(f"VAE, {vae_steps} steps")
    return _mixture(members, names, device, samples, seed)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return type(a) is type(b) and list(sa) == list(sb) and all(
        sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in sa)


def _mixture(members, names, device: str, samples: int, seed: int) -> dict[str, Any]:
    config = members[0].config
    real = load_dataset("digits", image_size=config["image_size"], channels=config["channels"])
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))
    half = len(real) // 2
    fit_real, report_real = real.images[order[:half]], real.images[order[half:]]
    extractor = FeatureExtractor.train_classifier(real.images[order[:half]], real.labels[order[:half]],
                                                  width=16, epochs=3, seed=seed, device=device)
    ens = Ensemble(members, mode="mixture", names=names)
    conditional = bool(ens.num_classes)  # then weights and rows are judged class by class
    ens.fit_weights(real=fit_real.to(device), feature_fn=extractor, n=samples,
                    generator=torch.Generator().manual_seed(seed + 1),
                    real_labels=real.labels[order[:half]] if conditional else None)
    rows = ens.report(real=report_real.to(device), feature_fn=extractor, n=samples,
                      generator=torch.Generator().manual_seed(seed + 2), baselines={"uniform": None},
                      kid_subsets=10, real_labels=real.labels[order[half:]] if conditional else None)
    try:  # the same members souped: one model, one forward pass per sample
        souped = soup(members)
        images = souped.sample(samples, generator=torch.Generator().manual_seed(seed + 2))
        r = evaluate(extractor.extract(report_real.to(device)), extractor.extract(images),
                     kid_subsets=10, kid_subset_size=min(samples, len(report_real)))
        rows.append({"name": "soup (uniform)", "weights": [1 / len(members)] * len(members),
                     **{k: float(r[k]) for k in ("frechet_distance", "kid_mean", "kid_std", "precision",
                                                 "recall", "density", "coverage")}})
    except ValueError as exc:  # different architectures: no soup row
        print(f"(no soup: {exc})")
    table = format_report(rows)
    print(f"mixture of {', '.join(names)} (weights learned by MMD: "
          f"{', '.join(f'{w:.2f}' for w in ens.weights.tolist())}) against {len(report_real)} held-out "
          f"digits, {samples} samples per row, {extractor.description}:\n{table}")
    return {"members": names, "weights": ens.weights.tolist(), "fit": ens.last_fit,
            "extractor": extractor.description, "samples": samples, "rows": rows, "table": table}


def _short(path) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def _markdown(result: dict[str, Any]) -> list[str]:
    lines = []
    d = result.get("denoise", {})
    if "rows" in d:
        by = {r["name"]: r["psnr"] for r in d["rows"]}
        lines.append(f"- NLM + DnCNN average (weights {d['weights'][0]:.2f}/{d['weights'][1]:.2f}, least "
                     f"squares on coins and moon): camera PSNR {by['ensemble']:.2f} dB vs NLM "
                     f"{by['NLM']:.2f}, "
                     f"DnCNN {by['DnCNN']:.2f}, equal weights {by['ensemble (equal weights)']:.2f} "
                     f"![clean, noisy, NLM, DnCNN, ensemble](ensemble-camera.png)")
    m = result.get("mixture", {})
    if "rows" in m:
        parts = [f"{r['name']} KID {r['kid_mean']:.3g}, recall {r['recall']:.2f}" for r in m["rows"]]
        lines.append("- Mixture of generator checkpoints (MMD weights "
                     + "/".join(f"{w:.2f}" for w in m["weights"]) + "): " + "; ".join(parts))
    for part in ("denoise", "mixture"):
        if "skipped" in result.get(part, {}):
            lines.append(f"- Ensemble {part}: skipped ({result[part]['skipped']})")
    return lines
