"""``fusegen active``: active learning on a labelled data set whose labels play the oracle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..atomic import atomic_write
from ._common import parse_device


def register(subparsers) -> None:
    from ..active import STRATEGIES

    names = ", ".join(STRATEGIES)
    p = subparsers.add_parser(
        "active",
        help="active learning with a labelling budget: query strategies vs the random baseline",
        description="Pool-based active learning on a labelled data set: its labels are hidden behind "
        "an oracle that answers only the queried images. Each round a small CNN classifier is "
        "(re)trained on the labelled images and scored on a held-out set, then a strategy picks the "
        f"next images to label. Strategies: {names}. Writes OUT/curve.png (learning curves) and "
        "OUT/results.json, and prints the curve table.",
    )
    p.add_argument("--data", default="digits", help="digits, faces, an image folder with class "
                   "sub-folders, or an IDX file with labels (default: digits)")
    p.add_argument("--strategy", default="entropy", help=f"strategy, or several separated by commas "
                   f"({names}; default: entropy)")
    p.add_argument("--compare", default="random", help="baseline strategy run on the same splits "
                   "and budgets, or 'none' (default: random)")
    p.add_argument("--initial", type=int, default=20, help="random images labelled before round 1 "
                   "(default: 20)")
    p.add_argument("--per-round", type=int, default=20, help="images labelled per round (default: 20)")
    p.add_argument("--rounds", type=int, default=8, help="query rounds (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default: 0)")
    p.add_argument("--repeats", type=int, default=1, help="seeds to average over: seed, seed+1, ... "
                   "(default: 1)")
    p.add_argument("--test-size", type=int, default=400, help="held-out images for the accuracy "
                   "(default: 400)")
    p.add_argument("--image-size", type=int, default=16, help="image side in pixels (default: 16)")
    p.add_argument("--channels", type=int, default=1, choices=(1, 3), help="1 or 3 (default: 1)")
    p.add_argument("--learner-steps", type=int, default=150, help="classifier training steps per "
                   "round (default: 150)")
    p.add_argument("--warm-start", action="store_true", help="fine-tune last round's classifier "
                   "instead of retraining it from scratch")
    p.add_argument("--embedding", choices=("learner", "pixels"), default="learner",
                   help="space of the kcenter and discriminator strategies: the classifier's "
                   "features or raw pixels (default: learner)")
    p.add_argument("--committee", type=int, default=4, help="committee size of 'disagreement' "
                   "(default: 4)")
    p.add_argument("--generate", choices=("dcgan", "vae", "gan"), default=None,
                   help="after the last round, pseudo-label the pool with each strategy's classifier, "
                   "train a conditional generator on it and report how many samples show their label")
    p.add_argument("--generate-steps", type=int, default=300, help="generator training steps "
                   "(default: 300)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads; the networks are "
                   "small, so 1 is about as fast as more and shares the machine well; 0: torch's "
                   "default (default: 1)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--out", default="active-output", help="output folder (default: active-output)")
    p.set_defaults(func=run)


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def parse_strategies(text: str, compare: str) -> list[str]:
    from ..active import STRATEGIES

    chosen = [s.strip() for s in text.split(",") if s.strip()]
    if not chosen:
        raise ValueError("--strategy names no strategy")
    for s in chosen:
        if s not in STRATEGIES:
            raise ValueError(f"--strategy: unknown strategy {s!r}; choose from {', '.join(STRATEGIES)}")
    if compare != "none":
        if compare not in STRATEGIES:
            raise ValueError(f"--compare: unknown strategy {compare!r}; choose from "
                             f"{', '.join(STRATEGIES)} or none")
        if compare not in chosen:
            chosen.append(compare)
    return list(dict.fromkeys(chosen))


def run(args: argparse.Namespace) -> int:
    from ..active import LearnerConfig, compare_strategies, format_results, summarize
    from ..active.loop import cpu_threads
    from ..active.plot import plot_learning_curves
    from ..data import load_dataset

    device = parse_device(args.device)
    strategies = parse_strategies(args.strategy, args.compare)
    _positive("--initial", args.initial)
    _positive("--per-round", args.per_round)
    _positive("--rounds", args.rounds, 0)
    _positive("--repeats", args.repeats)
    _positive("--test-size", args.test_size)
    _positive("--learner-steps", args.learner_steps)
    _positive("--committee", args.committee, 2)
    _positive("--generate-steps", args.generate_steps)
    _positive("--threads", args.threads, 0)
    if args.generate and args.image_size not in (16, 32, 64):
        raise ValueError(f"--generate needs --image-size 16, 32 or 64, got {args.image_size}")
    _positive("--image-size", args.image_size, 4)
    dataset = load_dataset(args.data, args.image_size, args.channels)
    if dataset.num_classes < 2:
        raise ValueError(f"--data {args.data}: active learning needs labels (at least 2 classes) to "
                         "play the oracle; this data set has none")
    pool_size = len(dataset) - args.test_size
    if pool_size < 1:
        raise ValueError(f"--test-size {args.test_size} leaves no pool: the data set has {len(dataset)} images")
    budget = args.initial + args.rounds * args.per_round
    if budget > pool_size:
        raise ValueError(f"--initial {args.initial} + --rounds {args.rounds} x --per-round "
                         f"{args.per_round} = {budget} labels exceed the pool of {pool_size} images "
                         f"({len(dataset)} minus --test-size {args.test_size})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    seeds = list(range(args.seed, args.seed + args.repeats))
    options = {"disagreement": {"committee": args.committee}}
    print(f"{args.data}: pool {pool_size}, test {args.test_size}, budget {budget} labels "
          f"({args.initial} + {args.rounds} x {args.per_round}); strategies {', '.join(strategies)}; "
          f"seeds {seeds}; device {device}")
    results = compare_strategies(
        dataset, strategies, seeds, test_size=args.test_size, initial=args.initial,
        per_round=args.per_round, rounds=args.rounds, device=device, embedding=args.embedding,
        learner=LearnerConfig(steps=args.learner_steps, warm_start=args.warm_start),
        strategy_options_by_name=options, progress=print, threads=args.threads or None)
    table = format_results(results, baseline=args.compare if args.compare != "none" else "random")
    print()
    print(table)
    payload = {"data": args.data, "image_size": args.image_size, "seeds": seeds,
               "summary": summarize(results),
               "runs": {name: [r.to_dict() for r in runs] for name, runs in results.items()}}
    if args.generate:
        with cpu_threads(args.threads or None):
            payload["generation"] = _generation(args, dataset, results, device)
    plot = plot_learning_curves(results, out / "curve.png",
                                title=f"active learning on {args.data}: {', '.join(strategies)}",
                                baseline=args.compare)
    with atomic_write(out / "results.json", "w") as f:
        json.dump(payload, f, indent=1)
    print(f"\nlearning curves: {plot}; results: {out / 'results.json'}")
    return 0


def _generation(args, dataset, results, device) -> list[dict]:
    from ..active import split_pool
    from ..active.generation import generation_check, train_judge

    rows = []
    for seed_index, seed in enumerate(range(args.seed, args.seed + args.repeats)):
        pool, test = split_pool(dataset, args.test_size, seed)
        judge = train_judge(pool.images, pool.labels, dataset.num_classes, seed, device)
        judge_accuracy = judge.accuracy(test.images, test.labels)
        print(f"seed {seed}: judge (a classifier trained on every pool label) scores "
              f"{judge_accuracy:.1%} on the test set")
        for name, runs in results.items():
            row = generation_check(runs[seed_index], pool.images, judge, dataset.num_classes,
                                   true_labels=pool.labels, kind=args.generate,
                                   steps=args.generate_steps, seed=seed, device=device)
            row["judge_test_accuracy"] = judge_accuracy
            print(f"{name} seed {seed}: conditional {args.generate} on the pool pseudo-labelled from "
                  f"{row['labels_bought']} labels (pseudo-labels {row['pseudo_label_accuracy']:.1%} "
                  f"right): {row['sample_label_accuracy']:.1%} of samples show their label")
            rows.append(row)
    return rows


