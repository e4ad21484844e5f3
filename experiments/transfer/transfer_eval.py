"""Transfer learning measured: fine-tuning a pre-trained model vs training from scratch, same budget.

    python experiments/transfer/transfer_eval.py [--quick] [--only dncnn|gan] [--out transfer-output]

* dncnn: a DnCNN pre-trained at sigma 25 on scikit-image's training photographs is adapted to
  sigma 50 (``train(..., init=..., sigma=50)``), with all layers trained and with its first
  layers frozen, against the same DnCNN trained from scratch at sigma 50 with the same steps,
  batch size, seed and data order. PSNR at sigma 50 on the photographs none of them trained on
  (``TEST_PHOTOS``), after each budget; references: the noisy input, the sigma-25 model applied
  unchanged, and non-local means told sigma = 50.
* gan: a conditional DCGAN pre-trained on digits 0-4 is adapted to digits 5-9 (``classes=``),
  fully and with FreezeD (its discriminator's first block frozen), against a conditional DCGAN
  trained on 5-9 from scratch with the same budget. Scores: label accuracy (the share of samples
  that a CNN trained on real digits reads as the digit asked for) and KID against the real
  digits 5-9 in that CNN's features, standardized (``fusegen.metrics.kid``).

Every run is deterministic (seeded); a budget B2 > B1 continues the B1 run with ``resume`` (an
exact continuation, so the B2 figure is what a B2-step run gives). The pre-training cost is
reported on its own: it is paid once, before and apart from the budgets compared; the scratch
arm is also trained for pre-training + B2 steps, the total that the fine-tuned arms cost.
Prints markdown tables and writes ``transfer_eval.json`` into ``--out``; ``--print-report JSON``
prints the tables of an earlier report again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import torch

import fusegen
from fusegen.data import NoisyPairs, digits, photo, save_grid
from fusegen.metrics import FeatureExtractor, kid, precision_recall, psnr
from fusegen.models import NLMDenoiser
from fusegen.train import TEST_PHOTOS, train

# Sizes: (pre-training steps, budgets) for the full and --quick runs.
DNCNN = dict(depth=6, width=16, batch_size=16)
DNCNN_STEPS = {"full": (500, (100, 300)), "quick": (60, (20, 40))}
DNCNN_FREEZE = 2
GAN = dict(image_size=16, width=32, latent_dim=64, batch_size=64)
GAN_STEPS = {"full": (300, (100, 200)), "quick": (30, (10, 20))}
GAN_FREEZE = 1
SIGMA_FROM, SIGMA_TO = 25.0, 50.0


def _run(arms: dict, budgets, make_run, evaluate, total: int) -> dict:
    """Each arm trained to each budget in turn (a longer budget resumes the shorter run); the
    scratch arm also to ``total`` = pre-training steps + the largest budget, the same number of
    steps as pre-training followed by fine-tuning."""
    results = {}
    for arm, kwargs in arms.items():
        results[arm] = {}
        arm_budgets = [*budgets, total] if arm == "scratch" else budgets
        for i, steps in enumerate(arm_budgets):
            summary = make_run(arm, steps, kwargs, resume=i > 0)
            scores = evaluate(arm, steps)
            scores["train_seconds"] = summary["seconds"] + (
                results[arm][arm_budgets[i - 1]]["train_seconds"] if i else 0.0)
            results[arm][steps] = scores
            print(f"  {arm:<24} {steps:>4} steps: " + ", ".join(
                f"{k} {v:.4g}" for k, v in scores.items() if isinstance(v, float)), flush=True)
    return results


# --- DnCNN: sigma 25 -> 50 ----------------------------------------------------------------------

def _test_pairs(sigma: float):
    pairs = {}
    for name in TEST_PHOTOS:
        clean = photo(name)
        pairs[name] = (NoisyPairs(clean[None], sigma=sigma, seed=7)[0][0], clean)
    return pairs


def _mean_psnr(denoise, pairs) -> tuple[float, dict]:
    per = {name: psnr(denoise(noisy), clean).item() for name, (noisy, clean) in pairs.items()}
    return sum(per.values()) / len(per), per


def evaluate_dncnn(out: Path, size: str) -> dict:
    pre_steps, budgets = DNCNN_STEPS[size]
    common = dict(device="cpu", seed=0, progress=False, overwrite=True, **DNCNN)
    started = time.perf_counter()
    pre = train("dncnn", "photos", out / "dncnn-pre25", pre_steps, sigma=SIGMA_FROM, **common)
    pre_seconds = time.perf_counter() - started
    init = out / "dncnn-pre25" / "last.pt"
    pairs = _test_pairs(SIGMA_TO)

    references = {}
    references["noisy"] = _mean_psnr(lambda x: x.clamp(0, 1), pairs)[0]
    references["sigma25_model_unchanged"] = _mean_psnr(fusegen.load(init).denoise, pairs)[0]
    references["nlm"] = _mean_psnr(NLMDenoiser(SIGMA_TO).denoise, pairs)[0]
    references["sigma25_model_at_sigma25"] = _mean_psnr(fusegen.load(init).denoise, _test_pairs(SIGMA_FROM))[0]
    print("  references: " + ", ".join(f"{k} {v:.2f} dB" for k, v in references.items()), flush=True)

    arms = {"scratch": {},
            "fine-tuned": {"init": init},
            f"fine-tuned, {DNCNN_FREEZE} frozen": {"init": init, "freeze": DNCNN_FREEZE}}

    def make_run(arm, steps, kwargs, resume):
        folder = out / f"dncnn-{arm.replace(', ', '-').replace(' ', '-')}"
        extra = {"resume": folder / "last.pt"} if resume else kwargs  # a resume keeps init/freeze
        return train("dncnn", "photos", folder, steps, sigma=SIGMA_TO, **common, **extra)

    def evaluate(arm, steps):
        folder = out / f"dncnn-{arm.replace(', ', '-').replace(' ', '-')}"
        mean, per = _mean_psnr(fusegen.load(folder / "last.pt").denoise, pairs)
        return {"psnr_db": mean, "per_photo": per}

    results = _run(arms, budgets, make_run, evaluate, pre_steps + budgets[-1])
    noisy, clean = pairs["camera"]
    row = [clean, noisy.clamp(0, 1), fusegen.load(init).denoise(noisy)]
    row += [fusegen.load(out / f"dncnn-{a.replace(', ', '-').replace(' ', '-')}" / "last.pt").denoise(noisy)
            for a in arms]
    save_grid(torch.stack(row), out / "dncnn-camera-sigma50.png", nrow=len(row))
    return {"model": DNCNN, "pretrain": {"steps": pre_steps, "sigma": SIGMA_FROM, "seconds": pre_seconds,
                                         "train_seconds": pre["seconds"]},
            "sigma": SIGMA_TO, "test_photos": list(TEST_PHOTOS), "budgets": list(budgets),
            "references_psnr_db": references, "arms": results,
            "grid": "dncnn-camera-sigma50.png: clean | noisy | sigma-25 model | " + " | ".join(arms)}


# --- DCGAN: digits 0-4 -> 5-9 -------------------------------------------------------------------

def _judge(image_size: int):
    """A CNN classifier of real digits (80% to train, 20% to report its own accuracy)."""
    real = digits(image_size=image_size)
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    test, fit = order[:len(real) // 5], order[len(real) // 5:]
    judge = FeatureExtractor.train_classifier(real.images[fit], real.labels[fit], epochs=10, seed=0)
    with torch.no_grad():
        accuracy = (judge.net(real.images[test]).argmax(1) == real.labels[test]).float().mean().item()
    return judge, accuracy, real


def _standardizer(real_feats: torch.Tensor):
    """Features scaled by the real digits' per-feature mean and spread: KID's cubic kernel is
    scale-sensitive, and the judge's raw features are large (KID would read in the 1e5s)."""
    mean, std = real_feats.mean(0), real_feats.std(0).clamp_min(1e-6)
    return lambda f: (f - mean) / std


def _gan_scores(checkpoint: Path, judge, real_feats, first_digit: int, per_class: int = 100) -> dict:
    model = fusegen.load(checkpoint)
    k = model.num_classes
    labels = torch.arange(k).repeat_interleave(per_class)
    images = model.sample(len(labels), labels=labels, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        predicted = judge.net(images).argmax(1)
    scale = _standardizer(real_feats)
    real_feats, fake_feats = scale(real_feats), scale(judge.extract(images))
    result = kid(real_feats, fake_feats, subsets=50, subset_size=min(len(real_feats), len(fake_feats)),
                 generator=torch.Generator().manual_seed(0))
    pr = precision_recall(real_feats, fake_feats, k=3)
    return {"label_accuracy": (predicted == labels + first_digit).float().mean().item(),
            "kid": result.mean, "kid_std": result.std, "precision": pr.precision, "recall": pr.recall}


def evaluate_gan(out: Path, size: str) -> dict:
    pre_steps, budgets = GAN_STEPS[size]
    judge, judge_accuracy, real = _judge(GAN["image_size"])
    feats = {c: judge.extract(real.images[(real.labels >= c) & (real.labels < c + 5)]) for c in (0, 5)}
    common = dict(device="cpu", seed=0, progress=False, overwrite=True, conditional=True, **GAN)
    started = time.perf_counter()
    pre = train("dcgan", "digits", out / "gan-pre0-4", pre_steps, classes=[0, 1, 2, 3, 4], **common)
    pre_seconds = time.perf_counter() - started
    init = out / "gan-pre0-4" / "last.pt"
    pre_scores = _gan_scores(init, judge, feats[0], 0)
    print(f"  pre-trained on 0-4 ({pre_steps} steps, {pre_seconds:.0f} s), on its own classes: "
          + ", ".join(f"{k} {v:.4g}" for k, v in pre_scores.items()), flush=True)

    arms = {"scratch": {}, "fine-tuned": {"init": init},
            f"fine-tuned, FreezeD {GAN_FREEZE}": {"init": init, "freeze": GAN_FREEZE}}

    def folder(arm):
        return out / f"gan-{arm.replace(', ', '-').replace(' ', '-')}"

    def make_run(arm, steps, kwargs, resume):
        extra = {"resume": folder(arm) / "last.pt"} if resume else kwargs
        return train("dcgan", "digits", folder(arm), steps, classes=[5, 6, 7, 8, 9], **common, **extra)

    def evaluate(arm, steps):
        return _gan_scores(folder(arm) / "last.pt", judge, feats[5], 5)

    results = _run(arms, budgets, make_run, evaluate, pre_steps + budgets[-1])
    g = torch.Generator().manual_seed(0)
    rows = [fusegen.load(folder(a) / "last.pt").sample(50, labels=torch.arange(5).repeat(10), generator=g)
            for a in arms]
    save_grid(torch.cat(rows), out / "gan-digits5-9.png", nrow=25)
    return {"model": GAN, "judge_accuracy_on_held_out_real_digits": judge_accuracy,
            "pretrain": {"steps": pre_steps, "classes": "0-4", "seconds": pre_seconds,
                         "train_seconds": pre["seconds"], "scores_on_0_4": pre_scores},
            "target_classes": "5-9", "budgets": list(budgets), "arms": results,
            "grid": "gan-digits5-9.png: two rows of 25 per arm (" + ", ".join(arms) + ")"}


# --- tables -------------------------------------------------------------------------------------

def dncnn_table(r: dict) -> str:
    arms = list(r["arms"])
    ref = r["references_psnr_db"]
    p = r["pretrain"]
    lines = [f"DnCNN (depth {r['model']['depth']}, width {r['model']['width']}, batch "
             f"{r['model']['batch_size']}), sigma 25 -> 50: mean PSNR (dB) at sigma 50 on the unseen "
             f"photos {', '.join(r['test_photos'])}; pre-training at sigma 25: {p['steps']} steps, "
             f"{p['seconds']:.0f} s, paid once before the budgets (the last row gives scratch as "
             "many steps in all)",
             "", "| budget (steps at sigma 50) | " + " | ".join(arms) + " |",
             "|---|" + "---|" * len(arms)]
    for b in r["budgets"]:
        lines.append(f"| {b} | " + " | ".join(f"{r['arms'][a][b]['psnr_db']:.2f}" for a in arms) + " |")
    lines.append(_total_row(r, lambda s: f"{s['psnr_db']:.2f}"))
    lines += ["", f"References at sigma 50: noisy {ref['noisy']:.2f} dB, sigma-25 model unchanged "
                  f"{ref['sigma25_model_unchanged']:.2f} dB (it gives {ref['sigma25_model_at_sigma25']:.2f} dB "
                  f"at sigma 25), NLM {ref['nlm']:.2f} dB."]
    return "\n".join(lines)


def _total_row(r: dict, cell) -> str:
    """The scratch arm given the pre-training's steps as well (the others' total cost)."""
    total = r["pretrain"]["steps"] + r["budgets"][-1]
    others = " | ".join("-" for _ in list(r["arms"])[1:])
    return (f"| {total} = {r['pretrain']['steps']} + {r['budgets'][-1]} (scratch only) | "
            f"{cell(r['arms']['scratch'][total])} | {others} |")


def gan_table(r: dict) -> str:
    arms = list(r["arms"])
    p = r["pretrain"]
    lines = [f"Conditional DCGAN ({r['model']['image_size']} px, width {r['model']['width']}, batch "
             f"{r['model']['batch_size']}), digits 0-4 -> 5-9, against the real digits 5-9: label "
             f"accuracy / KID / recall (accuracy and recall: higher is better; KID: lower), in a "
             f"judge CNN's standardized features; pre-training on 0-4: {p['steps']} steps, "
             f"{p['seconds']:.0f} s, paid once before the budgets (the last row gives scratch as "
             "many steps in all)",
             "", "| budget (steps on 5-9) | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms)]

    def cell(s):
        return f"{s['label_accuracy']:.0%} / {s['kid']:.2f} / {s['recall']:.2f}"

    for b in r["budgets"]:
        lines.append(f"| {b} | " + " | ".join(cell(r["arms"][a][b]) for a in arms) + " |")
    lines.append(_total_row(r, cell))
    lines += ["", f"The judge reads {r['judge_accuracy_on_held_out_real_digits']:.1%} of held-out real "
                  f"digits right; the pre-trained model, on its own digits 0-4: "
                  f"{cell(p['scores_on_0_4'])}."]
    return "\n".join(lines)


def print_tables(report: dict) -> None:
    """The markdown tables of a report (the dict written to ``transfer_eval.json``)."""
    tables = []
    for section, table in (("dncnn", dncnn_table), ("gan", gan_table)):
        if section in report:
            r = report[section]
            r["arms"] = {a: {int(b): v for b, v in runs.items()} for a, runs in r["arms"].items()}
            tables.append(table(r))
    print("\n\n".join(tables))
    print(f"\n{report['machine']}; load average {report['load_average_at_start'][0]:.1f} at the start, "
          f"{report['load_average_at_end'][0]:.1f} at the end; {report['seconds']:.0f} s in all. "
          "Wall times per run are in the JSON report; on this shared machine they are not a speed "
          "comparison.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script runs")
    parser.add_argument("--only", choices=["dncnn", "gan"], action="append")
    parser.add_argument("--out", default="transfer-output")
    parser.add_argument("--print-report", metavar="JSON", help="only print the tables of a report")
    args = parser.parse_args()
    if args.print_report:
        print_tables(json.loads(Path(args.print_report).read_text()))
        return
    size = "quick" if args.quick else "full"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads",
              "load_average_at_start": os.getloadavg(), "torch": torch.__version__,
              "fusegen": fusegen.__version__, "date": str(date.today()), "size": size}
    for section in args.only or ["dncnn", "gan"]:
        print(f"== {section}", flush=True)
        report[section] = (evaluate_dncnn if section == "dncnn" else evaluate_gan)(out, size)
    report["seconds"] = time.perf_counter() - started
    report["load_average_at_end"] = os.getloadavg()
    path = out / "transfer_eval.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    print()
    print_tables(json.loads(path.read_text()))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
