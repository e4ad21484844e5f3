"""The demo's report: JSON for programs, a short markdown summary for people."""

from __future__ import annotations

from typing import Any


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
                  f"BM3D {c['psnr_bm3d_db']:.2f} dB, DnCNN {c['psnr_dncnn_db']:.2f} dB (self-ensemble "
                  f"{c['psnr_dncnn_self_ensemble_db']:.2f} dB) "
                  f"![clean, noisy, NLM, BM3D, DnCNN](denoise-camera.png)"]
    if "inpaint" in report:
        i = report["inpaint"]
        telea = f", OpenCV Telea {i['psnr_telea_db']:.2f} dB" if "psnr_telea_db" in i else ""
        lines += [f"- Inpainting ({i['steps']} training steps): {i['mask']} over {i['hole_fraction']:.0%} of the "
                  f"camera photo filled to {i['psnr_fusegen_db']:.2f} dB{telea} "
                  f"![original, damaged, filled](inpaint-camera.png)"]
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
