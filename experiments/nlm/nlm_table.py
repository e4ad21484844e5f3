"""PSNR and time of fusegen's non-local means against OpenCV and scikit-image, in one run.

    python experiments/nlm/nlm_table.py [--sigmas 10 25 50] [--images camera astronaut] [--threads 2]

Each clean scikit-image picture gets Gaussian noise of standard deviation sigma (0-255 scale),
rounded and saturated to 8 bits: the one noisy input every method sees (uint8 for OpenCV,
float in [0, 1] for fusegen and scikit-image). PSNR is measured against the clean picture.

Rows per image and sigma:
  fusegen, sigma only       the default (measured) table: what a user gets with only sigma
  fusegen, IPOL table       the parameters of Buades, Coll & Morel's IPOL 2011 table
  * 7/21, best h            7x7 patch, 21x21 search, h swept over multiples of sigma
  OpenCV / skimage, recommended
                            OpenCV's documented defaults (7/21, h = hColor = 10 is its example;
                            here h = sigma-scaled, see H_FACTORS) and scikit-image's gallery
                            settings (5x5 patch, 13x13 search, h = 0.8 sigma, fast mode)

OpenCV's weight is exp(-d2 / h^2), d2 the mean squared difference over the patch's pixels and
channels in 0-255 units, with no 2 sigma^2 offset; fastNlMeansDenoisingColored works in CIELab
(h for L, hColor for a and b). scikit-image fast mode and fusegen both use
exp(-max(d2 - 2 sigma^2, 0) / h^2), with h and sigma in the image's units; scikit-image's
integral-image box spans 2 * (s // 2) pixels, so its "7x7" fast-mode patch is 6x6.
Times are the best of a few runs, with the same number of threads for OpenCV and fusegen
(scikit-image runs on one thread); ``fusegen bench nlm`` is the speed comparison proper (timed in
turns). Needs OpenCV and scikit-image.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

try:
    import cv2
    import skimage
    import skimage.data
    from skimage.restoration import denoise_nl_means
except ImportError as exc:
    raise SystemExit(f"nlm_table.py compares with OpenCV and scikit-image, and {exc.name} is not "
                     "installed: pip install opencv-python-headless scikit-image") from None

import fusegen
from fusegen.metrics import psnr as fusegen_psnr
from fusegen.ops import nlm_denoise
from fusegen.ops.nlm import nlm_params

# h / sigma values swept for "best h"; OpenCV has no 2 sigma^2 offset and needs larger h.
SWEEP = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 1.0)
H_FACTORS = {"fusegen": SWEEP, "skimage": SWEEP, "opencv": (0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.5)}


def psnr(image: np.ndarray, clean: np.ndarray) -> float:
    """fusegen.metrics.psnr of two arrays in [0, 1] ((H, W) or (H, W, 3)), in float64."""
    as_tensor = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
    return fusegen_psnr(as_tensor(image), as_tensor(clean)).item()


def best_time(fn, repeats: int) -> tuple[np.ndarray, float]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def run_fusegen(noisy8: np.ndarray, sigma: float, h=None, patch=None, search=None, repeats=3):
    x = torch.from_numpy(noisy8).float().div_(255)
    x = x.permute(2, 0, 1).contiguous() if x.dim() == 3 else x
    out, seconds = best_time(
        lambda: nlm_denoise(x, sigma / 255, h=h, patch_size=patch, search_size=search,
                            colour_space="rgb"), repeats)  # the table below is the RGB path's
    out = out.permute(1, 2, 0) if out.dim() == 3 else out
    return out.numpy(), seconds


def run_opencv(noisy8: np.ndarray, h: float, patch=7, search=21, repeats=3):
    if noisy8.ndim == 2:
        fn = lambda: cv2.fastNlMeansDenoising(noisy8, None, h, patch, search)  # noqa: E731
    else:
        rgb = np.ascontiguousarray(noisy8)
        fn = lambda: cv2.fastNlMeansDenoisingColored(rgb, None, h, h, patch, search)  # noqa: E731
    out, seconds = best_time(fn, repeats)
    return out.astype(np.float64) / 255, seconds


def run_skimage(noisy8: np.ndarray, sigma: float, h: float, patch=7, search=21, repeats=1):
    x = noisy8.astype(np.float64) / 255
    axis = -1 if x.ndim == 3 else None
    fn = lambda: denoise_nl_means(x, patch_size=patch, patch_distance=search // 2, h=h / 255,  # noqa: E731
                                  sigma=sigma / 255, fast_mode=True, channel_axis=axis)
    return best_time(fn, repeats)


def best_over_h(run, factors, sigma, clean):
    results = []
    for k in factors:
        out, seconds = run(k * sigma)
        results.append((psnr(out, clean), k, seconds))
    return max(results)


def table(images: list[str], sigmas: list[float], seed: int):
    """Yields (image, sigma, method, parameters, PSNR, seconds or None), one row at a time."""
    for name in images:
        clean8 = getattr(skimage.data, name)()
        if clean8.ndim == 3:
            clean8 = clean8[..., :3]
        clean = clean8.astype(np.float64) / 255
        kind = "grey" if clean8.ndim == 2 else "colour"
        label = f"{name} ({clean8.shape[1]}x{clean8.shape[0]} {kind})"
        for sigma in sigmas:
            rng = np.random.default_rng(seed)
            noisy8 = np.clip(np.rint(clean8 + rng.normal(0, sigma, clean8.shape)), 0, 255)
            noisy8 = noisy8.astype(np.uint8)
            rows = []
            add = lambda method, params, p, t: rows.append(  # noqa: E731
                (label, sigma, method, params, p, t))
            add("noisy input", "", psnr(noisy8 / 255, clean), None)

            channels = 3 if clean8.ndim == 3 else 1
            for method, table_name in (("fusegen, sigma only", "measured"),
                                       ("fusegen, IPOL table", "ipol")):
                params = nlm_params(sigma, channels, torch.uint8, table=table_name, colour_space="rgb")
                out, t = run_fusegen(noisy8, sigma, params.h / 255, params.patch_size,
                                     params.search_size)
                add(method, f"{params.patch_size}/{params.search_size}, h={params.h / sigma:.2f}σ",
                    psnr(out, clean), t)
            p, k, t = best_over_h(lambda h: run_fusegen(noisy8, sigma, h / 255, 7, 21),
                                  H_FACTORS["fusegen"], sigma, clean)
            add("fusegen 7/21, best h", f"h={k:.2f}σ", p, t)
            p, k, t = best_over_h(lambda h: run_opencv(noisy8, h), H_FACTORS["opencv"], sigma,
                                  clean)
            add("OpenCV 7/21, best h", f"h={k:.2f}σ", p, t)
            out, t = run_opencv(noisy8, sigma)
            add("OpenCV 7/21, h=σ", "", psnr(out, clean), t)
            p, k, t = best_over_h(lambda h: run_skimage(noisy8, sigma, h), H_FACTORS["skimage"],
                                  sigma, clean)
            add("skimage fast 7/21, best h", f"h={k:.2f}σ", p, t)
            out, t = run_skimage(noisy8, sigma, 0.8 * sigma, patch=5, search=13)
            add("skimage fast, recommended", "5/13, h=0.8σ", psnr(out, clean), t)
            yield from rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", default=["camera", "astronaut"])
    parser.add_argument("--sigmas", nargs="+", type=float, default=[10.0, 25.0, 50.0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    print(f"fusegen {fusegen.__version__}, torch {torch.__version__}, OpenCV {cv2.__version__}, "
          f"scikit-image {skimage.__version__}; {args.threads} threads for fusegen and OpenCV\n")
    print("| image | σ | method | parameters | PSNR (dB) | time (s) |")
    print("|---|---:|---|---|---:|---:|")
    for label, sigma, method, params, p, t in table(args.images, args.sigmas, args.seed):
        seconds = "" if t is None else f"{t:.3f}"
        print(f"| {label} | {sigma:g} | {method} | {params} | {p:.2f} | {seconds} |", flush=True)


if __name__ == "__main__":
    main()
