"""Active learning vs random at equal labelling budgets (an evaluation, not a timed test).

    python experiments/active_learning/active_eval.py [--quick] [--out active-eval-output] [--seeds 3]

On scikit-learn's digits (16x16; for each seed a 400-digit test set is held out and the other
1,397 form the pool, whose labels only the oracle knows), every query strategy of
``fusegen.active`` and the random baseline start from the same 20 random labels and buy 20 more
in each of 8 rounds. Each round a small CNN is retrained from scratch and scored on the test set.
Prints a markdown table (test accuracy mean ± std over seeds at each budget, area under the
curve, its difference from random) and writes ``results.json`` and ``curve.png`` into ``--out``.

The conditional-generation link (unless ``--generate none``): for each seed, the pool is
pseudo-labelled by the classifier of random and of the best strategy (by mean AUC) after 2 rounds
(60 labels) and after the last (180), plus once with every true label (the ceiling); a conditional
generator is trained on each, and a judge (a CNN trained on every pool label) reports the share of
its samples that show their label.
``--quick``: one seed, 4 rounds, no generation (about a minute). ``--ablation``: kcenter and
discriminator also in raw-pixel space, the mutual-information committee on bootstraps, and
warm-started (fine-tuned) learners; ``--only`` picks rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from fusegen.active import (LabelOracle, LearnerConfig, format_results, generated_label_accuracy,
                            generation_check, plot_learning_curves, run_active_learning, split_pool,
                            summarize, train_conditional_generator, train_judge)
from fusegen.data import load_dataset

# label -> (strategy name, options, embedding[, learner settings])
STRATEGIES = {
    "random": ("random", {}, "learner"),
    "entropy": ("entropy", {}, "learner"),
    "disagreement": ("disagreement", {"committee": 4, "measure": "vote_entropy", "bootstrap": False},
                     "learner"),
    "discriminator": ("discriminator", {}, "learner"),
    "kcenter": ("kcenter", {}, "learner"),
}
# --ablation: the same strategies in raw-pixel space instead of the classifier's features
ABLATION = {
    "kcenter-pixels": ("kcenter", {}, "pixels"),
    "discriminator-pixels": ("discriminator", {}, "pixels"),
    "disagreement-mi-bootstrap": ("disagreement", {"committee": 4, "measure": "mutual_information",
                                                   "bootstrap": True}, "learner"),
    "kcenter-warm": ("kcenter", {}, "learner", {"warm_start": True}),
    "entropy-warm": ("entropy", {}, "learner", {"warm_start": True}),
    "random-warm": ("random", {}, "learner", {"warm_start": True}),
}


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 4 rounds, no generation")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default: 3)")
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--generate", choices=("vae", "dcgan", "none"), default="vae",
                        help="conditional generator of the generation link (default: vae)")
    parser.add_argument("--generate-steps", type=int, default=300)
    parser.add_argument("--ablation", action="store_true",
                        help="also run kcenter and discriminator in pixel space, the bootstrap "
                        "mutual-information committee, and warm-started random, kcenter and entropy")
    parser.add_argument("--only", default=None, help="comma-separated row labels to run (e.g. "
                        "random,kcenter-pixels)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--out", default="active-eval-output")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.rounds, args.generate = 1, 4, "none"
    args.strategies = {**STRATEGIES, **(ABLATION if args.ablation else {})}
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in args.strategies]
        if unknown:
            parser.error(f"--only: unknown rows {unknown}; known: {', '.join(args.strategies)}")
        args.strategies = {k: v for k, v in args.strategies.items() if k in wanted}
    return args


def run_strategies(args, dataset, strategies) -> tuple[dict[str, list], dict]:
    """Every strategy on every seed's pool split; returns (results by row label, splits by seed)."""
    results: dict[str, list] = {label: [] for label in strategies}
    splits = {}
    for seed in range(args.seeds):
        pool, test = split_pool(dataset, 400, seed)
        splits[seed] = (pool, test)
        for label, (name, options, embedding, *settings) in strategies.items():
            res = run_active_learning(pool.images, LabelOracle(pool.labels), test.images, test.labels,
                                      strategy=name, strategy_options=options, embedding=embedding,
                                      initial=args.initial, per_round=args.per_round,
                                      rounds=args.rounds, seed=seed,
                                      learner=LearnerConfig(**(settings[0] if settings else {})),
                                      num_classes=dataset.num_classes)
            res.strategy = label
            results[label].append(res)
            print(f"seed {seed} {label:>14}: {res.accuracy[0]:.3f} -> {res.accuracy[-1]:.3f} "
                  f"(AUC {res.auc():.3f}), fit {sum(res.fit_seconds):.1f} s, "
                  f"query {sum(res.query_seconds):.1f} s", flush=True)
    return results, splits


def generation_link(args, dataset, strategies, results, summary, splits) -> tuple[list[dict], int]:
    """Conditional generators trained on pools pseudo-labelled by random and the best strategy,
    early and late in the budget; returns (rows, early re-runs that did not repeat the full run)."""
    generation: list[dict] = []
    prefix_mismatches = 0
    if args.generate != "none" and ("random" not in results or len(results) < 2):
        print("generation link skipped: it compares random with another strategy")
        args.generate = "none"
    if args.generate != "none":
        best = max((k for k in summary if k != "random"), key=lambda k: summary[k]["auc_mean"])
        early_rounds = min(2, args.rounds)
        for seed, (pool, test) in splits.items():
            judge = train_judge(pool.images, pool.labels, dataset.num_classes, seed)
            judge_accuracy = judge.accuracy(test.images, test.labels)
            for label in ("random", best):
                name, options, embedding, *settings = strategies[label]
                # The early budget's classifier: the same run stopped after `early_rounds` rounds
                # (every round is seeded, so it repeats the full run's first rounds exactly).
                early = run_active_learning(pool.images, LabelOracle(pool.labels), test.images,
                                            test.labels, strategy=name, strategy_options=options,
                                            embedding=embedding, initial=args.initial,
                                            per_round=args.per_round, rounds=early_rounds, seed=seed,
                                            learner=LearnerConfig(**(settings[0] if settings else {})),
                                            num_classes=dataset.num_classes)
                if early.accuracy != results[label][seed].accuracy[:early_rounds + 1]:
                    prefix_mismatches += 1
                for run in (early, results[label][seed]):
                    row = generation_check(run, pool.images, judge, dataset.num_classes,
                                           true_labels=pool.labels, kind=args.generate,
                                           steps=args.generate_steps, seed=seed)
                    row["strategy"], row["judge_test_accuracy"] = label, judge_accuracy
                    generation.append(row)
            t0 = time.perf_counter()
            model, _ = train_conditional_generator(pool.images, pool.labels, dataset.num_classes,
                                                   kind=args.generate, steps=args.generate_steps, seed=seed)
            generation.append({"strategy": "all true labels", "seed": seed, "labels_bought": len(pool),
                               "generator": args.generate, "steps": args.generate_steps,
                               "train_seconds": time.perf_counter() - t0, "pseudo_label_accuracy": 1.0,
                               "sample_label_accuracy": generated_label_accuracy(
                                   model, judge, dataset.num_classes, seed=seed),
                               "judge_test_accuracy": judge_accuracy})
            print(f"seed {seed}: generation link done (judge test accuracy {judge_accuracy:.3f})", flush=True)
    return generation, prefix_mismatches


def markdown_table(args, results, summary, generation, prefix_mismatches, al_seconds, total_seconds) -> str:
    """The results as the markdown the experiment's README shows."""
    budget = args.initial + args.rounds * args.per_round
    lines = [f"Active learning on digits 16x16: pool 1,397, test 400, {args.initial} initial + "
             f"{args.rounds} rounds x {args.per_round} = {budget} labels, seeds 0..{args.seeds - 1}; "
             f"columns are labels bought, cells test accuracy (mean ± std over seeds).", "",
             format_results(results), "",
             "| strategy | fit s / run | query s / run |", "|---|---|---|"]
    lines += [f"| {k} | {v['fit_seconds']:.1f} | {v['query_seconds']:.1f} |" for k, v in summary.items()]
    if generation:
        lines += ["", f"Conditional {args.generate.upper()} ({args.generate_steps} steps) trained on the pool "
                  f"pseudo-labelled by the classifier after {args.initial + min(2, args.rounds) * args.per_round} and "
                  f"{budget} labels (oracle labels kept); the judge is a CNN "
                  f"trained on every pool label (test accuracy "
                  f"{mean_std([g['judge_test_accuracy'] for g in generation if g['strategy'] == 'all true labels'])}).",
                  "", "| labels from | pseudo-label accuracy | samples showing their label |", "|---|---|---|"]
        keys = dict.fromkeys((g["labels_bought"], g["strategy"]) for g in generation)
        for bought, label in sorted(keys, key=lambda k: (k[0], k[1] != "random")):
            rows = [g for g in generation if g["strategy"] == label and g["labels_bought"] == bought]
            lines.append(f"| {label}, {bought} labels | {mean_std([g['pseudo_label_accuracy'] for g in rows])} | "
                         f"{mean_std([g['sample_label_accuracy'] for g in rows])} |")
        if prefix_mismatches:
            lines.append(f"(warning: {prefix_mismatches} early-budget re-runs did not repeat the full "
                         "runs' first rounds exactly)")
    lines += ["", f"Active-learning runs {al_seconds:.0f} s, everything {total_seconds:.0f} s, "
              f"{args.threads} torch thread(s), {platform.processor() or platform.machine()}."]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    strategies = args.strategies
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset("digits", 16, 1)
    started = time.perf_counter()
    results, splits = run_strategies(args, dataset, strategies)
    al_seconds = time.perf_counter() - started
    summary = summarize(results)
    generation, prefix_mismatches = generation_link(args, dataset, strategies, results, summary, splits)
    total_seconds = time.perf_counter() - started
    table = markdown_table(args, results, summary, generation, prefix_mismatches, al_seconds, total_seconds)
    print()
    print(table)

    budget = args.initial + args.rounds * args.per_round
    png = plot_learning_curves(results, out / "curve.png",
                               title=f"digits: {budget} labels, {args.seeds} seed(s), mean ± std")
    payload = {"date": date.today().isoformat(), "torch": torch.__version__, "threads": args.threads,
               "cpu_count": os.cpu_count(),
               "args": {k: v for k, v in vars(args).items() if k not in ("out", "strategies")},
               "summary": summary,
               "runs": {k: [r.to_dict() for r in v] for k, v in results.items()},
               "generation": generation, "early_prefix_mismatches": prefix_mismatches,
               "active_learning_seconds": al_seconds,
               "total_seconds": total_seconds, "table": table}
    (out / "results.json").write_text(json.dumps(payload, indent=1))
    print(f"\nwrote {out / 'results.json'} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
