"""`datavsmath status`: where a running or finished sweep stands, from its files alone.

The ETA needs a cost model, which belongs to the runner: the caller passes one in as
`cost`, a function from a trial (a dict of the AXES) to its estimated seconds.

Whether anything still runs is the driver's lock: while a sweep runs, its driver keeps
`driver.lock` in the experiment directory, JSON {"host": ..., "pid": ..., "started": ...},
and removes it when it exits. Without a lock, or when its process is gone, no trial is
running: Tune's RUNNING trials are shown as interrupted, with the command that resumes them.
"""

from __future__ import annotations

import shlex
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.fs as pafs

from datavsmath.analysis.load import PROBLEMS, load_results, summarize
from datavsmath.sweeps.experiment_layout import LOCK_FILE, SPEC_FILE, experiment_parts, read_stored_spec
from datavsmath.sweeps.lock import LockError, holder_alive, lock_holder
from datavsmath.sweeps.spec import AXES, SpecError, count_listed
from datavsmath.sweeps.validation import DEFAULT_MAX_TRIALS
from datavsmath.trainables.storage import file_type, is_uri, join, open_location

METRIC = "acc"
CostFn = Callable[[Mapping[str, Any]], float]
INTERRUPTED = "INTERRUPTED"  # shown for Tune's RUNNING trials when no driver runs them
MAX_NOTES = 20


@dataclass(frozen=True)
class Driver:
    """The experiment's driver as its lock tells: alive True (running), False (none, or its
    process is gone) or None (this machine cannot tell), and a line that says so."""

    alive: bool | None
    text: str


def driver_state(exp_dir: str | Path, *, host: str | None = None) -> Driver:
    """What `driver.lock` in `exp_dir` (local path or URI) says, checked on this machine
    (datavsmath.sweeps.lock owns the file and its format).

    host: this machine's name (default socket.gethostname()); a lock of another host
    cannot be checked from here (alive None).
    """
    try:
        holder = lock_holder(exp_dir)
    except LockError as exc:
        return Driver(None, f"unknown: {exc}")
    if holder is None:
        return Driver(False, f"none (no {LOCK_FILE}: no sweep is running this experiment)")
    this = host or socket.gethostname()
    alive = holder_alive(holder, host=this)
    if alive is None:
        return Driver(None, f"{holder.describe()} (cannot be checked from {this})")
    if alive:
        return Driver(True, f"running, {holder.describe()}")
    return Driver(False, f"gone: {holder.describe()} is not running (killed?)")


def resume_hint(exp_dir: str | Path) -> str:
    """The command that finishes the experiment in `exp_dir`: --resume with its stored
    spec.yaml, or for an experiment that was extended, --extend with its latest extension's
    spec (which runs every cell not finished, in every part; --resume would resume the first
    part only)."""
    text = str(exp_dir).rstrip("/")
    parts_run = experiment_parts(text)
    flag = "--extend" if len(parts_run) > 1 else "--resume"
    if is_uri(text):
        parent, _, name = text.rpartition("/")
        spec = "SPEC"  # load_spec reads local files: the spec the sweep was started with
    else:
        parent, name = str(Path(text).parent), Path(text).name
        spec = join(parts_run[-1], SPEC_FILE)
    parts = ["datavsmath", "sweep", spec, "--name", name, "--storage", parent, flag]
    try:
        listed = count_listed(read_stored_spec(text))
        if listed > DEFAULT_MAX_TRIALS:
            parts += ["--max-trials", str(listed)]
    except (FileNotFoundError, SpecError):
        pass
    command = " ".join(p if p == "SPEC" else shlex.quote(p) for p in parts)
    return command + (" (SPEC: the spec it was started with)" if spec == "SPEC" else "")


def _estimated_cost(rows: pd.DataFrame, cost: CostFn) -> float:
    """Seconds the cost model predicts for these trials (0 for none)."""
    return float(sum(cost(r) for r in rows[list(AXES)].to_dict("records")))


def eta_seconds(df: pd.DataFrame, *, cost: CostFn, now: pd.Timestamp | None = None,
                search_left: int = 0) -> float | None:
    """Remaining wall seconds: the unfinished trials' predicted cost at the pace observed so far.

    The pace (predicted cost finished per wall second) already folds in concurrency and
    this machine's speed. search_left: the trials an adaptive search may still propose
    (Tune has not made them yet), each at the finished trials' mean predicted cost. None
    before any trial has finished; 0 when nothing is left.
    """
    done = df[df["status"] == "TERMINATED"]
    left = df[df["status"].isin(["RUNNING", "PENDING", "MISSING"])]
    if left.empty and not search_left:
        return 0.0
    if done.empty or done["start_time"].isna().all():
        return None
    now = now or pd.Timestamp.now(tz=done["end_time"].dt.tz)
    elapsed = (now - df["start_time"].min()).total_seconds()
    done_cost = _estimated_cost(done, cost)
    pace = done_cost / max(elapsed, 1e-9)
    left_cost = _estimated_cost(left, cost) + search_left * done_cost / len(done)
    return left_cost / pace if pace > 0 else None


def _describe(row: pd.Series) -> str:
    return (f"{METRIC}={row[METRIC]:.4f} model={row['model']} sample_frac={row['sample_frac']:g} "
            f"damage_frac={row['damage_frac']:g} damage_mode={row['damage_mode']} seed={row['seed']}")


def _shown(df: pd.DataFrame, driver: Driver | None) -> pd.DataFrame:
    """The frame as status shows it: RUNNING is INTERRUPTED when no driver runs."""
    if driver is None or driver.alive is not False:
        return df
    return df.assign(status=df["status"].where(df["status"] != "RUNNING", INTERRUPTED))


def _counts_line(summary: dict[str, Any], *, search_left: int = 0) -> str:
    counts = summary["status_counts"]
    line = (f"trials: {summary['n_trials']} | {counts.get('TERMINATED', 0)} done, {counts.get('RUNNING', 0)} running, "
            f"{counts.get('PENDING', 0)} pending, {counts.get('ERROR', 0)} errored")
    for status in (INTERRUPTED, "MISSING"):
        if counts.get(status):
            line += f", {counts[status]} {status.lower()}"
    if search_left:
        line += f"; the search may propose {search_left} more (its budget left)"
    return line


def _trial_text(failure: Mapping[str, Any]) -> str:
    return (f"{failure['model']} sample_frac={failure['sample_frac']} damage_frac={failure['damage_frac']} "
            f"{failure['damage_mode']} seed={failure['seed']}: {failure['error']}")


def _eta_line(df: pd.DataFrame, *, cost: CostFn, driver: Driver | None, resume: str | None,
              search_left: int = 0) -> list[str]:
    eta = eta_seconds(df, cost=cost, search_left=search_left)
    if eta != 0 and driver is not None and driver.alive is False:
        return ["ETA: none, no driver is running this sweep" + ("; resume it with:" if resume else ""),
                *([f"  {resume}"] if resume else [])]
    return ["ETA: " + ("unknown (no trial finished yet)" if eta is None
                       else "finished" if eta == 0 else f"{eta / 60:.1f} min")]


def status_lines(df: pd.DataFrame, *, cost: CostFn, driver: Driver | None = None,
                 resume: str | None = None, search_left: int = 0) -> list[str]:
    """Counts per status, the driver, best and worst finished trial, failures, the notes on
    unreadable files (df.attrs["problems"]) and an ETA.

    driver: the experiment's driver (driver_state), None for a results file; when it is not
    alive, RUNNING trials count as interrupted and the ETA line gives `resume`.
    search_left: the trials an adaptive search that has not stopped may still propose.
    """
    shown = _shown(df, driver)
    summary = summarize(shown)
    lines = [_counts_line(summary, search_left=search_left)]
    if driver is not None:
        lines.append(f"driver: {driver.text}")
    done = df[df["status"] == "TERMINATED"].dropna(subset=[METRIC])
    if not done.empty:
        lines.append("best:  " + _describe(done.loc[done[METRIC].idxmax()]))
        lines.append("worst: " + _describe(done.loc[done[METRIC].idxmin()]))
    for failure in summary["failures"]:
        if failure["status"] == "ERROR" or (failure["status"] == "MISSING" and failure["error"]):
            lines.append(f"{'errored' if failure['status'] == 'ERROR' else 'missing'}: {_trial_text(failure)}")
    problems = list(df.attrs.get(PROBLEMS, []))
    lines += [f"note: {p}" for p in problems[:MAX_NOTES]]
    if len(problems) > MAX_NOTES:
        lines.append(f"note: ... and {len(problems) - MAX_NOTES} more problems with the experiment's files")
    return lines + _eta_line(df, cost=cost, driver=driver, resume=resume, search_left=search_left)


def format_status(results: str | Path, *, cost: CostFn, search_left: int = 0) -> str:
    """The text `datavsmath status RESULTS` prints (search_left: as status_lines')."""
    df = load_results(results)
    fs, inner = open_location(results)
    if file_type(fs, inner) != pafs.FileType.Directory:
        return "\n".join(status_lines(df, cost=cost))
    return "\n".join(status_lines(df, cost=cost, driver=driver_state(results), resume=resume_hint(results),
                                   search_left=search_left))
