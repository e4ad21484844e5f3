"""``fusegen bench``: fusegen's kernels against their anchors on this machine, as speed-up tables.

Every row times fusegen and the formulations it replaces in the same run, in turns (one call of
each per round; the median of ``repeats`` rounds after warm-up), so that the ratios hold on a
shared machine. A speed-up above 1 means fusegen is faster.

* ``conv``: the Conv -> BatchNorm -> activation blocks of DCGAN and DnCNN (:mod:`.conv_cases`),
  training forward+backward and eval forward, against eager ``nn.Sequential`` and, for eval,
  ``fuse_conv_bn_eval`` + activation.
* ``weighted-sum``: :func:`fusegen.ops.weighted_sum` against ``stack * w`` summed, an in-place
  ``add_`` loop and a ``clone()`` moving as many bytes (the memory ceiling; a speed-up of 0.8
  over it means 80% of copy bandwidth), also with ``out=`` (:mod:`.weighted_sum_cases`).
* ``nlm``: :func:`fusegen.ops.nlm_denoise` (7x7 patches, 21x21 search) on 512x512 pictures
  against OpenCV's ``fastNlMeansDenoising`` and scikit-image's fast mode, where installed
  (:func:`missing_anchors` names the ones that are not).
* ``gan-step``: a whole conditional DCGAN training step as the trainer runs it (discriminator
  update on a real and a fake batch, generator update, EMA of the generator; 32 px, width 64,
  batch 64) with fused blocks against the same model unfused (:func:`fusegen.nn.unfuse`).
* ``ema``: the EMA update of that generator with the fused weighted sum against one
  ``torch._foreach_lerp_`` call over all its parameters.
* ``fuse``: :func:`fusegen.nn.fuse` on users' networks -- CycleGAN's ResNet generator, pix2pix's
  U-Net and PatchGAN, a pre-activation ResNet-18, DnCNN, SRGAN's discriminator
  (:mod:`.client_models`) -- training forward+backward and eval, at batch 1 to 64 and 32 to 256 px
  (:mod:`.fuse_cases`), against the model itself.

* ``partial-conv``: :class:`fusegen.nn.PartialConvNormAct` (the masked convolution of
  inpainting) against the eager formulation a user writes (two convolutions, rescale, bias, hole,
  BatchNorm, activation), training forward+backward (:mod:`.partial_conv_cases`).
* ``bm3d``: :func:`fusegen.ops.bm3d.bm3d_denoise` beside :func:`fusegen.ops.nlm_denoise` and the
  reference ``bm3d`` package (where installed) on the same noisy camera (grey) and astronaut
  (colour) photos, sigma 25: time and PSNR against the clean photo (:mod:`.bm3d_cases`). Centre
  crops of 256 x 256 by default (``size=512``: the whole photos) and at most 3 timed rounds: the
  reference takes seconds per call.

``compile=True`` adds ``torch.compile`` of the anchors (slow to compile on CPU);
``channels_last=True`` puts the models and inputs of ``conv``, ``gan-step`` and ``fuse`` (fused and
anchors alike) in channels-last memory format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..ops.weighted_sum import weighted_sum
from ..tables import format_table
from ..timing import interleaved_median_seconds

SUITES = ("conv", "weighted-sum", "nlm", "gan-step", "ema", "fuse", "partial-conv", "bm3d")

# The optional anchors, by the name the rows use: (module, pip package, the suite they are in)
OPTIONAL_ANCHORS = {"OpenCV": ("cv2", "opencv-python-headless", "nlm"),
                    "scikit-image fast": ("skimage", "scikit-image", "nlm"),
                    "bm3d (reference)": ("bm3d", "bm3d", "bm3d")}


@dataclass
class Row:
    """One comparison: seconds per call of ``fusegen`` and of each anchor; for the suites that
    score quality (``bm3d``), ``psnr``: dB against the clean image of each, and of the input."""

    suite: str
    case: str
    mode: str
    seconds: dict[str, float]
    psnr: dict[str, float] | None = None

    def speedups(self) -> dict[str, float]:
        """Anchor time / fusegen time for every anchor (> 1: fusegen is faster)."""
        ours = self.seconds["fusegen"]
        return {name: t / ours for name, t in self.seconds.items() if name != "fusegen"}

    def psnr_gains(self) -> dict[str, float]:
        """fusegen's PSNR minus each other one, in dB (> 0: fusegen is closer to the clean
        image); empty without PSNR."""
        if not self.psnr:
            return {}
        ours = self.psnr["fusegen"]
        return {name: ours - db for name, db in self.psnr.items() if name != "fusegen"}


def _timed(fns: dict[str, Callable[[], Any]], device: torch.device, repeats: int,
           warmup: int = 2) -> dict[str, float]:
    if device.type == "cuda":  # time the work, not the launch
        def synced(fn):
            def run():
                fn()
                torch.cuda.synchronize(device)
            return run
        fns = {name: synced(fn) for name, fn in fns.items()}
    return interleaved_median_seconds(fns, repeats, warmup)


def _layout(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


def conv_rows(device: torch.device, repeats: int, compile: bool = False,
              channels_last: bool = False) -> list[Row]:
    from .conv_cases import CASES, train_step, variants

    layout = _layout(channels_last)
    rows = []
    for case in CASES:
        x = case.input(device).contiguous(memory_format=layout)
        for mode in ("train", "eval"):
            models = {name: m.to(memory_format=layout) for name, m in
                      variants(case, mode, with_compile=compile, device=device).items()}
            if mode == "train":
                grad = torch.randn_like(models["eager"](x))
                fns = {name: (lambda m=m: train_step(m, x, grad)) for name, m in models.items()}
                seconds = _timed(fns, device, repeats)
            else:
                with torch.no_grad():
                    fns = {name: (lambda m=m: m(x)) for name, m in models.items()}
                    seconds = _timed(fns, device, repeats)
            mode_name = "train fwd+bwd" if mode == "train" else "eval"
            if channels_last:
                mode_name += ", channels-last"
            rows.append(Row("conv", case.name, mode_name, seconds))
    return rows


def weighted_sum_rows(device: torch.device, repeats: int, compile: bool = False,
                      channels_last: bool = False) -> list[Row]:
    from .weighted_sum_cases import FORWARD, add_loop, cases, clone_of_same_bytes, forward_backward

    names = [n for n in FORWARD if compile or not n.startswith("torch.compile")]
    rows = []
    for case in cases(device.type):
        xs, w = case.make(device)
        clone = clone_of_same_bytes(case, device)
        fns = {name: (lambda f=FORWARD[name]: f(xs, w)) for name in names}
        fns["clone, same bytes"] = clone
        rows.append(Row("weighted-sum", case.name, "forward", _timed(fns, device, repeats)))
        # A caller who keeps the result tensor (an EMA, a running mixture): out= saves the
        # allocation and its first-touch page faults.
        out = torch.empty_like(xs[0])
        fns = {"fusegen": lambda: weighted_sum(xs, w, out=out), "add_ loop": lambda: add_loop(xs, w),
               "clone, same bytes": clone}
        rows.append(Row("weighted-sum", case.name, "forward, out=", _timed(fns, device, repeats)))
        xs, w = case.make(device, requires_grad=True)
        fns = {name: (lambda f=forward_backward(FORWARD[name]): f(xs, w)) for name in names
               if name != "add_ loop"}
        rows.append(Row("weighted-sum", case.name, "forward+backward", _timed(fns, device, repeats)))
    return rows


def nlm_rows(device: torch.device, repeats: int, compile: bool = False,
             channels_last: bool = False) -> list[Row]:
    import numpy as np

    from ..data import photo
    from ..ops import nlm_denoise

    sigma = 25.0
    rows = []
    for name, channels in (("camera", 1), ("astronaut", 3)):
        clean = (photo(name, channels) * 255).round()
        noise = torch.from_numpy(np.random.default_rng(0).normal(0, sigma, clean.shape)).float()
        noisy = (clean + noise).clamp(0, 255).to(torch.uint8)  # (C, H, W)
        x = noisy.to(device).float().div(255)
        fns = {"fusegen": lambda x=x: nlm_denoise(x, sigma / 255, h=0.4 * sigma / 255, patch_size=7,
                                                  search_size=21)}
        image = noisy[0].numpy() if channels == 1 else noisy.permute(1, 2, 0).contiguous().numpy()
        fns.update(_nlm_anchors(image, sigma))
        rows.append(Row("nlm", f"{name} 512x512 {'grey' if channels == 1 else 'colour'}, sigma 25",
                        "denoise", _timed(fns, device, repeats, warmup=1)))
    return rows


def _nlm_anchors(image, sigma: float) -> dict[str, Callable[[], Any]]:
    """OpenCV (same thread count as torch) and scikit-image fast mode, when installed."""
    anchors: dict[str, Callable[[], Any]] = {}
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        cv2.setNumThreads(torch.get_num_threads())
        if image.ndim == 2:
            anchors["OpenCV"] = lambda: cv2.fastNlMeansDenoising(image, None, sigma, 7, 21)
        else:
            anchors["OpenCV"] = lambda: cv2.fastNlMeansDenoisingColored(image, None, sigma, sigma, 7, 21)
    try:
        from skimage.restoration import denoise_nl_means
    except ImportError:
        denoise_nl_means = None
    if denoise_nl_means is not None:
        as_float = image.astype("float64") / 255
        axis = -1 if image.ndim == 3 else None
        anchors["scikit-image fast"] = lambda: denoise_nl_means(
            as_float, patch_size=7, patch_distance=10, h=0.4 * sigma / 255, sigma=sigma / 255,
            fast_mode=True, channel_axis=axis)
    return anchors


def missing_anchors(suites=SUITES) -> list[str]:
    """One line per optional anchor of ``suites`` that is not installed (its rows go without it)."""
    import importlib.util

    return [f"{name} anchor left out: its package is not installed (pip install {package})"
            for name, (module, package, suite) in OPTIONAL_ANCHORS.items()
            if suite in suites and importlib.util.find_spec(module) is None]


def _gan(image_size: int = 32, width: int = 64):
    from ..models import DCGAN

    torch.manual_seed(0)
    return DCGAN(image_size=image_size, width=width, num_classes=10)


def gan_step_rows(device: torch.device, repeats: int, compile: bool = False,
                  channels_last: bool = False, image_size: int = 32, width: int = 64,
                  batch: int = 64) -> list[Row]:
    from ..nn import unfuse
    from ..train import GANTask
    from ..train.distributed import Distributed

    layout = _layout(channels_last)
    fused = _gan(image_size, width)
    variants = {"fusegen": fused, "eager": unfuse(fused)}
    if compile:
        variants["torch.compile"] = unfuse(fused)
    images = torch.rand(batch, 1, image_size, image_size).to(device).contiguous(memory_format=layout)
    labels = torch.randint(0, 10, (batch,)).to(device)
    steps = {}
    for name, model in variants.items():
        model.to(device=device, memory_format=layout)
        task = GANTask(model)  # the trainer's default EMA in every variant
        task.setup(device, Distributed(), amp=False)
        if name == "torch.compile":
            task.G, task.D = torch.compile(task.G), torch.compile(task.D)
        steps[name] = lambda task=task: task.step((images, labels))
    case = f"conditional DCGAN {image_size}px, width {width}, batch {batch}"
    mode = "D + G + EMA step" + (", channels-last" if channels_last else "")
    return [Row("gan-step", case, mode, _timed(steps, device, repeats, warmup=3))]


def ema_rows(device: torch.device, repeats: int, compile: bool = False,
             channels_last: bool = False) -> list[Row]:
    from ..train import EMA

    generator = _gan().generator.to(device)
    emas = {"fusegen": EMA(generator, 0.999, "weighted_sum"),
            "torch._foreach_lerp_": EMA(generator, 0.999, "foreach")}
    fns = {name: (lambda ema=ema: ema.update(generator)) for name, ema in emas.items()}
    params = list(generator.parameters())
    case = f"DCGAN 32px generator, {len(params)} tensors, {sum(p.numel() for p in params):,} values"
    return [Row("ema", case, "update", _timed(fns, device, max(repeats, 30)))]


def fuse_rows(device: torch.device, repeats: int, compile: bool = False,
              channels_last: bool = False, cases=None) -> list[Row]:
    """``fuse(model)`` against the model itself on :data:`.fuse_cases.DEFAULT_CASES`, or on
    ``cases`` (a list of :class:`.fuse_cases.FuseCase`; ``fuse_cases.full_grid()`` for all)."""
    from .fuse_cases import DEFAULT_CASES, steps

    rows = []
    for case in DEFAULT_CASES if cases is None else cases:
        fns, context = steps(case, device, compile, channels_last)
        with context:  # inference mode for eval
            # one warm-up call is enough: the first call builds oneDNN's kernels (or compiles)
            seconds = _timed(fns, device, repeats, warmup=1)
        mode = "train fwd+bwd" if case.mode == "train" else "eval"
        rows.append(Row("fuse", case.name, mode + (", channels-last" if channels_last else ""),
                        seconds))
    return rows


def partial_conv_rows(device: torch.device, repeats: int, compile: bool = False,
                      channels_last: bool = False) -> list[Row]:
    """:class:`fusegen.nn.PartialConvNormAct` against the eager formulation, training forward +
    backward, on the inpainting blocks of :mod:`.partial_conv_cases`."""
    from .partial_conv_cases import CASES, train_steps

    return [Row("partial-conv", case.name, "train fwd+bwd",
                _timed(train_steps(case, device), device, repeats)) for case in CASES]


def bm3d_rows(device: torch.device, repeats: int, compile: bool = False,
              channels_last: bool = False, size: int | None = None) -> list[Row]:
    """:func:`fusegen.ops.bm3d.bm3d_denoise` beside :func:`fusegen.ops.nlm_denoise` and the
    reference ``bm3d`` package (when installed) on :func:`.bm3d_cases.cases` (centre crops of
    side ``size``, default 256; 512: the whole photos): seconds per call over at most
    :data:`.bm3d_cases.MAX_ROUNDS` rounds, and PSNR against the clean photo (also of the noisy
    input, as "noisy"). The scored call of each denoiser is its warm-up."""
    from .bm3d_cases import DEFAULT_SIZE, MAX_ROUNDS, cases, denoisers, psnr_db

    rows = []
    for case in cases(DEFAULT_SIZE if size is None else size):
        clean, noisy = case.images()
        fns = denoisers(case, noisy, device)
        scores = {name: psnr_db(fn(), clean) for name, fn in fns.items()}
        scores["noisy"] = psnr_db(noisy, clean)
        seconds = _timed(fns, device, min(repeats, MAX_ROUNDS), warmup=0)
        rows.append(Row("bm3d", case.name, "denoise", seconds, scores))
    return rows


RUNNERS = {"conv": conv_rows, "weighted-sum": weighted_sum_rows, "nlm": nlm_rows,
           "gan-step": gan_step_rows, "ema": ema_rows, "fuse": fuse_rows,
           "partial-conv": partial_conv_rows, "bm3d": bm3d_rows}


def run(suites=SUITES, device: str | torch.device = "cpu", repeats: int = 10,
        compile: bool = False, channels_last: bool = False, bm3d_size: int | None = None) -> list[Row]:
    """Time the ``suites`` (names from :data:`SUITES`) on ``device``; returns their rows.

    ``compile`` adds ``torch.compile`` of the anchors; ``channels_last`` runs ``conv``,
    ``gan-step`` and ``fuse`` in channels-last memory format (the other suites are unaffected);
    ``bm3d_size`` is the side of the ``bm3d`` suite's crops (default 256)."""
    unknown = [s for s in suites if s not in RUNNERS]
    if unknown:
        raise ValueError(f"suites must be among {SUITES}, got {unknown}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    device = torch.device(device)
    options = {"bm3d": {"size": bm3d_size}}  # the suites' own options
    rows = []
    for suite in suites:
        rows += RUNNERS[suite](device, repeats, compile, channels_last, **options.get(suite, {}))
    return rows


def processor_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what :mod:`platform` knows."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name(device: str | torch.device = "cpu") -> str:
    """What the figures were measured on: the GPU's name, or the processor and torch's threads."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{processor_name()}, {torch.get_num_threads()} threads"


def format_rows(rows: list[Row]) -> str:
    """A markdown table: fusegen's time and its speed-up over each anchor; where rows carry
    PSNR, also every PSNR and fusegen's gain over each."""
    cells = [[row.suite, row.case, row.mode, f"{row.seconds['fusegen'] * 1e3:.2f}",
              ", ".join(f"{name} {x:.2f}x" for name, x in row.speedups().items())] for row in rows]
    header = ["suite", "case", "pass", "fusegen ms", "speed-up over"]
    if any(row.psnr for row in rows):
        header += ["PSNR dB", "fusegen's PSNR gain over"]
        for row, line in zip(rows, cells):
            line += [", ".join(f"{name} {db:.2f}" for name, db in (row.psnr or {}).items()),
                     ", ".join(f"{name} {db:+.2f} dB" for name, db in row.psnr_gains().items())]
    return format_table(header, cells, markdown=True, right=[3])


def rows_as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    """Rows as plain dicts (for JSON), with the speed-ups (and the PSNR gains, where scored)."""
    out = []
    for row in rows:
        item = {**vars(row), "speedups": row.speedups()}
        if row.psnr is None:
            del item["psnr"]
        else:
            item["psnr_gains_db"] = row.psnr_gains()
        out.append(item)
    return out
