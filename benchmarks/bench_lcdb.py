"""The crossing estimate on real learning curves: LCDB 1.0's curves of datasets with an odd
OpenML id (benchmarks/lcdb.py: the archive, the cache, the protocol).

For each curve cut off at N/16, N/8 and N/4, every estimator is asked where the curve
crosses each target, seeing only the sizes up to the cut-off, and is scored against the
truth:
- median |log2(estimate / truth)| and the share within 2x;
- false "never" / "beyond": the estimator says never (inf) or beyond 4x the cut-off size (for
  the engine: `Crossing.beyond`, the whole interval past it; the constant: its estimate) where
  the truth is within 4x; beside it, the share whose point estimate lies past 4x while the
  truth is within;
- coverage: the share of truths inside the 95 % interval (no interval counts as a miss; the
  share with an interval is shown beside it);
- Brier score of P(reachable) (reached within 4x the cut-off size), on every target including
  the one above everything the curve reaches, against a constant (the rate on even ids).

Estimators: `auto` (the engine, datavsmath.analysis.curves.estimate_crossings), each single
family, power_law and last1 (the engine with that curve), and the constant ratio "k x your
current size", k the median ratio on the even ids.

Rounds: a user at the cut-off buys labels in up to 3 rounds with `auto`'s advice (the buy
route's first purchase: `routes.first_round`), reading the real curve at the size reached
(the nearest LCDB size at or below it) after each, against one purchase at the point estimate.

    python benchmarks/bench_lcdb.py --quick                # fixed samples: 30 odd-id curves, families on 10; < 2 min
    python benchmarks/bench_lcdb.py --json out.json        # all odd-id curves (auto, baselines, rounds);
                                                           # the families on a fixed sample of --family-curves
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lcdb  # noqa: E402

from datavsmath.analysis import curves  # noqa: E402
from datavsmath.analysis.estimate_limits import EXTRAPOLATION_LIMIT  # noqa: E402

FAMILIES = ("pow3", "pow4", "mmf4", "wbl4", "exp3", "power_law", "last1")
N_BOOT = 40  # per estimate in the benchmark: the 2.5/97.5 % quantiles of 40 draws, enough to score coverage
ROUNDS = 3
# The rounds' purchases: the crossing's quantile to buy up to, round by round (the last round
# buys to the upper end of the interval, so that the target is rarely missed).
ROUND_LEVELS = (0.3, 0.5, 0.75)


def constant_ratio(table: pd.DataFrame) -> float:
    """The rule of thumb's ratio, learned on the even ids: the median of truth / cut-off size."""
    ratios = [t / case.largest for curve in lcdb.curves(table, parity="even") for case in lcdb.cases(curve)
              for t in case.truth if np.isfinite(t)]
    return float(2 ** np.median(np.log2(ratios)))


def reach_rate(table: pd.DataFrame) -> float:
    """The share of even-id targets reached within EXTRAPOLATION_LIMIT x the cut-off size."""
    hits = [t <= EXTRAPOLATION_LIMIT * case.largest for curve in lcdb.curves(table, parity="even")
            for case in lcdb.cases(curve) for t in case.truth]
    return float(np.mean(hits))


def score_case(case: lcdb.Case, estimator: str, *, ratio: float) -> list[dict]:
    """One row per target of the case: estimate, interval and P(reachable) of `estimator`."""
    base = {"openmlid": case.curve.openmlid, "learner": case.curve.learner, "cutoff": case.cutoff,
            "largest": case.largest, "estimator": estimator}
    if estimator == "constant":
        return [{**base, "target": t, "truth": truth, "estimate": ratio * case.largest, "low": np.nan,
                 "high": np.nan, "p": np.nan} for t, truth in zip(case.targets, case.truth)]
    found = curves.estimate_crossings(case.n, case.grid, thresholds=case.targets, curve=estimator, n_boot=N_BOOT)
    return [{**base, "target": t, "truth": truth, "estimate": c.estimate, "low": c.low, "high": c.high,
             "p": c.p_reachable, "family": c.family, "says_no": bool(np.isinf(c.estimate) or c.beyond)}
            for t, truth, c in zip(case.targets, case.truth, found)]


def replay_rounds(case: lcdb.Case, *, levels: tuple[float, ...] = ROUND_LEVELS) -> list[dict]:
    """A user at the cut-off buys in rounds, for each reachable target: each round buys up to
    the level-th quantile of auto's crossing (never less than one more LCDB size), then reads
    the real curve at the nearest LCDB size at or below the size reached. Also one purchase
    at auto's point estimate."""
    full_n, full_grid = lcdb.visible(case.curve)
    single = dict(zip(case.targets, (c.estimate for c in curves.estimate_crossings(
        case.n, case.grid, thresholds=case.targets, n_boot=N_BOOT))))
    rows = []
    for target, truth in zip(case.targets, case.truth):
        if not np.isfinite(truth):
            continue
        size, bought_rounds = case.largest, 0
        for level in levels:
            seen = full_n <= size * (1 + 1e-9)
            if size >= truth:
                break
            crossing = curves.estimate_crossing(full_n[seen], full_grid[:, seen], threshold=target, n_boot=N_BOOT)
            goal = crossing.quantile(level) if crossing.draws.size else crossing.estimate
            step = full_n[np.searchsorted(full_n, size, side="right")] if size < full_n[-1] else size
            size = max(float(goal), float(step)) if np.isfinite(goal) else float(step)
            bought_rounds += 1
        rows.append({"cutoff": case.cutoff, "largest": case.largest, "truth": truth, "rounds_final": size,
                     "rounds": bought_rounds, "single_final": single[target]})
    return rows


def _work(item: tuple[lcdb.Curve, tuple[str, ...], bool, float]) -> tuple[list[dict], list[dict]]:
    curve, estimators, rounds, ratio = item
    scored, replayed = [], []
    for case in lcdb.cases(curve):
        for estimator in estimators:
            scored += score_case(case, estimator, ratio=ratio)
        if rounds:
            replayed += replay_rounds(case)
    return scored, replayed


def summarize(scored: pd.DataFrame, *, base_rate: float) -> pd.DataFrame:
    """One row per (estimator, cut-off, and all cut-offs): the module docstring's scores."""
    out = []
    for (estimator, cutoff), rows in _by_cutoff(scored):
        reach = rows[np.isfinite(rows["truth"])]
        with np.errstate(divide="ignore", invalid="ignore"):
            error = np.abs(np.log2(reach["estimate"] / reach["truth"]))
        within = reach["truth"] <= EXTRAPOLATION_LIMIT * reach["largest"]
        past = ~np.isfinite(reach["estimate"]) | (reach["estimate"] > EXTRAPOLATION_LIMIT * reach["largest"])
        said_no = reach["says_no"].fillna(past).astype(bool) if "says_no" in reach else past
        has = np.isfinite(reach["low"]) | np.isfinite(reach["high"])
        covered = has & (reach["low"] <= reach["truth"]) & (reach["truth"] <= reach["high"])
        label = (rows["truth"] <= EXTRAPOLATION_LIMIT * rows["largest"]).astype(float)
        p = rows["p"].astype(float)
        scored_p = np.isfinite(p)
        out.append({"estimator": estimator, "cutoff": cutoff, "targets": len(reach),
                    "median_abs_log2": float(np.median(error.fillna(np.inf))),
                    "within_2x": float(np.mean(error <= 1)),
                    "false_never_or_beyond": float(np.mean(said_no & within)) if len(reach) else np.nan,
                    "past_4x_within": float(np.mean(past & within)) if len(reach) else np.nan,
                    "coverage": float(np.mean(covered)), "with_interval": float(np.mean(has)),
                    "brier": float(np.mean((p[scored_p] - label[scored_p]) ** 2)) if scored_p.any() else np.nan,
                    "brier_constant": float(np.mean((base_rate - label[scored_p]) ** 2)) if scored_p.any() else np.nan,
                    "p_scored": float(np.mean(scored_p))})
    return pd.DataFrame(out)


def _by_cutoff(df: pd.DataFrame):
    for estimator, rows in df.groupby("estimator", sort=False):
        yield (estimator, "all"), rows
        for cutoff, part in rows.groupby("cutoff"):
            yield (estimator, f"N/{cutoff}"), part


def summarize_rounds(replayed: pd.DataFrame) -> pd.DataFrame:
    """Per cut-off and all: the median labels bought / labels needed (beyond the cut-off size),
    the median final size / true size, the share
    missed (final size below the truth), the mean rounds; the same for one purchase."""
    out = []
    parts = [("all", replayed), *((f"N/{c}", r) for c, r in replayed.groupby("cutoff"))]
    for cutoff, rows in parts:
        bought = (rows["rounds_final"] - rows["largest"]) / (rows["truth"] - rows["largest"])
        out.append({"cutoff": cutoff, "targets": len(rows),
                    "rounds_bought_over_needed": float(np.median(bought)),
                    "rounds_median_ratio": float(np.median(rows["rounds_final"] / rows["truth"])),
                    "rounds_missed": float(np.mean(rows["rounds_final"] < rows["truth"])),
                    "rounds_over_1.3": float(np.mean(rows["rounds_final"] > 1.3 * rows["truth"])),
                    "rounds_mean": float(rows["rounds"].mean()), "rounds_max": int(rows["rounds"].max()),
                    "single_median_ratio": float(np.median(rows["single_final"] / rows["truth"])),
                    "single_missed": float(np.mean(rows["single_final"] < rows["truth"]))})
    return pd.DataFrame(out)


def sample(table: pd.DataFrame, *, parity: str, size: int | None, seed: int = 0) -> list[lcdb.Curve]:
    """The curves of one parity, or a fixed random sample of `size` of them."""
    every = list(lcdb.curves(table, parity=parity))
    if size is None or size >= len(every):
        return every
    picks = np.random.default_rng(seed).choice(len(every), size=size, replace=False)
    return [every[i] for i in sorted(picks)]


def run(*, curves_n: int | None, family_curves: int | None, rounds: bool = True, processes: int = 2,
        parity: str = "odd") -> dict:
    """Score every estimator; return the summaries as plain data (and the timings)."""
    start = time.time()
    table = lcdb.load()
    ratio, base_rate = constant_ratio(table), reach_rate(table)
    main = sample(table, parity=parity, size=curves_n)
    picks = np.random.default_rng(1).permutation(len(main))[:family_curves or len(main)]
    fam = {(main[i].openmlid, main[i].learner) for i in picks}
    items = [(c, ("auto", "constant", *(FAMILIES if (c.openmlid, c.learner) in fam else ("power_law", "last1"))),
              rounds, ratio) for c in main]
    with Pool(processes) as pool:
        results = pool.map(_work, items, chunksize=1)
    scored = pd.DataFrame([r for s, _ in results for r in s])
    replayed = pd.DataFrame([row for _, rows in results for row in rows])
    families_only = scored[[(o, lr) in fam for o, lr in zip(scored["openmlid"], scored["learner"])]]
    summary = pd.concat([summarize(scored[scored["estimator"].isin(["auto", "constant", "power_law", "last1"])],
                                   base_rate=base_rate).assign(curves="all"),
                         summarize(families_only, base_rate=base_rate).assign(curves="family sample")])
    return {"parity": parity, "curves": len(main), "family_curves": len(fam), "constant_ratio": ratio,
            "reach_base_rate": base_rate, "seconds": round(time.time() - start, 1),
            "summary": summary.to_dict("records"),
            "rounds": summarize_rounds(replayed).to_dict("records") if rounds and len(replayed) else []}


def show(result: dict) -> str:
    """The summaries as text tables."""
    summary = pd.DataFrame(result["summary"])
    lines = [f"LCDB 1.0, {result['parity']} OpenML ids: {result['curves']} curves "
             f"(single families on {result['family_curves']}); constant ratio {result['constant_ratio']:.2f}x; "
             f"{result['seconds']:.0f} s"]
    for name, part in summary.groupby("curves", sort=False):
        lines += ["", f"curves: {name}", part.drop(columns="curves").to_string(index=False, float_format="%.3f")]
    if result["rounds"]:
        lines += ["", "buying in rounds (auto)", pd.DataFrame(result["rounds"]).to_string(index=False,
                                                                                          float_format="%.3f")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fixed samples: 30 curves, the families on 10 of them")
    parser.add_argument("--curves", type=int, default=None, help="a fixed sample of this many curves")
    parser.add_argument("--family-curves", type=int, default=300, help="curves the single families run on")
    parser.add_argument("--no-rounds", action="store_true")
    parser.add_argument("--parity", choices=("odd", "even"), default="odd")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    curves_n = 30 if args.quick else args.curves
    family_curves = 10 if args.quick else args.family_curves
    result = run(curves_n=curves_n, family_curves=family_curves, rounds=not args.no_rounds, parity=args.parity)
    print(show(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
