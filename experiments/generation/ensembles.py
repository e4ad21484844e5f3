"""Generator ensembles on the digits: boosted members against independent seeds (an evaluation).

    python experiments/generation/ensembles.py [--recipe boost --recipe seeds] [--steps 1000] \
        [--members 3] [--boost 4] [--seed 0] [--out generation-output]

Each recipe runs ``fusegen.train.train_generator_ensemble`` with the defaults of ``fusegen train gan
--conditional`` (``boost``: ``--boost`` as given; ``seeds``: boost 1, i.e. independent members
with seeds seed, seed+1, ...; ``partition``: member t on the t-th k-means cluster of each class), then judges (``judge.py``) every member, their uniform mixture
(what ``fusegen ensemble`` does with defaults), and the mixture with weights learned on half of
the digits by the class-conditional MMD (``fusegen ensemble --learn``) and by coverage +
precision (``--method coverage``). Appends JSON lines
to ``OUT/ensembles.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from judge import Judge, draw  # noqa: E402

import fusegen  # noqa: E402
from fusegen.data import digits  # noqa: E402
from fusegen.metrics import FeatureExtractor  # noqa: E402
from fusegen.train import train_generator_ensemble  # noqa: E402
from fusegen.train.recipes import split  # noqa: E402


def judged(judge: Judge, model) -> dict:
    images, labels = draw(model, 100, 123)
    matched, _ = draw(model, seed=124, labels=judge.labels)
    return judge.score(images, labels, matched)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", action="append", choices=["boost", "seeds", "partition"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--boost", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="generation-output")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    judge = Judge()
    for recipe in args.recipe or ["partition", "boost", "seeds"]:
        boost = args.boost if recipe == "boost" else 1.0
        run = out / f"ensemble-{recipe}-b{boost:g}-s{args.seed}"
        started = time.perf_counter()
        result = train_generator_ensemble("dcgan", "digits", run, args.steps, members=args.members,
                                          boost=None if recipe == "partition" else boost, seed=args.seed,
                                          conditional=True, device="cpu", progress=False, overwrite=True)
        seconds = time.perf_counter() - started
        ensemble = fusegen.load(result["ensemble"])
        rows = {name: judged(judge, member) for name, member in zip(ensemble.names, ensemble.members)}
        rows["mixture, uniform"] = judged(judge, ensemble)
        # fusegen ensemble --learn: class-conditional MMD on one half of the digits
        fit, _ = split(digits(32), 0.5, args.seed)
        extractor = FeatureExtractor.train_classifier(fit.images, fit.labels, epochs=5, seed=args.seed)
        ensemble.fit_weights(real=fit.images, real_labels=fit.labels, feature_fn=extractor, n=1000,
                             generator=torch.Generator().manual_seed(args.seed))
        rows["mixture, learned"] = judged(judge, ensemble)  # the class-conditional MMD
        learned = ensemble.weights.tolist()
        ensemble.fit_weights(real=fit.images, real_labels=fit.labels, feature_fn=extractor, n=1000,
                             method="coverage", generator=torch.Generator().manual_seed(args.seed))
        rows["mixture, coverage weights"] = judged(judge, ensemble)
        line = {"recipe": recipe, "boost": None if recipe == "partition" else boost, "members": args.members, "steps": args.steps,
                "seed": args.seed, "seconds": round(seconds, 1), "missed": result["missed"],
                "learned_weights": learned, "coverage_weights": ensemble.weights.tolist(),
                "threads": args.threads,
                "machine": platform.processor() or platform.machine(), "date": str(date.today()),
                "rows": rows}
        with open(out / "ensembles.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
