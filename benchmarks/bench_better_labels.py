"""Better labels, measured against their goals, with the project's own functions (no Ray):

- quality: the labels' quality estimate (analysis.label_quality, calibrated and raw) when the
  "user's" labels were damaged before the sweep at 10, 20 and 30 % (constant and random), on
  Fashion-MNIST (3,000 rows, sample_frac 0.05) and scikit-learn's digits (1,797 rows); the
  sweep's own levels 0, 0.1, 0.2, 0.3 and seeds 0, 1, each level's cleanlab figures from the
  ranked audit's cross-validation (rf, 3 folds), as a trial records them. Goal: within
  ±0.03 of the truth, the interval holding it.
- audit: 20 % constant damage on 10 % of Fashion-MNIST (6,000 rows), rf (the seed model, 25
  trees); the ranked audit (repair `audit`) and a random audit at several budgets, 3 seeds.
  Goal: the ranked audit reaches the clean-label accuracy (within 2 standard errors of the
  seeds) with at most half the audits of the random one.
- vote: Fashion-MNIST's 60,000 training labels at 17.6 % random damage, 3 labels per item
  (label_noise.repeated_labels, majority vote): the majority's noise against the exact
  majority-vote probability (goal: within 0.5 points), and rf's accuracy on 6,000 rows with
  the voted labels against the same curve at 17.6 % and at the voted noise (goal: between).
- test: rf on 6,000 clean rows, its 10,000 test predictions scored on test labels damaged at
  10, 20, 30 % (constant and random, seeds 0-2), the accuracy corrected through the mode's
  transition matrix. Goal: within ±0.01 of the clean test set's accuracy.

    python benchmarks/bench_better_labels.py [quality|audit|vote|test ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datavsmath.analysis.label_quality import label_quality
from datavsmath.trainables.audit_vote import majority_vote, ranked_audit, vote_accuracy
from datavsmath.trainables.damage import damage_labels, subset_indices
from datavsmath.trainables.datasets.built_in import load_fashion_mnist
from datavsmath.trainables.label_noise import corrected_accuracy, damaged_test_labels, repeated_labels
from datavsmath.trainables.metrics import evaluate
from datavsmath.trainables.models import build_model
from datavsmath.trainables.repair import out_of_fold_proba, repair_labels

K = 10
THREADS = 2
LEVELS = (0.0, 0.1, 0.2, 0.3)
HIDDEN = (0.1, 0.2, 0.3)


def _fit_acc(data: Any, rows: np.ndarray, labels: np.ndarray, *, seed: int) -> float:
    """rf (the seed model, its defaults) on x_train[rows] with `labels`, its clean test accuracy."""
    model = build_model("rf", n_classes=K, input_shape=data.input_shape, threads=THREADS, seed=seed)
    model.fit(data.x_train[rows], labels)
    return evaluate(data.y_test, model.predict_proba(data.x_test), n_classes=K)["acc"]


def quality_case(x: np.ndarray, y: np.ndarray, *, mode: str, hidden: float, folds: int = 3) -> dict[str, Any]:
    """One dataset with `hidden` damage of `mode` before the sweep: the estimate and the truth."""
    given, _ = damage_labels(y, n_classes=K, damage_frac=hidden, damage_mode=mode, seed=12345)
    rows = []
    for seed in (0, 1):
        for d in LEVELS:
            labels, damaged = damage_labels(given, n_classes=K, damage_frac=d, damage_mode=mode, seed=seed)
            fixed = repair_labels(x, labels, repair="audit", n_classes=K, seed=seed, damaged=damaged,
                                  clean_labels=given, folds=folds, n_jobs=THREADS)
            rows.append({"status": "TERMINATED", "model": "rf", "sample_frac": 1.0, "damage_frac": d, "seed": seed,
                         "damage_mode": mode, "acc": fixed.label_acc, "auc": fixed.label_acc, "confusion": None,
                         **fixed.stats()})
    found = label_quality(pd.DataFrame(rows), n_classes=K)
    truth = 1 - float(np.mean(given != y))
    return {"mode": mode, "hidden": hidden, "truth": truth, "estimate": found.estimate, "low": found.low,
            "high": found.high, "raw": found.raw, "error": found.estimate - truth, "raw_error": found.raw - truth,
            "held": bool(found.low <= truth <= found.high),
            "trials": [{k: r[k] for k in ("damage_frac", "seed", "cleanlab_noise", "cleanlab_joint_noise",
                                          "detection_precision", "detection_recall", "n_flagged")} for r in rows]}


def bench_quality(fashion: Any, *, folds: int = 3) -> list[dict[str, Any]]:
    from sklearn.datasets import load_digits

    rows = subset_indices(len(fashion.y_train), sample_frac=0.05, seed=7)
    sets = {"fashion_mnist": (fashion.x_train[rows], np.asarray(fashion.y_train)[rows]),
            "digits": load_digits(return_X_y=True)}
    out = []
    for name, (x, y) in sets.items():
        for mode in ("constant", "random"):
            for hidden in HIDDEN:
                out.append({"dataset": name, "folds": folds, **quality_case(x, y, mode=mode, hidden=hidden,
                                                                            folds=folds)})
                print(json.dumps(out[-1]), flush=True)
    return out


def _random_audit(labels: np.ndarray, clean: np.ndarray, *, share: float, seed: int) -> np.ndarray:
    chosen = np.random.default_rng([seed, 77]).permutation(len(labels))[: int(round(share * len(labels)))]
    out = labels.copy()
    out[chosen] = clean[chosen]
    return out


def bench_audit(fashion: Any, *, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, Any]:
    ranked_budgets, random_budgets = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3), (0.2, 0.4, 0.6, 0.8, 1.0)
    acc: dict[str, list[float]] = {}
    precision: list[float] = []
    for seed in seeds:
        rows = subset_indices(len(fashion.y_train), sample_frac=0.1, seed=seed)
        clean = np.asarray(fashion.y_train)[rows]
        labels, damaged = damage_labels(clean, n_classes=K, damage_frac=0.2, damage_mode="constant", seed=seed)
        acc.setdefault("clean", []).append(_fit_acc(fashion, rows, clean, seed=seed))
        acc.setdefault("damaged", []).append(_fit_acc(fashion, rows, labels, seed=seed))
        # One cross-validation per seed (repair `audit`'s, rf with 5 folds); each budget audits its top.
        proba = out_of_fold_proba(fashion.x_train[rows], labels, n_classes=K, seed=seed, n_jobs=THREADS)
        for budget in ranked_budgets:
            fixed, audited = ranked_audit(labels, clean, proba, audit_frac=budget)
            if budget == 0.2:
                precision.append(float(np.mean(damaged[audited])))
            acc.setdefault(f"ranked {budget}", []).append(_fit_acc(fashion, rows, fixed, seed=seed))
        for budget in random_budgets:
            audited = _random_audit(labels, clean, share=budget, seed=seed)
            acc.setdefault(f"random {budget}", []).append(_fit_acc(fashion, rows, audited, seed=seed))
        print(json.dumps({"seed": seed, **{k: v[-1] for k, v in acc.items()}}), flush=True)
    clean_mean = float(np.mean(acc["clean"]))
    noise = 2 * float(np.std(acc["clean"], ddof=1)) / np.sqrt(len(seeds))

    def first(kind: str, budgets: tuple[float, ...]) -> float:
        return next((b for b in budgets if np.mean(acc[f"{kind} {b}"]) >= clean_mean - noise), np.nan)

    ranked, random = first("ranked", ranked_budgets), first("random", random_budgets)
    return {"acc": {k: float(np.mean(v)) for k, v in acc.items()}, "clean_minus_2se": clean_mean - noise,
            "ranked_budget": ranked, "random_budget": random, "ratio": ranked / random,
            "ranked_precision_at_0.2": float(np.mean(precision)), "met": bool(ranked <= random / 2)}


def bench_vote(fashion: Any, *, noise: float = 0.176, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, Any]:
    clean_all = np.asarray(fashion.y_train)
    given, _ = damage_labels(clean_all, n_classes=K, damage_frac=noise, damage_mode="random", seed=3)
    votes = repeated_labels(clean_all, given, k=3, n_classes=K, damage_frac=noise, damage_mode="random", seed=3)
    measured = float(np.mean(majority_vote(votes, n_classes=K, seed=0) != clean_all))
    exact = 1 - vote_accuracy(1 - noise, k=3, n_classes=K)
    accs: dict[str, list[float]] = {}
    for seed in seeds:
        rows = subset_indices(len(clean_all), sample_frac=0.1, seed=seed)
        clean = clean_all[rows]
        for name, d in (("noisy", noise), ("voted_level", round(measured, 4))):
            labels, _ = damage_labels(clean, n_classes=K, damage_frac=d, damage_mode="random", seed=seed,
                                      index=rows, n_total=len(clean_all))
            accs.setdefault(name, []).append(_fit_acc(fashion, rows, labels, seed=seed))
        labels, _ = damage_labels(clean, n_classes=K, damage_frac=noise, damage_mode="random", seed=seed, index=rows,
                                  n_total=len(clean_all))
        trial_votes = repeated_labels(clean, labels, k=3, n_classes=K, damage_frac=noise, damage_mode="random",
                                      seed=seed, index=rows, n_total=len(clean_all))
        accs.setdefault("vote", []).append(_fit_acc(fashion, rows, majority_vote(trial_votes, n_classes=K, seed=seed),
                                                    seed=seed))
    means = {k: float(np.mean(v)) for k, v in accs.items()}
    return {"per_label_noise": noise, "measured_vote_noise": measured, "exact_vote_noise": exact,
            "difference_points": 100 * (measured - exact), "acc": means,
            "noise_met": bool(abs(measured - exact) <= 0.005),
            "between_met": bool(means["noisy"] <= means["vote"] <= means["voted_level"])}


def bench_test(fashion: Any, *, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, Any]:
    rows = subset_indices(len(fashion.y_train), sample_frac=0.1, seed=0)
    model = build_model("rf", n_classes=K, input_shape=fashion.input_shape, threads=THREADS, seed=0)
    model.fit(fashion.x_train[rows], np.asarray(fashion.y_train)[rows])
    proba = model.predict_proba(fashion.x_test)
    clean = evaluate(fashion.y_test, proba, n_classes=K)["acc"]
    cases = []
    for mode in ("random", "constant"):
        for d in (0.1, 0.2, 0.3):
            for seed in seeds:
                labels, _ = damaged_test_labels(fashion.y_test, n_classes=K, damage_frac=d, damage_mode=mode,
                                                seed=seed)
                noisy = evaluate(labels, proba, n_classes=K)
                corrected = corrected_accuracy(noisy["confusion"], quality=1 - d, damage_mode=mode)
                cases.append({"mode": mode, "test_noise": d, "seed": seed, "measured": noisy["acc"],
                              "corrected": corrected, "error": corrected - clean})
    worst = max(abs(c["error"]) for c in cases)
    return {"clean_acc": clean, "cases": cases, "max_abs_error": worst, "met": bool(worst <= 0.01)}


PARTS: dict[str, Callable[[Any], Any]] = {"quality": bench_quality, "audit": bench_audit, "vote": bench_vote,
                                          "test": bench_test}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--folds", type=int, default=3, help="the repair model's folds in quality (default 3)")
    args = parser.parse_args(argv)
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"parts must be among {', '.join(PARTS)}, got {unknown[0]!r}")
    fashion = load_fashion_mnist(download=False)
    results: dict[str, Any] = {}
    for part in args.parts or list(PARTS):
        start = time.perf_counter()
        results[part] = bench_quality(fashion, folds=args.folds) if part == "quality" else PARTS[part](fashion)
        print(f"{part}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        if part != "quality":
            print(json.dumps({part: results[part]}, default=float), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
