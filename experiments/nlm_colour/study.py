"""Colour non-local means on decorrelated channels: which colour space and weight sharing restore
colour photographs best, tuned on some scikit-image pictures and judged on others.

    PYTHONPATH=python python experiments/nlm_colour/study.py [--stage tune|all]
        [--sigmas 10 25 35 50 75] [--threads 2] [--seed 0] [--results DIR]

Every variant is a composition of the operator ``torch.ops.fusegen.nlm_denoise`` (weights from
the patch distance averaged over the channels it is given, shared by those channels) with linear
colour transforms:

  (a) rgb          the operator on R, G, B (one weight per pixel pair from all three channels).
  (b) opp-shared   the operator on the opponent channels of BM3D, each divided by its noise
                   factor: Y = (R+G+B)/3 / (1/sqrt 3), U = (R-B)/2 / (1/sqrt 2),
                   V = (R-2G+B)/4 / sqrt(0.375), then back. Scaled so, the transform is a
                   rotation of RGB: the patch distances, the weights and the result are (a)'s
                   (to rounding), which the script checks instead of tuning (b).
  (c) luma-weights the same channels with U and V multiplied by alpha before the operator and
                   divided by it after: the weights come from the weighted mean
                   (dY^2 + alpha^2 (dU^2 + dV^2)) / (1 + 2 alpha^2), for which the operator is
                   given sigma and h times sqrt((1 + 2 alpha^2) / 3). alpha = 0 (run as 2^-12,
                   exact in binary floating point, chroma's share of the distance 2^-24) takes
                   the weights from luma alone and applies them to chroma; 0.25, 0.5 and 0.75
                   let chroma count in part; 1 would be (a). One alpha serves all sigmas: the
                   one with the best mean over the sigmas of its tuned PSNR (tuning pictures).
  (d) per-channel  the operator on Y, U and V one at a time, each with its own h and windows
                   (and a form where U and V share theirs).
  (e) luma+chroma  Y alone, U and V together (one weight for both): OpenCV's split of CIELab
                   into L and ab, in the opponent space.

Tuning (``--stage tune``) runs the grid WINDOWS x K_GRID (CHANNEL_K_GRID for one channel alone)
at each sigma on the TUNING pictures and keeps, per variant and sigma, the parameters with the
best mean PSNR over them. For (d) and (e) the channels are independent and the opponent
transform is a rotation, so the squared error is a sum over channels: each channel's (or the
chroma pair's) grid is run once and the combination with the best mean PSNR is found by
coordinate ascent over the stored errors. Results are cached by configuration in
``DIR/tuning_sigma<S>.json``: a rerun computes only what a file lacks (delete the files to
recompute). It prints the tuning table, the choice of alpha and the table rows of (c).

``--stage all`` (the default) then runs the held-out pictures, never tuned on: the tuned variants
((c) with alpha 0 and the chosen alpha), the RGB rows of the measured table (RGB_ROWS, the
``colour_space="rgb"`` default), ``fusegen.ops.nlm_denoise`` given sigma only, and OpenCV's
``fastNlMeansDenoisingColored`` (CIELab; 7x7 patch, 21x21 search) at its best h over
OPENCV_FACTORS (h = hColor, the "oracle") and at h = hColor = sigma.

Noise: Gaussian, sigma on the 0-255 scale, added in float to the picture in [0, 1] (numpy,
seeded per picture and sigma), then rounded and saturated to 8 bits: the one noisy input every
method sees (uint8 for OpenCV, float32 in [0, 1] for fusegen). Results are clipped to [0, 1]
and scored by ``fusegen.metrics.psnr`` against the clean picture in float64. Needs OpenCV and
scikit-image.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np
import torch

try:
    import cv2
    import skimage
    import skimage.data
except ImportError as exc:
    raise SystemExit(f"study.py compares with OpenCV on scikit-image pictures, and {exc.name} is "
                     "not installed: pip install opencv-python-headless scikit-image") from None

import fusegen
from fusegen.metrics import psnr as fusegen_psnr
from fusegen.ops import nlm_denoise

TUNING = ("coffee", "chelsea", "rocket")
HELD_OUT = ("astronaut", "immunohistochemistry", "hubble_deep_field")
HELD_OUT_SIDE = 512  # held-out pictures: their top-left 512 x 512 (hubble is 872 x 1000)
SIGMAS = (10.0, 25.0, 35.0, 50.0, 75.0)  # 75: for the table's row above 60
WINDOWS = ((3, 15), (3, 21), (5, 15), (5, 21), (7, 15), (7, 21))  # (patch, search)
K_GRID = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2,
          1.5)  # h / sigma
CHANNEL_K_GRID = K_GRID + (2.0, 3.0)  # one opponent channel alone: chroma takes larger h
ALPHAS = (0.0, 0.25, 0.5, 0.75)  # chroma's scale in the distance of (c); 1 would be (a)
TINY_ALPHA = 2.0 ** -12  # alpha = 0 as run: exact scaling, chroma's share of the distance 2^-24
OPENCV_FACTORS = (0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.5)  # h / sigma, h = hColor
# The colour rows of fusegen.ops.nlm.MEASURED_TABLE for RGB (upper bound of sigma on the 0-255
# scale, patch, search, h / sigma): the default for 3 channels before this study, the
# colour_space="rgb" default after it; fixed here so that the study keeps its baseline.
RGB_ROWS = ((10, 3, 21, 0.75), (25, 3, 21, 0.55), (55, 5, 15, 0.40), (math.inf, 3, 15, 0.30))

# Rows: Y, U, V of BM3D's opponent space divided by their noise factors 1/sqrt(3), 1/sqrt(2),
# sqrt(0.375): an orthonormal matrix, so its transpose takes the channels back to RGB.
OPPONENT = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]], dtype=torch.float64)
OPPONENT = OPPONENT / OPPONENT.norm(dim=1, keepdim=True)


# --- pictures and noise -------------------------------------------------------------------------

def picture(name: str, crop: int | None = None) -> np.ndarray:
    """A scikit-image colour picture as (H, W, 3) uint8, optionally its top-left crop x crop."""
    image = getattr(skimage.data, name)()[..., :3]
    if crop is not None:
        image = image[:crop, :crop]
    return np.ascontiguousarray(image)


def noisy_8bit(clean8: np.ndarray, sigma: float, seed: int, index: int) -> np.ndarray:
    """clean8 + N(0, sigma) (0-255 scale) in float, rounded and saturated to uint8."""
    rng = np.random.default_rng([seed, int(round(sigma * 100)), index])
    noisy = clean8.astype(np.float64) + rng.normal(0.0, sigma, clean8.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def to_tensor(image8: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(image8).permute(2, 0, 1).float().div(255).contiguous()


def psnr(result: torch.Tensor, clean: torch.Tensor) -> float:
    return float(fusegen_psnr(result.double().clamp(0, 1), clean.double(), data_range=1.0))


# --- the variants ---------------------------------------------------------------------------------

def op(x: torch.Tensor, sigma: float, k: float, patch: int, search: int) -> torch.Tensor:
    return torch.ops.fusegen.nlm_denoise(x, sigma, k * sigma, patch, search)


def to_opponent(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,jhw->ihw", OPPONENT.to(x.dtype), x)


def from_opponent(z: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ji,jhw->ihw", OPPONENT.to(z.dtype), z)


def rgb(x, sigma, k, patch, search):
    """(a)"""
    return op(x, sigma, k, patch, search)


def opp_shared(x, sigma, k, patch, search):
    """(b): equal to (a) up to rounding (the transform is a rotation)."""
    return from_opponent(op(to_opponent(x), sigma, k, patch, search))


def luma_weights(x, sigma, k, patch, search, alpha):
    """(c): the distance (dY^2 + alpha^2 (dU^2 + dV^2)) / 3, against its noise level."""
    z = to_opponent(x)
    scale = alpha if alpha > 0 else TINY_ALPHA
    z[1:] *= scale
    out = op(z, sigma * math.sqrt((1 + 2 * alpha**2) / 3), k, patch, search)
    out[1:] /= scale
    return from_opponent(out)


def split_channels(x, sigma, groups):
    """(d) and (e): groups = [(channels, (k, patch, search)), ...] over the opponent channels."""
    z = to_opponent(x)
    out = torch.empty_like(z)
    for channels, (k, patch, search) in groups:
        out[list(channels)] = op(z[list(channels)].contiguous(), sigma, k, patch, search)
    return from_opponent(out)


def rgb_row(sigma: float) -> tuple[float, int, int]:
    _, patch, search, k = next(r for r in RGB_ROWS if sigma <= r[0])
    return k, patch, search


# --- tuning ---------------------------------------------------------------------------------------

def grid(k_grid=K_GRID):
    return [(k, p, s) for (p, s) in WINDOWS for k in k_grid]


def config_key(config) -> str:
    """A configuration (h / sigma, patch, search) as the key of the result files."""
    k, patch, search = config
    return f"{float(k):g},{int(patch)},{int(search)}"


def parse_key(key: str) -> tuple[float, int, int]:
    k, patch, search = key.split(",")
    return float(k), int(patch), int(search)


def tune_sigma(sigma: float, seed: int, path: str) -> dict:
    """The grids of one sigma on the tuning pictures, cached in ``path`` by configuration
    (rerunning computes only the configurations the file lacks):
    ``psnr[variant][config]``: PSNR per tuning picture, for (a) and (c);
    ``sse[group][config]``: squared error per tuning picture in one opponent channel group."""
    result = {"psnr": {}, "sse": {}}
    if os.path.exists(path):
        with open(path) as f:
            result = json.load(f)
    s = sigma / 255
    cases = []
    for index, name in enumerate(TUNING):
        clean8 = picture(name)
        noisy = to_tensor(noisy_8bit(clean8, sigma, seed, index))
        cases.append((to_tensor(clean8).double(), noisy))
    result.update({"sigma": sigma, "pictures": list(TUNING),
                   "pixels": [clean.numel() for clean, _ in cases]})  # 3 H W per picture
    # (a), (c): PSNR per picture.
    variants = {"rgb": lambda x, c: rgb(x, s, *c)}
    for alpha in ALPHAS:
        variants[f"luma_weights_{alpha:g}"] = (
            lambda x, c, alpha=alpha: luma_weights(x, s, *c, alpha))
    for name, fn in variants.items():
        table = result["psnr"].setdefault(name, {})
        missing = [c for c in grid() if config_key(c) not in table]
        for c in missing:
            table[config_key(c)] = [psnr(fn(noisy, c), clean) for clean, noisy in cases]
        if missing:
            print(f"  sigma {sigma:g}: {name} grid done", flush=True)
    # (d), (e): squared error per opponent channel (and the U+V pair, filtered together).
    groups = (("Y", [0]), ("U", [1]), ("V", [2]), ("UV", [1, 2]))
    for name, _ in groups:
        result["sse"].setdefault(name, {})
    missing = [c for c in grid(CHANNEL_K_GRID)
               if any(config_key(c) not in result["sse"][name] for name, _ in groups)]
    for c in missing:
        errors = {name: [] for name, _ in groups}
        for clean, noisy in cases:
            z, zc = to_opponent(noisy), to_opponent(clean.float()).double()
            for name, channels in groups:
                out = op(z[channels].contiguous(), s, *c).double()
                errors[name].append(float(((out - zc[channels]) ** 2).sum()))
        for name, _ in groups:
            result["sse"][name][config_key(c)] = errors[name]
    if missing:
        print(f"  sigma {sigma:g}: (d)/(e) grids done", flush=True)
    with open(path, "w") as f:
        json.dump(result, f)
    return result


def best_split(result: dict, groups: tuple[str, ...]) -> list[tuple[float, int, int]]:
    """The configuration of each channel group in ``groups`` (together they cover Y, U, V
    once; "U+V" is U and V each alone with one configuration) with the best mean PSNR over
    the pictures of the summed squared errors: coordinate ascent from each group's best."""
    configs = [config_key(c) for c in grid(CHANNEL_K_GRID)]
    stored = {name: np.asarray([result["sse"][name][k] for k in configs])
              for name in ("Y", "U", "V", "UV")}  # (configs, pictures)
    stored["U+V"] = stored["U"] + stored["V"]
    sse = {name: stored[name] for name in groups}
    pixels = np.asarray(result["pixels"], dtype=np.float64)
    choice = {name: int(np.argmin((sse[name] / pixels).sum(1))) for name in groups}

    def score(ch):
        total = sum(sse[name][ch[name]] for name in groups) / pixels
        return float(np.mean(-10 * np.log10(total)))

    for _ in range(5):
        changed = False
        for name in groups:
            scores = [score({**choice, name: i}) for i in range(len(configs))]
            best = int(np.argmax(scores))
            if scores[best] > score(choice) + 1e-12:
                choice[name], changed = best, True
        if not changed:
            break
    return [parse_key(configs[choice[name]]) for name in groups]


def tuned(result: dict) -> dict:
    """Per variant: its tuned parameters at this sigma, (h / sigma, patch, search) each."""
    def best(name):
        table = result["psnr"][name]
        configs = [config_key(c) for c in grid()]
        return parse_key(max(configs, key=lambda k: np.mean(table[k])))

    out = {"rgb": best("rgb")}
    for alpha in ALPHAS:
        out[f"luma_weights_{alpha:g}"] = best(f"luma_weights_{alpha:g}")
    out["per_channel"] = tuple(best_split(result, ("Y", "U", "V")))
    out["per_channel_tied"] = tuple(best_split(result, ("Y", "U+V")))
    out["luma_chroma"] = tuple(best_split(result, ("Y", "UV")))
    return out


def variant_fns(params: dict, sigma: float, alphas=ALPHAS) -> dict:
    """name -> (description of its parameters, function of the noisy (3, H, W) float32); (c)
    for each of ``alphas``."""
    s = sigma / 255
    fmt = lambda c: f"{c[1]}/{c[2]}, {c[0]:.2f}σ"  # noqa: E731
    rows = rgb_row(sigma)
    fns = {
        "(a) RGB, RGB rows": (fmt(rows), lambda x: rgb(x, s, *rows)),
        "(a) RGB, retuned": (fmt(params["rgb"]), lambda x: rgb(x, s, *params["rgb"])),
        "(b) opponent, shared weights": (fmt(params["rgb"]),
                                         lambda x: opp_shared(x, s, *params["rgb"])),
    }
    for alpha in alphas:
        c = params[f"luma_weights_{alpha:g}"]
        fns[f"(c) opponent, luma weights, α={alpha:g}"] = (
            fmt(c), lambda x, c=c, alpha=alpha: luma_weights(x, s, *c, alpha))
    y, u, v = params["per_channel"]
    fns["(d) opponent, per channel"] = (
        f"Y {fmt(y)}; U {fmt(u)}; V {fmt(v)}",
        lambda x: split_channels(x, s, [((0,), y), ((1,), u), ((2,), v)]))
    y, c = params["per_channel_tied"]
    fns["(d) opponent, per channel, U and V alike"] = (
        f"Y {fmt(y)}; U, V {fmt(c)}",
        lambda x: split_channels(x, s, [((0,), y), ((1,), c), ((2,), c)]))
    y, uv = params["luma_chroma"]
    fns["(e) opponent, Y + UV"] = (
        f"Y {fmt(y)}; UV {fmt(uv)}", lambda x: split_channels(x, s, [((0,), y), ((1, 2), uv)]))
    return fns


def choose_alpha(results: dict) -> float:
    """(c)'s alpha for every sigma: the best mean over the sigmas of its best mean PSNR over
    the tuning pictures; prints the table it is chosen from."""
    best = {alpha: [max(np.mean(v) for v in result["psnr"][f"luma_weights_{alpha:g}"].values())
                    for result in results.values()] for alpha in ALPHAS}
    chosen = max(ALPHAS, key=lambda alpha: np.mean(best[alpha]))
    print("\n(c): best mean PSNR over the tuning pictures (dB) per alpha and sigma\n")
    print("| α | " + " | ".join(f"σ {s:g}" for s in results) + " | mean |")
    print("|---:|" + "---:|" * (len(results) + 1))
    for alpha in ALPHAS:
        mark = " (chosen)" if alpha == chosen else ""
        print(f"| {alpha:g}{mark} | " + " | ".join(f"{p:.2f}" for p in best[alpha])
              + f" | {np.mean(best[alpha]):.3f} |")
    return chosen


def run_tuning(sigmas, seed, results_dir) -> tuple[dict, float]:
    """Tunes (or reads) every sigma, prints the tuning tables; returns the tuned parameters
    per sigma and (c)'s chosen alpha."""
    params, results, rows = {}, {}, []
    for sigma in sigmas:
        path = os.path.join(results_dir, f"tuning_sigma{sigma:g}.json")
        results[sigma] = tune_sigma(sigma, seed, path)
        params[sigma] = tuned(results[sigma])
        s = sigma / 255
        cases = []
        for index, name in enumerate(TUNING):
            clean8 = picture(name)
            cases.append((to_tensor(clean8).double(),
                          to_tensor(noisy_8bit(clean8, sigma, seed, index))))
        for name, (desc, fn) in variant_fns(params[sigma], sigma).items():
            scores = [psnr(fn(noisy), clean) for clean, noisy in cases]
            rows.append((sigma, name, desc, scores))
        # (b) against (a), the same parameters: a rotation changes nothing but rounding.
        x = cases[0][1]
        diff = (opp_shared(x.double(), s, *params[sigma]["rgb"])
                - rgb(x.double(), s, *params[sigma]["rgb"])).abs().max().item()
        rows.append((sigma, "(b) against (a): largest difference, float64", f"{diff:.1e}", None))
    print("\nTuning pictures (" + ", ".join(TUNING) + "): PSNR (dB) at each variant's best "
          "parameters (patch/search, h/σ)\n")
    print("| σ | variant | parameters | " + " | ".join(TUNING) + " | mean |")
    print("|---:|---|---|" + "---:|" * (len(TUNING) + 1))
    for sigma, name, desc, scores in rows:
        if scores is None:
            print(f"| {sigma:g} | {name} | {desc} |" + " |" * (len(TUNING) + 1))
            continue
        cells = " | ".join(f"{p:.2f}" for p in scores)
        print(f"| {sigma:g} | {name} | {desc} | {cells} | {np.mean(scores):.2f} |", flush=True)
    alpha = choose_alpha(results)
    full = tuple(sigmas) == SIGMAS  # alpha and the table come from all of them
    print(f"\n(c) with alpha {alpha:g}, per sigma: (patch, search, h / sigma)"
          + (", the rows of MEASURED_TABLE['opponent']\n" if full else
             " (alpha chosen over these sigmas only; results/tuned.json left as it was)\n"))
    for sigma in sigmas:
        k, patch, search = params[sigma][f"luma_weights_{alpha:g}"]
        print(f"  sigma {sigma:g}: ({patch}, {search}, {k:.2f})")
    if full:
        with open(os.path.join(results_dir, "tuned.json"), "w") as f:
            json.dump({"alpha": alpha, "params": {f"{k:g}": v for k, v in params.items()}}, f,
                      indent=1)
    return params, alpha


# --- held out -------------------------------------------------------------------------------------

def opencv(noisy8: np.ndarray, h: float) -> torch.Tensor:
    """fastNlMeansDenoisingColored (OpenCV reads BGR; the pictures are RGB, so the channels are
    reversed on the way in and out), h = hColor, 7x7 patch, 21x21 search."""
    bgr = np.ascontiguousarray(noisy8[..., ::-1])
    out = cv2.fastNlMeansDenoisingColored(bgr, None, h, h, 7, 21)
    return to_tensor(np.ascontiguousarray(out[..., ::-1]))


def run_heldout(sigmas, seed, results, params, alpha) -> None:
    rows, same = [], []
    for index, name in enumerate(HELD_OUT):
        clean8 = picture(name, HELD_OUT_SIDE)
        clean = to_tensor(clean8).double()
        for sigma in sigmas:
            noisy8 = noisy_8bit(clean8, sigma, seed, 100 + index)
            noisy = to_tensor(noisy8)
            fns = variant_fns(params[sigma], sigma, alphas=sorted({0.0, alpha}))
            scores = {"noisy input": ("", psnr(noisy, clean))}
            for method, (desc, fn) in fns.items():
                scores[method] = (desc, psnr(fn(noisy), clean))
            got = nlm_denoise(noisy, sigma / 255)
            scores["fusegen nlm_denoise, σ only"] = ("", psnr(got, clean))
            chosen = fns[f"(c) opponent, luma weights, α={alpha:g}"][1](noisy)
            same.append((got - chosen).abs().max().item())
            oracle = max((psnr(opencv(noisy8, f * sigma), clean), f) for f in OPENCV_FACTORS)
            scores["OpenCV, best h (oracle)"] = (f"7/21, h=hColor={oracle[1]:.2f}σ", oracle[0])
            scores["OpenCV, h = hColor = σ"] = ("7/21", psnr(opencv(noisy8, sigma), clean))
            rows.append((name, sigma, scores))
            print(f"  {name} sigma {sigma:g} done", flush=True)
    methods = list(rows[0][2])
    short = {"astronaut": "astronaut", "immunohistochemistry": "immuno.",
             "hubble_deep_field": "hubble"}
    print("\nHeld-out pictures (top-left 512x512): PSNR (dB); parameters are the tuned ones\n")
    print("| σ | method | parameters | " + " | ".join(short[n] for n in HELD_OUT) + " | mean |")
    print("|---:|---|---|" + "---:|" * (len(HELD_OUT) + 1))
    for sigma in sigmas:
        by_picture = {n: sc for n, sg, sc in rows if sg == sigma}
        for m in methods:
            scores = [by_picture[n][m][1] for n in HELD_OUT]
            params = {by_picture[n][m][0] for n in HELD_OUT}
            desc = params.pop() if len(params) == 1 else "; ".join(
                f"{short[n]} {by_picture[n][m][0].split('=')[-1]}" for n in HELD_OUT)
            print(f"| {sigma:g} | {m} | {desc} | " + " | ".join(f"{p:.2f}" for p in scores)
                  + f" | {np.mean(scores):.2f} |")
    base = "(a) RGB, RGB rows"
    print(f"\nAll {len(rows)} held-out cases: mean PSNR, and the difference to {base} (dB): "
          "mean, worst case\n")
    print("| method | mean PSNR | mean difference | worst difference | worst case |")
    print("|---|---:|---:|---:|---|")
    for m in methods:
        mean = np.mean([r[2][m][1] for r in rows])
        if m in ("noisy input", base):
            print(f"| {m} | {mean:.2f} | | | |")
            continue
        d = [(r[2][m][1] - r[2][base][1], f"{short[r[0]]} σ {r[1]:g}") for r in rows]
        worst = min(d)
        print(f"| {m} | {mean:.2f} | {np.mean([x for x, _ in d]):+.2f} | {worst[0]:+.2f} | "
              f"{worst[1]} |")
    print(f"\nfusegen nlm_denoise given σ only against (c) with α={alpha:g} and its tuned "
          f"parameters: largest difference {max(same):.1e} (float32)")
    with open(os.path.join(results, "heldout.json"), "w") as f:
        json.dump([{"picture": n, "sigma": s, "scores": sc} for n, s, sc in rows], f, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("tune", "all"), default="all")
    parser.add_argument("--sigmas", nargs="+", type=float, default=list(SIGMAS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    os.makedirs(args.results, exist_ok=True)
    print(f"fusegen {fusegen.__version__}, torch {torch.__version__}, OpenCV {cv2.__version__}, "
          f"scikit-image {skimage.__version__}, {args.threads} threads", flush=True)
    params, alpha = run_tuning(args.sigmas, args.seed, args.results)
    if args.stage != "tune":
        run_heldout(args.sigmas, args.seed, args.results, params, alpha)


if __name__ == "__main__":
    main()
