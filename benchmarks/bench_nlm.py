"""pytest-benchmark suite: non-local means, fusegen against OpenCV and scikit-image.

    python -m pytest benchmarks/bench_nlm.py --benchmark-group-by=param:case

All three at equal windows (7x7 patch, 21x21 search) on 512x512 scikit-image pictures with
sigma = 25 noise; fusegen and OpenCV with the same number of threads (torch's setting),
scikit-image on one thread. ``fusegen bench nlm`` prints the same comparison as a speed-up table;
experiments/nlm/ measures PSNR beside the times. The pictures come from scikit-image; the OpenCV
tests are skipped when OpenCV is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusegen
from fusegen.ops import nlm_denoise

skimage_data = pytest.importorskip("skimage.data", reason="the pictures come from scikit-image")
denoise_nl_means = pytest.importorskip("skimage.restoration").denoise_nl_means
try:
    import cv2
except ImportError:  # the OpenCV anchor is optional
    cv2 = None

SIGMA = 25.0
CASES = {"camera-grey": skimage_data.camera, "astronaut-colour": skimage_data.astronaut}


def noisy_uint8(name: str) -> np.ndarray:
    clean = CASES[name]()
    noise = np.random.default_rng(0).normal(0, SIGMA, clean.shape)
    return np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module", autouse=True)
def same_threads():
    if cv2 is not None:
        cv2.setNumThreads(torch.get_num_threads())


@pytest.mark.parametrize("case", list(CASES))
def test_fusegen_cpu(benchmark, case):
    noisy = noisy_uint8(case)
    x = torch.from_numpy(noisy).float().div_(255)
    x = x.permute(2, 0, 1).contiguous() if x.dim() == 3 else x
    out = benchmark(nlm_denoise, x, SIGMA / 255, h=0.4 * SIGMA / 255, patch_size=7, search_size=21)
    assert out.shape == x.shape


@pytest.mark.cuda
@pytest.mark.skipif(not (torch.cuda.is_available() and fusegen.build_info()["cuda"]),
                    reason="needs a CUDA GPU and fusegen built with CUDA kernels")
@pytest.mark.parametrize("case", list(CASES))
def test_fusegen_cuda(benchmark, case):
    noisy = noisy_uint8(case)
    x = torch.from_numpy(noisy).cuda().float().div_(255)
    x = x.permute(2, 0, 1).contiguous() if x.dim() == 3 else x

    def denoise():
        out = nlm_denoise(x, SIGMA / 255, h=0.4 * SIGMA / 255, patch_size=7, search_size=21)
        torch.cuda.synchronize()
        return out

    assert benchmark(denoise).shape == x.shape


@pytest.mark.skipif(cv2 is None, reason="OpenCV is not installed (pip install opencv-python-headless)")
@pytest.mark.parametrize("case", list(CASES))
def test_opencv(benchmark, case):
    noisy = noisy_uint8(case)
    if noisy.ndim == 2:
        out = benchmark(cv2.fastNlMeansDenoising, noisy, None, SIGMA, 7, 21)
    else:
        out = benchmark(cv2.fastNlMeansDenoisingColored, noisy, None, SIGMA, SIGMA, 7, 21)
    assert out.shape == noisy.shape


@pytest.mark.parametrize("case", list(CASES))
def test_skimage_fast_mode(benchmark, case):
    x = noisy_uint8(case).astype(np.float64) / 255
    axis = -1 if x.ndim == 3 else None
    out = benchmark.pedantic(
        denoise_nl_means, args=(x,),
        kwargs=dict(patch_size=7, patch_distance=10, h=0.4 * SIGMA / 255, sigma=SIGMA / 255,
                    fast_mode=True, channel_axis=axis),
        rounds=2, iterations=1)
    assert out.shape == x.shape
