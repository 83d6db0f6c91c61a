"""Size curves for the backtest (bench_backtest.py --produce): the project's own models fitted
directly through datavsmath.trainables (no Ray), one process, 1 thread, on Fashion-MNIST.

Writes one CSV row per trial (model, sample_frac, damage_frac, damage_mode, seed, n_train,
acc, auc, fit_seconds), appending, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from datavsmath.trainables.damage import make_training_set
from datavsmath.trainables.datasets.built_in import load_fashion_mnist
from datavsmath.trainables.metrics import evaluate
from datavsmath.trainables.models import build_model

FIELDS = ["model", "sample_frac", "damage_frac", "damage_mode", "seed", "n_train", "acc", "auc", "fit_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--fracs", type=float, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--param", action="append", default=[], help="KEY=INT override, e.g. num_boost_round=30")
    args = parser.parse_args()
    params = {k: int(v) for k, v in (p.split("=", 1) for p in args.param)}
    data = load_fashion_mnist(download=False)
    done = set()
    if args.out.exists():
        with args.out.open() as f:
            done = {(r["model"], float(r["sample_frac"]), int(r["seed"])) for r in csv.DictReader(f)}
    new = not args.out.exists()
    with args.out.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        for frac in args.fracs:
            for seed in args.seeds:
                if (args.model, frac, seed) in done:
                    continue
                train = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=frac, damage_frac=0.0,
                                          damage_mode="none", seed=seed)
                model = build_model(args.model, n_classes=data.n_classes, input_shape=data.input_shape,
                                    params=params, threads=1, seed=seed)
                start = time.perf_counter()
                model.fit(data.x_train[train.indices], train.labels)
                seconds = time.perf_counter() - start
                scores = evaluate(data.y_test, model.predict_proba(data.x_test), n_classes=data.n_classes)
                writer.writerow({"model": args.model, "sample_frac": frac, "damage_frac": 0.0, "damage_mode": "none",
                                 "seed": seed, "n_train": len(train.indices), "acc": scores["acc"],
                                 "auc": scores["auc"], "fit_seconds": round(seconds, 2)})
                f.flush()
                print(args.model, frac, seed, round(scores["acc"], 4), f"{seconds:.1f}s", flush=True)


if __name__ == "__main__":
    main()
