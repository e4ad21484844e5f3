#!/usr/bin/env python3
"""The one-command GPU check (`make gpu-check`): what a machine with a GPU runs first.

Steps, each timed and logged under OUT/ (default gpu-check/), then one report, OUT/report.md:

1. environment: the GPU, its compute capability, torch and its CUDA version, nvcc;
2. build: fusegen with its CUDA kernels, for this GPU's architecture only (short build);
3. tests: `pytest -m cuda` (every CUDA test; CPU-vs-CUDA agreement, graph capture, streams);
4. sanitizer: compute-sanitizer memcheck, racecheck and synccheck over tools/cuda_smoke.py,
   which launches every CUDA kernel once on small inputs;
5. bench: `fusegen bench --device cuda`.

It exits non-zero when any step fails; later steps still run where they can, so one report
shows everything. Run it with the Python whose torch has CUDA: `make gpu-check GPU_PYTHON=python3`.
Usage: gpu_check.py [--out DIR] [--skip-build] [--skip STEP ...] [--plan]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SANITIZER_TOOLS = ("memcheck", "racecheck", "synccheck")
STEPS = ("environment", "build", "tests", "sanitizer", "bench")


@dataclass
class Step:
    name: str
    command: list[str]
    timeout_s: int
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT


@dataclass
class Outcome:
    step: Step
    returncode: int | None  # None: timed out, or the program was missing
    seconds: float
    log: Path

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def gpu_arch(python: str) -> str:
    """This GPU's compute capability as TORCH_CUDA_ARCH_LIST wants it ("9.0"); raises when
    torch sees no GPU, which makes the whole check pointless."""
    probe = ("import torch; assert torch.cuda.is_available(), 'torch sees no GPU'; "
             "print('%d.%d' % torch.cuda.get_device_capability())")
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"gpu-check: no usable GPU from {python}: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip()


def plan(python: str, arch: str, skip: set[str]) -> list[Step]:
    """The steps to run, in order."""
    environment = ("import torch, platform; print('torch', torch.__version__, 'cuda', torch.version.cuda); "
                   "print('gpu', torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)); "
                   "print('gpus', torch.cuda.device_count()); print('python', platform.python_version())")
    build_env = {"FUSEGEN_CUDA": "on", "TORCH_CUDA_ARCH_LIST": arch}
    nvcc = shutil.which("nvcc")
    if nvcc:
        build_env["CUDACXX"] = nvcc
    # The built package, not the source folder: run from tests/ so python/ is not on the path.
    probe = "import fusegen; i = fusegen.build_info(); assert i['cuda'], i; print(i)"
    smoke = [python, str(ROOT / "tools" / "cuda_smoke.py")]
    steps = [
        Step("environment", [python, "-c", environment], 60),
        Step("build", [python, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                       "--config-settings=build-dir=build/gpu-check", "."], 420, build_env),
        Step("build-info", [python, "-c", probe], 60, cwd=ROOT / "tests"),
        Step("tests", [python, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"], 300),
        *[Step(f"sanitizer-{tool}", ["compute-sanitizer", "--tool", tool, "--error-exitcode", "1", *smoke],
               240) for tool in SANITIZER_TOOLS],
        Step("bench", [python, "-m", "fusegen", "bench", "--device", "cuda", "--repeats", "5"], 300,
             cwd=ROOT / "tests"),
    ]
    return [s for s in steps if s.name.split("-")[0] not in skip]


def run_step(step: Step, out: Path) -> Outcome:
    log = out / f"{step.name}.log"
    env = {**os.environ, **step.env}
    start = time.perf_counter()
    with log.open("w") as f:
        f.write("$ " + " ".join(step.command) + "\n")
        f.flush()
        try:
            code = subprocess.run(step.command, stdout=f, stderr=subprocess.STDOUT, cwd=step.cwd,
                                  env=env, timeout=step.timeout_s).returncode
        except subprocess.TimeoutExpired:
            f.write(f"\ngpu-check: timed out after {step.timeout_s} s\n")
            code = None
        except FileNotFoundError as error:
            f.write(f"\ngpu-check: {error}\n")
            code = None
    return Outcome(step, code, time.perf_counter() - start, log)


def tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def report(outcomes: list[Outcome], out: Path) -> str:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = ["| step | result | seconds |", "|---|---|---|"]
    for o in outcomes:
        result = "pass" if o.passed else ("timeout or missing" if o.returncode is None else f"FAIL ({o.returncode})")
        rows.append(f"| {o.step.name} | {result} | {o.seconds:.0f} |")
    parts = [f"# fusegen GPU check, {stamp}", "", *rows, ""]
    for o in outcomes:
        parts += [f"## {o.step.name}", "", "```", tail(o.log, 40 if o.step.name == "bench" else 15), "```", ""]
    text = "\n".join(parts)
    (out / "report.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "gpu-check", help="folder for logs and report.md")
    parser.add_argument("--python", default=sys.executable, help="the Python whose torch has CUDA")
    parser.add_argument("--skip", nargs="*", default=[], choices=STEPS, help="steps to leave out")
    parser.add_argument("--skip-build", action="store_true", help="same as --skip build")
    parser.add_argument("--plan", action="store_true", help="print the commands and exit (needs no GPU)")
    args = parser.parse_args(argv)
    skip = set(args.skip) | ({"build"} if args.skip_build else set())

    if args.plan:
        for step in plan(args.python, "<arch>", skip):
            env = " ".join(f"{k}={v}" for k, v in step.env.items())
            print(f"[{step.name}] (cd {step.cwd.relative_to(ROOT) or '.'}) {env} {' '.join(step.command)}".replace("  ", " "))
        return 0

    arch = gpu_arch(args.python)
    args.out.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for step in plan(args.python, arch, skip):
        outcome = run_step(step, args.out)
        outcomes.append(outcome)
        print(f"gpu-check: {step.name}: {'pass' if outcome.passed else 'FAIL'} ({outcome.seconds:.0f} s)", flush=True)
        if step.name in ("build", "build-info") and not outcome.passed:
            break  # nothing after it can run without the CUDA build
    print(report(outcomes, args.out))
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
