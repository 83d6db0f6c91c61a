"""`datavsmath status`: where a running or finished sweep stands, from its files alone.

The ETA needs a cost model, which belongs to the runner: the caller passes one in as
`cost`, a function from a trial (a dict of the AXES) to its estimated seconds.

Whether anything still runs is the driver's lock: while a sweep runs, its driver keeps
`driver.lock` in the experiment directory, JSON {"host": ..., "pid": ..., "started": ...},
and removes it when it exits. Without a lock, or when its process is gone, no trial is
running: Tune's RUNNING trials are shown as interrupted, with the command that resumes them.
"""

from __future__ import annotations

import os
import shlex
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.fs as pafs

from analysis.load import PROBLEMS, load_results, summarize
from analysis.tune_files import parse_json, read_text
from sweeps.spec import AXES, DEFAULT_MAX_TRIALS, SPEC_FILE, SpecError, count_listed, read_stored_spec
from trainables.checks import echo
from trainables.storage import file_type, is_uri, join, open_location

METRIC = "acc"
CostFn = Callable[[Mapping[str, Any]], float]
LOCK_FILE = "driver.lock"
INTERRUPTED = "INTERRUPTED"  # shown for Tune's RUNNING trials when no driver runs them
MAX_NOTES = 20
LOCK_READ_TRIES = 10


@dataclass(frozen=True)
class Driver:
    """The experiment's driver as its lock tells: alive True (running), False (none, or its
    process is gone) or None (this machine cannot tell), and a line that says so."""

    alive: bool | None
    text: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        return True
    except (OverflowError, OSError):
        return False
    return True


def _read_lock(fs: pafs.FileSystem, path: str) -> tuple[Any, str | None]:
    """(the lock's JSON, None) or (None, what is wrong). A driver creates the file and then
    writes it: an empty or cut-short lock is read again for up to LOCK_READ_TRIES x 50 ms."""
    problem: str | None = None
    for _ in range(LOCK_READ_TRIES):
        try:
            lock, problem = parse_json(read_text(fs, path))
        except OSError as exc:
            return None, f"cannot be read ({exc})"
        if problem is None:
            return lock, None
        time.sleep(0.05)
    return None, problem


def driver_state(exp_dir: str | Path, *, host: str | None = None) -> Driver:
    """What `driver.lock` in `exp_dir` (local path or URI) says, checked on this machine.

    host: this machine's name (default socket.gethostname()); a lock of another host
    cannot be checked from here (alive None).
    """
    fs, root = open_location(exp_dir)
    path = f"{root}/{LOCK_FILE}"
    if file_type(fs, path) != pafs.FileType.File:
        if is_uri(exp_dir):  # drivers keep a lock on local storage only
            return Driver(None, f"unknown: no {LOCK_FILE} is kept on URI storage")
        return Driver(False, f"none (no {LOCK_FILE}: no sweep is running this experiment)")
    lock, problem = _read_lock(fs, path)
    lock = lock if isinstance(lock, dict) else {}
    pid, holder = lock.get("pid"), lock.get("host")
    if problem or not isinstance(pid, int) or isinstance(pid, bool) or pid < 1 or not isinstance(holder, str):
        return Driver(None, f"unknown: {LOCK_FILE} is {problem or 'not {host, pid, started}: ' + echo(lock)}")
    started = lock.get("started")
    started = f" since {started[:40] if isinstance(started, str) else echo(started)}" if started is not None else ""
    this = host or socket.gethostname()
    if holder != this:
        return Driver(None, f"pid {pid} on host {echo(holder)}{started} (cannot be checked from {this})")
    if _pid_alive(pid):
        return Driver(True, f"running, pid {pid} on {holder}{started}")
    return Driver(False, f"gone: pid {pid} on {holder}{started} is not running (killed?)")


def resume_hint(exp_dir: str | Path) -> str:
    """The command that resumes the experiment in `exp_dir` from its stored spec.yaml."""
    text = str(exp_dir).rstrip("/")
    if is_uri(text):
        parent, _, name = text.rpartition("/")
        spec = "SPEC"  # load_spec reads local files: the spec the sweep was started with
    else:
        parent, name = str(Path(text).parent), Path(text).name
        spec = join(text, SPEC_FILE)
    parts = ["datavsmath", "sweep", spec, "--name", name, "--storage", parent, "--resume"]
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


def _shown(df: pd.DataFrame, driver: Driver | None) -> pd.DataFrame:
    """The frame as status shows it: RUNNING is INTERRUPTED when no driver runs."""
    if driver is None or driver.alive is not False:
        return df
    return df.assign(status=df["status"].where(df["status"] != "RUNNING", INTERRUPTED))


def _counts_line(summary: dict[str, Any]) -> str:
    counts = summary["status_counts"]
    line = (f"trials: {summary['n_trials']} | {counts.get('TERMINATED', 0)} done, {counts.get('RUNNING', 0)} running, "
            f"{counts.get('PENDING', 0)} pending, {counts.get('ERROR', 0)} errored")
    for status in (INTERRUPTED, "MISSING"):
        if counts.get(status):
            line += f", {counts[status]} {status.lower()}"
    return line


def _trial_text(failure: Mapping[str, Any]) -> str:
    return (f"{failure['model']} sample_frac={failure['sample_frac']} damage_frac={failure['damage_frac']} "
            f"{failure['damage_mode']} seed={failure['seed']}: {failure['error']}")


def _eta_line(df: pd.DataFrame, *, cost: CostFn, driver: Driver | None, resume: str | None) -> list[str]:
    eta = eta_seconds(df, cost=cost)
    if eta != 0 and driver is not None and driver.alive is False:
        return ["ETA: none, no driver is running this sweep" + ("; resume it with:" if resume else ""),
                *([f"  {resume}"] if resume else [])]
    return ["ETA: " + ("unknown (no trial finished yet)" if eta is None
                       else "finished" if eta == 0 else f"{eta / 60:.1f} min")]


def status_lines(df: pd.DataFrame, *, cost: CostFn, driver: Driver | None = None,
                 resume: str | None = None) -> list[str]:
    """Counts per status, the driver, best and worst finished trial, failures, the notes on
    unreadable files (df.attrs["problems"]) and an ETA.

    driver: the experiment's driver (driver_state), None for a results file; when it is not
    alive, RUNNING trials count as interrupted and the ETA line gives `resume`.
    """
    shown = _shown(df, driver)
    summary = summarize(shown)
    lines = [_counts_line(summary)]
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
    return lines + _eta_line(df, cost=cost, driver=driver, resume=resume)


def format_status(results: str | Path, *, cost: CostFn) -> str:
    """The text `datavsmath status RESULTS` prints."""
    df = load_results(results)
    fs, inner = open_location(results)
    if file_type(fs, inner) != pafs.FileType.Directory:
        return "\n".join(status_lines(df, cost=cost))
    return "\n".join(status_lines(df, cost=cost, driver=driver_state(results), resume=resume_hint(results)))
