"""The crossing estimate on the talk's own Fashion-MNIST curves, with LCDB's protocol
(benchmarks/lcdb.py: cut off at N/16, N/8, N/4, targets the monotone full curve reaches past
the cut-off, truth where it first does): today's engine (curves.estimate_crossings, `auto`)
against the engine before it (`auto` read off its fitted family at every size, no learned
extrapolation) and the constant ratio.

Curves: kept grids of real sweeps (model, seed, n_train, acc, damage_frac, damage_mode), one
curve per (model, damage_mode, damage_frac): rf (25 trees) at the talk's 28 fractions of
60,000 with 2 seeds, at six constant and six random damage levels.

    python benchmarks/bench_fashion_crossings.py [--csv FILE ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_lcdb  # noqa: E402
import lcdb  # noqa: E402

from datavsmath.analysis import curves  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
GRIDS = (RESULTS / "2026-12-06_bench_adaptive_grid.csv", RESULTS / "2026-12-06_backtest_rf_random_grid.csv")


def grid_curves(path: Path) -> list[lcdb.Curve]:
    """One lcdb.Curve per (model, damage_mode, damage_frac) of a kept grid (its id: the row
    number of the curve, its learner: the model, mode and damage)."""
    df = pd.read_csv(path)
    out = []
    for i, ((model, mode, damage), rows) in enumerate(df.groupby(["model", "damage_mode", "damage_frac"])):
        pivot = rows.pivot_table(index="seed", columns="n_train", values="acc", aggfunc="mean")
        out.append(lcdb.Curve(i, f"{model} {mode} {damage:g}", pivot.columns.to_numpy(float),
                              pivot.to_numpy(float)))
    return out


def previous_rows(case: lcdb.Case) -> list[dict]:
    """The engine before the learned extrapolation: auto's fitted family at every size."""
    fitted = curves.fit_curve(case.n, case.grid.mean(axis=0), curve="auto")
    return [{"openmlid": case.curve.openmlid, "learner": case.curve.learner, "cutoff": case.cutoff,
             "largest": case.largest, "estimator": "auto (fitted family)", "target": t, "truth": truth,
             "estimate": fitted.crossing(t), "low": np.nan, "high": np.nan, "p": np.nan}
            for t, truth in zip(case.targets, case.truth)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, nargs="*", default=list(GRIDS))
    args = parser.parse_args(argv)
    rows = []
    for path in args.csv:
        for curve in grid_curves(path):
            for case in lcdb.cases(curve):
                rows += bench_lcdb.score_case(case, "auto", ratio=4.0)
                rows += bench_lcdb.score_case(case, "constant", ratio=4.0)
                rows += previous_rows(case)
    scored = pd.DataFrame(rows)
    summary = bench_lcdb.summarize(scored, base_rate=float(np.mean(scored["truth"] <= 4 * scored["largest"])))
    columns = ["estimator", "cutoff", "targets", "median_abs_log2", "within_2x", "false_never_or_beyond", "coverage"]
    print(f"Fashion-MNIST curves: {scored['learner'].nunique()} from {', '.join(p.name for p in args.csv)}")
    print(summary[columns].to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
