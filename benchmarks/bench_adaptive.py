"""The adaptive searcher against the full grid, side by side in one run: the same rf cells
(sample fractions x constant damage levels x seeds on Fashion-MNIST), the same target, run once
as every cell (the grid) and once as `search: {kind: adaptive}` with a budget of a quarter of
the grid's trials. Both crossings per damage level come from the same estimator
(datavsmath.analysis.crossing_estimate.summary_crossing: pow3 fit, 95 % wild bootstrap of 400 draws): the
grid's on all of its points, the adaptive one's on the points its search ran (Results.search).

    .venv/bin/python benchmarks/bench_adaptive.py                   # the talk's 28 fractions x 6 levels x 2 seeds
    .venv/bin/python benchmarks/bench_adaptive.py --damage 0 0.2 --trees 10 --target 0.8   # a subset

    .venv/bin/python benchmarks/bench_adaptive.py --storage DIR --reuse-grid --replay   # no trials
    .venv/bin/python benchmarks/bench_adaptive.py --grid-csv benchmarks/results/2026-12-06_bench_adaptive_grid.csv \
        --target 0.8 [--replay]                      # a kept grid's results instead of running the grid

--replay: instead of running the adaptive sweep, replay its searcher on the grid's finished
cells (each proposed cell's result is the grid's; rf with a fixed seed gives the same result
either way), once rating candidate sizes by the delta method (the shipped searcher) and once
taking the size nearest the crossing (the baseline), at two trials at a time. Only trials and
crossings are compared then, not seconds.

Reports, for both: trials, trial-seconds (sum of trial durations, 1 CPU each, as measured on
this machine and load), the cost model's CPU-seconds (sweeps/cost.py: load-independent), wall
time; per damage level both crossings with their intervals, whether the adaptive estimate lies
inside the grid's interval, and the ratio of the interval widths. Goal: every adaptive crossing
inside the grid's interval, intervals no more than 1.2x as wide, at most 25 % of the grid's
trials. Writes benchmarks/results/<date>_bench_adaptive.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import numpy as np

import datavsmath as dvm
from datavsmath.analysis.crossing_estimate import estimate_crossing, summary_crossing
from datavsmath.analysis.estimate_limits import EXTRAPOLATION_LIMIT
from datavsmath.sweeps.adaptive_design import FIRST_SEEDS, FIRST_SIZES, cell_of
from datavsmath.sweeps.cost import estimate_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as U  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
TALK_FRACS = sorted({*(i / 100 for i in range(1, 10)), *(i / 10 for i in range(1, 10)),
                     *(i / 100 for i in range(91, 101))})
DAMAGE = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
N_TRAIN = 60000
GOAL_WIDTH = 1.2
GOAL_TRIALS = 0.25


def spec_of(args: argparse.Namespace, *, budget: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": ["rf"], "sample_frac": [f for f in TALK_FRACS if f <= args.max_frac],
                            "damage_frac": args.damage, "damage_mode": ["constant"], "seeds": list(range(args.seeds))}
    if args.trees is not None:
        spec["overrides"] = {"rf": {"n_estimators": args.trees}}
    if budget is not None:
        spec["search"] = {"kind": "adaptive", "target": {"acc": args.target}, "tolerance": args.tolerance,
                          "budget": budget}
    return spec


def run(spec: dict[str, Any], *, name: str, storage: str, reuse: bool = False) -> dict[str, Any]:
    """Run `spec` as experiment `name` (reuse: read the finished one there instead; its wall
    time is then its trials' span, first start to last end)."""
    started = time.time()
    if reuse:
        results = dvm.load(str(Path(storage) / name))
    else:
        results = dvm.sweep(spec=spec, name=name, storage=storage, report=False, live=False, verbose=0,
                            dashboard=False)
    wall = time.time() - started
    df = results.frame
    done = df[df["status"] == "TERMINATED"]
    if reuse:
        wall = float((done["end_time"].max() - done["start_time"].min()).total_seconds())
    trial_seconds = float((done["end_time"] - done["start_time"]).dt.total_seconds().sum())
    model_seconds = cost_model_seconds(done, overrides=spec.get("overrides", {}).get("rf"))
    return {"results": results, "frame": done, "trials": int(len(done)),
            "errored": int((df["status"] == "ERROR").sum()),
            "trial_seconds": trial_seconds, "model_cpu_seconds": model_seconds, "wall_s": wall}


def from_csv(path: Path, *, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A kept grid's results (benchmarks/results/*_bench_adaptive_grid.csv) as `run` returns them:
    its trials ran in an earlier run, so trial-seconds and wall time are NaN and only the cost
    model's CPU-seconds are given."""
    import pandas as pd

    frame = pd.read_csv(path)
    frame = frame.assign(repair=frame["repair"] if "repair" in frame.columns else "none")
    return {"frame": frame, "trials": int(len(frame)), "trial_seconds": math.nan, "wall_s": math.nan,
            "model_cpu_seconds": cost_model_seconds(frame, overrides=overrides)}


def cost_model_seconds(frame: Any, *, overrides: dict[str, Any] | None) -> float:
    """The cost model's CPU-seconds (sweeps/cost.py, load-independent) of the trials in `frame`."""
    return sum(estimate_seconds(row, n_train=N_TRAIN, overrides=overrides)
               for row in frame[["model", "sample_frac"]].to_dict("records"))


def grid_crossings(frame: Any, *, target: float) -> dict[float, dict[str, float]]:
    out = {}
    for damage, rows in frame.groupby("damage_frac"):
        found = summary_crossing(rows["n_train"].to_numpy(float), rows["acc"].to_numpy(float), target=target)
        out[float(damage)] = {"estimate": found.estimate, "low": found.low, "high": found.high,
                              "p_reachable": found.p_reachable}
    return out


def adaptive_crossings(results: Any) -> tuple[dict[float, dict[str, Any]], str]:
    search = results.search
    out = {}
    for c in search.crossings:
        out[float(dict(c.curve)["damage_frac"])] = {"estimate": c.estimate, "low": c.low, "high": c.high,
                                                    "p_reachable": c.p_reachable, "status": c.status}
    return out, search.stop_reason


AXES = ["model", "sample_frac", "damage_frac", "damage_mode", "repair", "seed"]


def _nearest_only(n: np.ndarray, values: np.ndarray, *, target: float) -> Any:
    """estimate_crossing without its narrowing rating: the searcher then takes the size nearest
    the crossing."""
    return replace(estimate_crossing(n, values, target=target), fitted=None)


def replay(frame: Any, *, target: float, tolerance: float, budget: int, rated: bool,
           at_once: int = 2) -> dict[str, Any]:
    """The adaptive searcher run on the grid's finished cells (frame: the grid's results),
    `at_once` trials in flight, each finishing in the order proposed."""
    from ray.tune.search import Searcher

    from datavsmath.sweeps.adaptive import AdaptiveSearcher

    rows = frame[[*AXES, "acc", "n_train"]].to_dict("records")
    lookup = {cell_of(r): r for r in rows}
    search = AdaptiveSearcher([{k: r[k] for k in AXES} for r in rows], targets={"acc": target},
                              estimate=estimate_crossing if rated else _nearest_only, confirm=summary_crossing,
                              tolerance=tolerance, budget=budget)
    running: list[tuple[str, Any]] = []
    for i in range(10 * len(rows)):
        while len(running) < at_once:
            config = search.suggest(f"t{i}-{len(running)}")
            if config is None or config == Searcher.FINISHED:
                break
            running.append((f"t{i}-{len(running)}", cell_of(config)))
        if not running:
            break
        trial_id, cell = running.pop(0)
        search.on_trial_complete(trial_id, result={"acc": lookup[cell]["acc"], "n_train": lookup[cell]["n_train"]})
    search.estimate = summary_crossing  # the intervals a finished sweep reports (Results.search)
    search.refit()
    summary = search.outcome()
    crossings = {float(dict(c.curve)["damage_frac"]): {"estimate": c.estimate, "low": c.low, "high": c.high,
                                                        "p_reachable": c.p_reachable, "status": c.status}
                 for c in summary.crossings}
    return {"trials": summary.proposed, "stop_reason": summary.stop_reason, "crossings": crossings}


def _n(x: float) -> str:
    return f"{x:,.0f}" if math.isfinite(x) else "inf" if x > 0 else "none"


def compare(grid: dict[float, dict[str, float]], adaptive: dict[float, dict[str, Any]], *,
            largest: float = N_TRAIN) -> list[dict[str, Any]]:
    """Per damage level, both crossings; `inside` when the adaptive estimate lies in the grid's
    interval or both lie beyond EXTRAPOLATION_LIMIT x `largest` (the largest size swept); the
    widths are compared where both are finite and not both beyond that."""
    rows = []
    for damage in sorted(grid):
        g, a = grid[damage], adaptive[damage]
        finite = all(math.isfinite(v) for v in (g["estimate"], g["low"], g["high"], a["estimate"], a["low"], a["high"]))
        both_beyond = min(g["estimate"], a["estimate"]) > EXTRAPOLATION_LIMIT * largest
        inside = bool(finite and g["low"] <= a["estimate"] <= g["high"])
        width = (a["high"] - a["low"]) / (g["high"] - g["low"]) if finite and g["high"] > g["low"] else math.nan
        # Past the limit the report gives no number ("beyond 4× the data swept"): both agree
        # there, and their widths are not compared.
        rows.append({"damage_frac": damage, "grid": g, "adaptive": a, "inside": inside or both_beyond,
                     "width_ratio": width, "comparable": finite and not both_beyond})
    return rows


def goals_of(rows: list[dict[str, Any]], *, trials_ratio: float) -> dict[str, bool]:
    comparable = [r for r in rows if r["comparable"]]
    widest = max((r["width_ratio"] for r in comparable), default=math.nan)
    return {"every crossing inside the grid's interval": all(r["inside"] for r in rows),
            f"intervals <= {GOAL_WIDTH}x as wide (widest {widest:.2f}x, {len(comparable)} comparable)":
                bool(comparable) and widest <= GOAL_WIDTH,
            f"<= {GOAL_TRIALS:.0%} of the grid's trials ({trials_ratio:.0%})": trials_ratio <= GOAL_TRIALS}


def print_crossings(rows: list[dict[str, Any]], *, target: float) -> None:
    print(f"\ncrossing of acc {target} (num_obs, 95 % interval)")
    for row in rows:
        g, a = row["grid"], row["adaptive"]
        print(f"  damage {row['damage_frac']:.1f}: grid {_n(g['estimate'])} [{_n(g['low'])}, {_n(g['high'])}]  "
              f"adaptive {_n(a['estimate'])} [{_n(a['low'])}, {_n(a['high'])}] ({a['status']})  "
              f"inside: {row['inside']}  width ratio: {row['width_ratio']:.2f}")


def report_replay(grid: dict[str, Any], crossings_grid: dict[float, dict[str, float]], *,
                  args: argparse.Namespace, budget: int) -> None:
    """--replay: the searcher, rated and nearest, on the grid's cells; prints and writes JSON."""
    out: dict[str, Any] = {"args": vars(args), "n_grid_cells": grid["trials"], "budget": budget}
    for label, rated in (("rated (shipped)", True), ("nearest (baseline)", False)):
        started = time.time()
        result = replay(grid["frame"], target=args.target, tolerance=args.tolerance, budget=budget, rated=rated)
        rows = compare(crossings_grid, result["crossings"])
        print(f"\nreplay, {label}: {result['trials']} trials ({result['trials'] / grid['trials']:.0%} of the "
              f"grid's), {time.time() - started:.0f} s of refits; stopped: {result['stop_reason']}")
        print_crossings(rows, target=args.target)
        goals = goals_of(rows, trials_ratio=result["trials"] / grid["trials"])
        for goal, met in goals.items():
            print(f"  {'met' if met else 'NOT met'}: {goal}")
        out[label] = {"trials": result["trials"], "stop_reason": result["stop_reason"], "crossings": rows,
                      "goals": goals}
    path = BENCH_DIR / "results" / f"{dt.date.today().isoformat()}_bench_adaptive_replay_acc{args.target:g}.json"
    path.write_text(json.dumps(U.plain_json(out), indent=1, default=str))
    print(f"\nwrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--damage", type=float, nargs="+", default=DAMAGE, help="constant damage levels")
    parser.add_argument("--max-frac", type=float, default=1.0, help="only the talk's fractions up to this")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--trees", type=int, default=None, help="rf's n_estimators (default: the seed model's 25)")
    parser.add_argument("--target", type=float, default=0.85, help="acc target (default 0.85)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help=f"the searcher's tolerance (default: {GOAL_WIDTH} x the grid's narrowest relative "
                             "half-width, so that it stops once its intervals are as narrow as the goal asks)")
    parser.add_argument("--reuse-grid", action="store_true",
                        help="read the grid experiment already in --storage instead of running it again")
    parser.add_argument("--budget-share", type=float, default=GOAL_TRIALS, help="adaptive budget / grid trials")
    parser.add_argument("--grid-csv", type=Path, default=None,
                        help="this grid results CSV (columns model, seed, n_train, acc, damage_frac, damage_mode, "
                             "sample_frac) instead of running the grid; its seconds are then the cost model's only")
    parser.add_argument("--replay", action="store_true",
                        help="replay the searcher on the grid's cells (rated and nearest) instead of running it")
    parser.add_argument("--storage", default=None, help="where both experiments go (default: a temp folder)")
    args = parser.parse_args()
    # A replay runs no trials; a live run against a kept grid still writes its own experiment.
    storage = args.storage or ("" if args.grid_csv and args.replay else mkdtemp(prefix="bench-adaptive-"))
    n_grid = len([f for f in TALK_FRACS if f <= args.max_frac]) * len(args.damage) * args.seeds
    budget = max(1, int(n_grid * args.budget_share))
    first = len(args.damage) * FIRST_SIZES * min(FIRST_SEEDS, args.seeds)
    if budget <= first:
        parser.error(f"the budget ({budget}) leaves nothing after the first design ({first} trials): "
                     "give more sample fractions or seeds, or a larger --budget-share")
    print(f"bench_adaptive: rf, {n_grid} grid cells, adaptive budget {budget}, target acc {args.target}; "
          f"storage {storage}", flush=True)
    try:
        grid = (from_csv(args.grid_csv, overrides=spec_of(args, budget=None).get("overrides", {}).get("rf"))
                if args.grid_csv is not None
                else run(spec_of(args, budget=None), name="grid", storage=storage, reuse=args.reuse_grid))
        print(f"grid: {grid['trials']} trials" + (f" from {args.grid_csv}" if args.grid_csv else
                                                     f", {grid['wall_s']:.0f} s wall"), flush=True)
        crossings_grid = grid_crossings(grid["frame"], target=args.target)
        if args.tolerance is None:
            halves = [(g["high"] - g["low"]) / 2 / g["estimate"] for g in crossings_grid.values()
                      if all(math.isfinite(g[k]) for k in ("estimate", "low", "high"))]
            args.tolerance = round(GOAL_WIDTH * min(halves), 4) if halves else 0.15
        print(f"adaptive tolerance: ±{args.tolerance:.1%}", flush=True)
        if args.replay:
            return report_replay(grid, crossings_grid, args=args, budget=budget)
        adaptive = run(spec_of(args, budget=budget), name="adaptive", storage=storage)
        print(f"adaptive: {adaptive['trials']} trials, {adaptive['wall_s']:.0f} s wall", flush=True)
    finally:
        dvm.shutdown()
    crossings_adaptive, stop_reason = adaptive_crossings(adaptive["results"])
    rows = compare(crossings_grid, crossings_adaptive)

    print(f"\n{'':9s} {'trials':>7s} {'trial-s':>9s} {'model CPU-s':>12s} {'wall s':>8s}")
    for label, r in (("grid", grid), ("adaptive", adaptive)):
        print(f"{label:9s} {r['trials']:7d} {r['trial_seconds']:9.0f} {r['model_cpu_seconds']:12.0f} "
              f"{r['wall_s']:8.0f}")
    trials_ratio = adaptive["trials"] / grid["trials"]
    print(f"ratio     {trials_ratio:7.2f} {adaptive['trial_seconds'] / grid['trial_seconds']:9.2f} "
          f"{adaptive['model_cpu_seconds'] / grid['model_cpu_seconds']:12.2f} "
          f"{adaptive['wall_s'] / grid['wall_s']:8.2f}")
    print(f"adaptive search stopped: {stop_reason}")
    print_crossings(rows, target=args.target)
    goals = goals_of(rows, trials_ratio=trials_ratio)
    print("\ngoals:")
    for goal, met in goals.items():
        print(f"  {'met' if met else 'NOT met'}: {goal}")

    out = BENCH_DIR / "results" / f"{dt.date.today().isoformat()}_bench_adaptive.json"
    out.write_text(json.dumps(U.plain_json({
        "args": vars(args), "n_grid_cells": n_grid, "budget": budget, "stop_reason": stop_reason,
        "runs": {label: {k: v for k, v in r.items() if k not in ("results", "frame")}
                 for label, r in (("grid", grid), ("adaptive", adaptive))},
        "crossings": rows, "goals": goals, "load_average": list(np.round(_loadavg(), 2)),
    }), indent=1, default=str))
    print(f"\nwrote {out}")


def _loadavg() -> tuple[float, float, float]:
    with open("/proc/loadavg") as f:
        one, five, fifteen = f.read().split()[:3]
    return float(one), float(five), float(fifteen)


if __name__ == "__main__":
    main()
