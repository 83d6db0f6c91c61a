"""`datavsmath status`: where a running or finished sweep stands, from its files alone.

The ETA needs a cost model, which belongs to the runner: the caller passes one in as
`cost`, a function from a trial (a dict of the AXES) to its estimated seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.load import load_results, summarize
from sweeps.spec import AXES

METRIC = "acc"
CostFn = Callable[[Mapping[str, Any]], float]


def _estimated_cost(rows: pd.DataFrame, cost: CostFn) -> float:
    """Seconds the cost model predicts for these trials (0 for none)."""
    return float(sum(cost(r) for r in rows[list(AXES)].to_dict("records")))


def eta_seconds(df: pd.DataFrame, *, cost: CostFn, now: pd.Timestamp | None = None) -> float | None:
    """Remaining wall seconds: the unfinished trials' predicted cost at the pace observed so far.

    The pace (predicted cost finished per wall second) already folds in concurrency and
    this machine's speed. None before any trial has finished; 0 when nothing is left.
    """
    done = df[df["status"] == "TERMINATED"]
    left = df[df["status"].isin(["RUNNING", "PENDING", "MISSING"])]
    if left.empty:
        return 0.0
    if done.empty or done["start_time"].isna().all():
        return None
    now = now or pd.Timestamp.now(tz=done["end_time"].dt.tz)
    elapsed = (now - df["start_time"].min()).total_seconds()
    pace = _estimated_cost(done, cost) / max(elapsed, 1e-9)
    return _estimated_cost(left, cost) / pace if pace > 0 else None


def _describe(row: pd.Series) -> str:
    return (f"{METRIC}={row[METRIC]:.4f} model={row['model']} sample_frac={row['sample_frac']:g} "
            f"damage_frac={row['damage_frac']:g} damage_mode={row['damage_mode']} seed={row['seed']}")


def status_lines(df: pd.DataFrame, *, cost: CostFn) -> list[str]:
    """Counts per status, best and worst finished trial, failures and an ETA."""
    summary = summarize(df)
    counts = summary["status_counts"]
    lines = [f"trials: {summary['n_trials']} | {counts.get('TERMINATED', 0)} done, "
             f"{counts.get('RUNNING', 0)} running, {counts.get('PENDING', 0) + counts.get('MISSING', 0)} pending, "
             f"{counts.get('ERROR', 0)} errored"]
    done = df[df["status"] == "TERMINATED"].dropna(subset=[METRIC])
    if not done.empty:
        lines.append("best:  " + _describe(done.loc[done[METRIC].idxmax()]))
        lines.append("worst: " + _describe(done.loc[done[METRIC].idxmin()]))
    for failure in summary["failures"]:
        if failure["status"] == "ERROR":
            lines.append(f"errored: {failure['model']} sample_frac={failure['sample_frac']} "
                         f"damage_frac={failure['damage_frac']} {failure['damage_mode']} seed={failure['seed']}: "
                         f"{failure['error']}")
    eta = eta_seconds(df, cost=cost)
    lines.append("ETA: " + ("unknown (no trial finished yet)" if eta is None
                            else "finished" if eta == 0 else f"{eta / 60:.1f} min"))
    return lines


def format_status(results: str | Path, *, cost: CostFn) -> str:
    """The text `datavsmath status RESULTS` prints."""
    return "\n".join(status_lines(load_results(results), cost=cost))
