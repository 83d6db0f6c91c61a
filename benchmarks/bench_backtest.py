"""Backtest of the learning-curve families: fit on the sizes up to a quarter of the largest,
predict the rest, and report each family's median absolute error per model, `auto` against
today's power law and last1 (the baselines) at 4x extrapolation.

Curves (real measurements on Fashion-MNIST, mean over seeds and each seed alone):
- rf (25 trees) at 10 sizes from 600 to 60,000, two seeds:
  benchmarks/results/2026-12-01_bench_learning_curve.json (bench_learning_curve.py);
- any CSV given with --csv (columns model, seed, n_train, acc), e.g. one written by
  benchmarks/_produce_curves.py (xgb at modest settings) or a sweep's results.csv;
- with --damaged-csv, also its curves at every damage level, e.g. bench_adaptive's grid (rf, the
  talk's 28 fractions to 100 %, six constant damage levels).

    .venv/bin/python benchmarks/bench_backtest.py [--csv FILE ...] [--damaged-csv FILE ...] [--rules]

Prints one line per (model, family): the median absolute error over the predicted sizes of
every curve of that model, and the ratio of auto's error to each baseline's; then the same
pooled over every model. With --rules, also candidate `auto` rules and hindsight ceilings that
no such rule can pass (per curve the best family, or the best mix of pow3 with one other family,
chosen knowing the predicted sizes' values). The candidates: pick or average the families by
their error on the one or two largest fitted sizes when fitted on the others; or the inner
backtest that mimics the 4x extrapolation (datavsmath.analysis.curves.mix_errors: fit on the
fitted sizes up to a quarter of the largest fitted, score on the larger fitted ones) picking a
family or pow3's weight in a mix, with and without auto's margin and halfway trust.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from datavsmath.analysis.curves import FittedCurve, fit_curve, fit_one, min_points, mix, mix_errors, mix_weight

BENCH_DIR = Path(__file__).resolve().parent
RF_CURVE = BENCH_DIR / "results" / "2026-12-01_bench_learning_curve.json"
FIT_SHARE = 0.25  # fit on sizes <= FIT_SHARE x the largest
FAMILIES = ("last1", "pow3", "exp3", "power_law", "pow4", "mmf4", "wbl4", "pow2")
CURVES = ("auto", *FAMILIES)
# The families the held-out-largest rules weigh: power_law is left out, the same function class
# as pow3 (and pow2, added with the inner backtest).
RULE_FAMILIES = ("last1", "pow3", "exp3", "pow4", "mmf4", "wbl4")
# The inner backtest's variants: (row, family mixed with pow3, margin, trust); trust 1 takes
# the backtest's weight as it is. auto itself is (pow2, margin, trust 0.5).
MIMIC_MIXES = (("mimic: w by backtest, pow3+last1", "last1", False, 1.0),
               ("mimic: w by backtest, pow3+pow2", "pow2", False, 1.0),
               ("mimic: pow3+pow2, margin", "pow2", True, 1.0),
               ("mimic: pow3+pow2, halfway", "pow2", False, 0.5),
               ("mimic: pow3+pow2, margin, halfway (auto)", "pow2", True, 0.5))
# Weights of pow3 in the hindsight mix of pow3 with one other family.
MIX_WEIGHTS = np.linspace(0.0, 1.0, 11)


def rf_curves() -> list[tuple[str, np.ndarray, np.ndarray]]:
    grid = json.loads(RF_CURVE.read_text())["grid_20"]
    n = np.array([r["n_sweep"] for r in grid["rows"]], dtype=float)
    acc = np.array([r["acc_sweep"] for r in grid["rows"]], dtype=float)
    return [("rf", n, acc.mean(axis=1)), *(("rf", n, acc[:, s]) for s in range(acc.shape[1]))]


def csv_curves(path: Path, *, damaged: bool = False) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The clean curves of a results CSV (damaged: every damage level's, named "MODEL, damaged"
    for damage_frac > 0), each as its mean over seeds and each seed alone."""
    df = pd.read_csv(path)
    if "status" in df.columns:
        df = df[df["status"] == "TERMINATED"]
    if "damage_frac" not in df.columns:
        df = df.assign(damage_frac=0.0)
    if not damaged:
        df = df[df["damage_frac"] == 0]
    if "damage_mode" in df.columns:  # a clean curve appears once, whatever its mode says
        df = df.drop_duplicates(["model", "damage_frac", "seed", "n_train"])
    out = []
    for (model, damage), rows in df.groupby(["model", "damage_frac"]):
        model = f"{model}, damaged" if damage > 0 else str(model)
        table = rows.pivot_table(index="n_train", columns="seed", values="acc")
        n = table.index.to_numpy(dtype=float)
        out.append((str(model), n, table.mean(axis=1).to_numpy()))
        if table.shape[1] > 1:
            out += [(str(model), n, table[s].to_numpy()) for s in table.columns]
    return out


def backtest(n: np.ndarray, acc: np.ndarray) -> dict[str, np.ndarray]:
    """{curve: absolute errors at the predicted sizes} for one curve."""
    fit = n <= FIT_SHARE * n.max()
    out = {}
    for curve in CURVES:
        fitted = fit_curve(n[fit], acc[fit]) if curve == "auto" else fit_one(curve, n[fit], acc[fit])
        out[curve] = np.abs(fitted.predict(n[~fit]) - acc[~fit])
        if curve == "auto":
            out["auto_family"] = np.array([f"{fitted.family} w={fitted.weights[0]:.2f}" if fitted.parts
                                           else fitted.family])
    return out


def held_out_last(n: np.ndarray, acc: np.ndarray, *, k: int) -> dict[str, float]:
    """{family: mean absolute error on the k largest of the (m,) sizes n when fitted on the
    others}, for the families of RULE_FAMILIES with at least as many other sizes as they need."""
    errors = {}
    for family in RULE_FAMILIES:
        if n.size - k >= min_points(family):
            fitted = fit_one(family, n[:-k], acc[:-k])
            errors[family] = float(np.mean(np.abs(fitted.predict(n[-k:]) - acc[-k:])))
    return errors


def _weighted(errors: dict[str, float], preds: dict[str, np.ndarray], weight) -> np.ndarray:
    """The families' predictions (each (p,)) averaged with weight(error, best error); pow3's
    alone when pow3 has no held-out error (too few sizes to compare)."""
    if "pow3" not in errors:
        return preds["pow3"]
    best = min(errors.values())
    w = {f: float(weight(e, best)) for f, e in errors.items()}
    return sum(w[f] * preds[f] for f in w) / sum(w.values())


def mimic_select(n: np.ndarray, acc: np.ndarray) -> FittedCurve:
    """The family of RULE_FAMILIES or pow2 with the least inner-backtest error (`mix_errors`),
    refitted on every point of the (m,) curve; pow3 with too few sizes to backtest."""
    errors = {"pow3": mix_errors(n, acc).get(1.0, np.inf)}
    errors |= {f: e[0.0] for f in (*RULE_FAMILIES, "pow2") if f != "pow3" and (e := mix_errors(n, acc, other=f))}
    return fit_one(min(errors, key=lambda f: errors[f]), n, acc)


def rules(n: np.ndarray, acc: np.ndarray) -> dict[str, np.ndarray]:
    """{rule: absolute errors at the predicted sizes} for one (m,) curve: the candidate rules
    fitted on the sizes <= FIT_SHARE x the largest, and the hindsight ceilings."""
    fit = n <= FIT_SHARE * n.max()
    preds = {f: fit_one(f, n[fit], acc[fit]).predict(n[~fit]) for f in RULE_FAMILIES}
    scatter = max(float(np.sqrt(np.mean((fit_one("pow3", n[fit], acc[fit]).predict(n[fit]) - acc[fit]) ** 2))),
                  1e-4)  # three sizes: pow3 interpolates them, no scatter to scale by
    out = {}
    for k in (1, 2):
        errors = held_out_last(n[fit], acc[fit], k=k)
        candidates = {
            "select": lambda e, b: float(e == b),
            "exp(-err/scatter)": lambda e, b: np.exp(-(e - b) / scatter),
            "1/err^2": lambda e, b: 1 / max(e, 1e-4) ** 2,
            "1/err^2 within 2x": lambda e, b: (e <= 2 * b) / max(e, 1e-4) ** 2,
        }
        for name, weight in candidates.items():
            out[f"{name}, {k} held out"] = np.abs(_weighted(errors, preds, weight) - acc[~fit])
    out["mimic: select family"] = np.abs(mimic_select(n[fit], acc[fit]).predict(n[~fit]) - acc[~fit])
    for name, other, margin, trust in MIMIC_MIXES:
        weight = mix_weight(n[fit], acc[fit], other=other, margin=margin, trust=trust)
        out[name] = np.abs(mix(weight, n[fit], acc[fit], other=other).predict(n[~fit]) - acc[~fit])
    by_family = {f: np.abs(p - acc[~fit]) for f, p in preds.items()}
    out["hindsight best family"] = min(by_family.values(), key=np.mean)
    mixes = [np.abs(w * preds["pow3"] + (1 - w) * p - acc[~fit]) for p in preds.values() for w in MIX_WEIGHTS]
    out["hindsight pow3 mix"] = min(mixes, key=np.mean)
    pow2 = fit_one("pow2", n[fit], acc[fit]).predict(n[~fit])
    out["hindsight pow3+pow2 mix"] = min((np.abs(w * preds["pow3"] + (1 - w) * pow2 - acc[~fit]) for w in MIX_WEIGHTS),
                                         key=np.mean)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, action="append", default=[])
    parser.add_argument("--damaged-csv", type=Path, action="append", default=[],
                        help="a results CSV whose damaged curves count too (as 'MODEL, damaged')")
    parser.add_argument("--rules", action="store_true",
                        help="also candidate auto rules (pick, average or mix by held-out error), hindsight ceilings")
    args = parser.parse_args()
    curves = (rf_curves() + [c for path in args.csv for c in csv_curves(path)]
              + [c for path in args.damaged_csv for c in csv_curves(path, damaged=True)])
    errors: dict[str, dict[str, list[float]]] = {}
    picks: dict[str, list[str]] = {}
    for model, n, acc in curves:
        result = backtest(n, acc)
        picks.setdefault(model, []).append(str(result.pop("auto_family")[0]))
        if args.rules:
            result |= rules(n, acc)
        for curve, err in result.items():
            errors.setdefault(model, {}).setdefault(curve, []).extend(err.tolist())
    print(f"fit on sizes <= {FIT_SHARE:g} x the largest, predict the rest (up to {1 / FIT_SHARE:g}x)")
    for model, by_curve in errors.items():
        print(f"\n{model}: {sum(1 for m, *_ in curves if m == model)} curves, auto chose {picks[model]}")
        print_medians(by_curve)
    print(f"\npooled: all {len(curves)} curves' predicted sizes together")
    print_medians({c: [e for by_curve in errors.values() for e in by_curve[c]] for c in next(iter(errors.values()))})


def print_medians(by_curve: dict[str, list[float]]) -> None:
    """Each curve's and rule's median absolute error, and its ratio to power_law's and last1's."""
    medians = {c: float(np.median(v)) for c, v in by_curve.items()}
    for curve in CURVES:
        print(f"  {curve:10s} median |error| {medians[curve]:.4f}")
    for base in ("power_law", "last1"):
        print(f"  auto / {base}: {medians['auto'] / medians[base]:.2f}")
    for rule in (r for r in medians if r not in CURVES):
        ratios = "  ".join(f"/ {base} {medians[rule] / medians[base]:.2f}" for base in ("power_law", "last1"))
        print(f"  {rule:42s} median |error| {medians[rule]:.4f}  {ratios}")


if __name__ == "__main__":
    main()
