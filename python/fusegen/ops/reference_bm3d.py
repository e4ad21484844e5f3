"""A plain-PyTorch twin of ``fusegen::bm3d_denoise``, written for reading, not speed.

Every reference block's candidates are listed, sorted and cut explicitly, and every group's
3-D transform is a product of explicit matrices, so that the compiled kernels' bookkeeping
(offset-major matching, band accumulators, in-place Haar steps) can be checked against the
definition on small images. Use it in float64 on images of a few dozen pixels a side.
"""

from __future__ import annotations

import math

import torch

from .bm3d import BM3DParams

# The 8-point bior1.5 full decomposition with periodic boundaries (Dabov et al.'s matrix).
_BIOR15 = (
    (0.343550200747110,) * 8,
    (-0.225454819240296, -0.461645582253923, -0.461645582253923, -0.225454819240296,
     0.225454819240296, 0.461645582253923, 0.461645582253923, 0.225454819240296),
    (0.569359398342840, 0.402347308162280, -0.402347308162280, -0.569359398342840,
     -0.083506045090280, 0.083506045090280, -0.083506045090280, 0.083506045090280),
    (-0.083506045090280, 0.083506045090280, -0.083506045090280, 0.083506045090280,
     0.569359398342840, 0.402347308162280, -0.402347308162280, -0.569359398342840),
    (0.707106781186550, -0.707106781186550, 0, 0, 0, 0, 0, 0),
    (0, 0, 0.707106781186550, -0.707106781186550, 0, 0, 0, 0),
    (0, 0, 0, 0, 0.707106781186550, -0.707106781186550, 0, 0),
    (0, 0, 0, 0, 0, 0, 0.707106781186550, -0.707106781186550),
)
OPPONENT = ((1 / 3, 1 / 3, 1 / 3), (0.5, 0.0, -0.5), (0.25, -0.5, 0.25))


def block_transform(n: int, bior: bool) -> torch.Tensor:
    """The n x n matrix of the 2-D block transform: bior1.5 for n = 8 if asked, else the DCT."""
    if bior and n == 8:
        return torch.tensor(_BIOR15, dtype=torch.float64)
    u = torch.arange(n, dtype=torch.float64)[:, None]
    x = torch.arange(n, dtype=torch.float64)[None, :]
    scale = torch.full((n, 1), math.sqrt(2 / n), dtype=torch.float64)
    scale[0] = math.sqrt(1 / n)
    return scale * torch.cos(math.pi * (2 * x + 1) * u / (2 * n))


def haar_matrix(m: int) -> torch.Tensor:
    """The orthonormal Haar transform of m = 2^k values (full decomposition): averages of
    pairs first, differences after, recursively on the averages."""
    out = torch.eye(m, dtype=torch.float64)
    length = m
    while length > 1:
        half = length // 2
        step = torch.eye(m, dtype=torch.float64)
        step[:length, :length] = 0
        for i in range(half):
            step[i, 2 * i] = step[i, 2 * i + 1] = math.sqrt(0.5)
            step[half + i, 2 * i] = math.sqrt(0.5)
            step[half + i, 2 * i + 1] = -math.sqrt(0.5)
        out = step @ out
        length = half
    return out


def kaiser_window(n: int, beta: float = 2.0) -> torch.Tensor:
    w = torch.kaiser_window(n, periodic=False, beta=beta, dtype=torch.float64) if n > 1 else \
        torch.ones(1, dtype=torch.float64)
    return w[:, None] * w[None, :]


def reference_positions(size: int, block: int, step: int) -> list[int]:
    return list(range(0, size - block, step)) + [size - block]


def _matches(plane: torch.Tensor, y: int, x: int, n: int, radius: int, limit: float,
             cap: int) -> list[tuple[int, int]]:
    """The reference block (y, x) and its closest candidates within ``limit`` (sum of squared
    differences), closest first, ties in the order reference, then raster; cut to a power of 2."""
    height, width = plane.shape
    ref = plane[y:y + n, x:x + n]
    found = [(0.0, 0, (y, x))]
    order = 1
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            qy, qx = y + dy, x + dx
            if (dy == 0 and dx == 0) or not (0 <= qy <= height - n and 0 <= qx <= width - n):
                continue
            d = float(((ref - plane[qy:qy + n, qx:qx + n]) ** 2).sum())
            if d <= limit:
                found.append((d, order, (qy, qx)))
                order += 1
    found.sort(key=lambda item: (item[0], item[1]))
    count = min(len(found), cap)
    m = 1 << (count.bit_length() - 1)
    return [position for _, _, position in found[:m]]


def _stage(noisy: torch.Tensor, pilot: torch.Tensor | None, sigmas: list[float], params: BM3DParams,
           s: int) -> torch.Tensor:
    """One stage on (C, H, W) float64 channels grouped on channel 0."""
    channels, height, width = noisy.shape
    n, step = params.block_size[s], params.step[s]
    radius, cap = params.search_size[s] // 2, params.group_size[s]
    limit = params.match_threshold[s] * n * n
    T = block_transform(n, bior=s == 0)
    T_inv = torch.linalg.inv(T)
    norms = T.pow(2).sum(1).sqrt()
    window = kaiser_window(n)
    num = torch.zeros_like(noisy)
    den = torch.zeros_like(noisy)
    match_plane = noisy[0] if pilot is None else pilot[0]
    for y in reference_positions(height, n, step):
        for x in reference_positions(width, n, step):
            group = _matches(match_plane, y, x, n, radius, limit, cap)
            haar = haar_matrix(len(group))
            for c in range(channels):
                blocks = torch.stack([noisy[c, qy:qy + n, qx:qx + n] for qy, qx in group])
                spectrum = torch.einsum("km,muv->kuv", haar, T @ blocks @ T.T)
                if pilot is None:
                    limits = params.threshold * sigmas[c] * norms[:, None] * norms[None, :]
                    keep = spectrum.abs() > limits
                    spectrum = torch.where(keep | spectrum.isnan(), spectrum, 0.0)
                    kept = float(keep.sum())
                else:
                    guide_blocks = torch.stack([pilot[c, qy:qy + n, qx:qx + n] for qy, qx in group])
                    guide = torch.einsum("km,muv->kuv", haar, T @ guide_blocks @ T.T)
                    # At least the smallest normal number, as the kernels: no 0 / 0.
                    power = max(params.wiener_factor * sigmas[c] ** 2, torch.finfo(torch.float64).tiny)
                    gain = guide ** 2 / (guide ** 2 + power)
                    spectrum = spectrum * gain
                    kept = float((gain ** 2).sum())
                weight = 1.0 / kept if kept > 0 else 1.0
                estimate = T_inv @ torch.einsum("mk,kuv->muv", haar.T, spectrum) @ T_inv.T
                for (qy, qx), block in zip(group, estimate):
                    num[c, qy:qy + n, qx:qx + n] += weight * window * block
                    den[c, qy:qy + n, qx:qx + n] += weight * window
    return num / den


def bm3d_denoise(image: torch.Tensor, sigma: float, params: BM3DParams,
                 stage: str = "final") -> torch.Tensor:
    """BM3D of (H, W), (C, H, W) or (N, C, H, W) images, in float64, as the operator defines it
    (colour in the opponent space grouped on luma; other channel counts channel by channel)."""
    batch = image.double().reshape((-1,) + tuple(image.shape[-3:]) if image.dim() > 2
                                   else (1, 1) + tuple(image.shape))
    out = torch.empty_like(batch)
    mix = torch.tensor(OPPONENT, dtype=torch.float64)
    for b in range(batch.shape[0]):
        img = batch[b]
        if img.shape[0] == 3:
            planes = [torch.einsum("ij,jhw->ihw", mix, img)]
            sigmas = [sigma * float(row.norm()) for row in mix]
        else:
            planes = [img[c:c + 1] for c in range(img.shape[0])]
            sigmas = [sigma]
        results = []
        for plane in planes:
            basic = _stage(plane, None, sigmas, params, 0)
            results.append(basic if stage == "basic" else _stage(plane, basic, sigmas, params, 1))
        result = torch.cat(results)
        out[b] = torch.einsum("ij,jhw->ihw", torch.linalg.inv(mix), result) if img.shape[0] == 3 \
            else result
    return out.reshape(image.shape)
