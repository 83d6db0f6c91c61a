"""Tune callbacks of the runner: the compact progress reporter, and a hook for the caller.

Imported by datavsmath.sweeps.runner only when a sweep starts (it imports ray). Tune pickles its
callbacks into tuner.pkl, so they hold plain data and restart their clocks in `setup`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ray.tune import Callback, ProgressReporter

from datavsmath.sweeps.progress import (
    STATUS_PERIOD_S,
    Progress,
    error_line,
    eta_seconds,
    finished_line,
    status_line,
    trial_name,
)


class SilentReporter(ProgressReporter):
    """Tune's progress reporter below -v 2, where the compact reporter speaks: it reports
    nothing. Without one Tune picks its own, and in a notebook that one clears the cell's
    output when it is made (JupyterNotebookReporter), even at verbosity 0."""

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        return False

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        return None


# Tune's own statuses.
_DONE, _ERROR, _RUNNING, _PENDING = "TERMINATED", "ERROR", "RUNNING", "PENDING"


class CompactReporter(Callback):
    """One line per finished trial and a status line at most every `period_s` seconds;
    errors always print, with the trial's combination.

    costs: estimated seconds per trial, keyed by datavsmath.sweeps.progress.trial_name, for the ETA.
    total: how many trials this run has in all (default: one per entry of `costs`): the fixed
    total of the "[done/total]" lines, where Tune creates its trials as it goes.
    errors_only: print only the error lines (when Tune's own output is on, or at -v 0).
    write: where lines go (default print).
    """

    # A reporter restored from the tuner.pkl of an experiment written before `total` was kept
    # (--resume) has no `total` of its own: it counts the trials Tune has.
    total = 0
    # The trials that had finished or errored when this run started (a resumed sweep's): the
    # pace of the ETA counts only the work done since (None until the first event).
    _before: set[str] | None = None

    def __init__(self, *, costs: Mapping[str, float], total: int | None = None, period_s: float = STATUS_PERIOD_S,
                 errors_only: bool = False, write: Callable[[str], Any] = print) -> None:
        self.costs, self.period_s, self.errors_only, self.write = dict(costs), period_s, errors_only, write
        self.total = len(self.costs) if total is None else total
        self._start = self._last_status = time.monotonic()
        self._done: int | None = None  # counted once, then kept: a scan per trial is quadratic

    def setup(self, *args: Any, **info: Any) -> None:
        self._start = self._last_status = time.monotonic()
        self._done = None  # a restored sweep counts what finished before it
        self._before = None

    def _note_before(self, trials: list, trial: Any = None) -> None:
        if self._before is None:
            self._before = {trial_name(t.config) for t in trials if t.status in (_DONE, _ERROR) and t is not trial}

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._note_before(trials, trial)
        if self._done is None:
            self._done = sum(t.status == _DONE and t is not trial for t in trials)
        self._done += 1
        if not self.errors_only:
            self.write(finished_line(trial.config, trial.last_result or {}, done=self._done,
                                     total=max(self.total, len(trials))))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._note_before(trials, trial)
        self.write(error_line(trial.config, error=f"errored; {_error_of(trial)}"))

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.write(error_line(trial.config, error=f"failed, retrying; {_error_of(trial)}"))

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._note_before(trials)
        now = time.monotonic()
        if self.errors_only or now - self._last_status < self.period_s:
            return
        self._last_status = now
        self.write(status_line(self.progress(trials, elapsed_s=now - self._start)))

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if not self.errors_only:
            self.write(status_line(self.progress(trials, elapsed_s=time.monotonic() - self._start, ended=True)))

    def progress(self, trials: list, *, elapsed_s: float, ended: bool = False) -> Progress:
        """Counts, ETA from the cost model (at the pace of this run: the trials that finished
        before a resume do not count toward it), and the best acc per model so far.

        Until the run ends, the trials Tune has not created yet count as pending, up to `total`
        (an adaptive search's budget), at the mean cost of the cells not run yet; once it has
        ended (a search may stop before its budget), only the trials Tune holds as pending."""
        counts = {_DONE: 0, _ERROR: 0, _RUNNING: 0}
        best: dict[str, float] = {}
        done_cost = errored_cost = before_cost = 0.0
        before = self._before or set()
        for t in trials:
            counts[t.status] = counts.get(t.status, 0) + 1
            name = trial_name(t.config)
            cost = self.costs.get(name, 0.0)
            if t.status == _DONE and name in before:
                before_cost += cost
            if t.status == _DONE:
                done_cost += cost
                acc = (t.last_result or {}).get("acc")
                if acc is not None:
                    model = t.config["model"]
                    best[model] = max(best.get(model, acc), acc)
            elif t.status == _ERROR:
                errored_cost += cost
        if ended:
            pending = counts.get(_PENDING, 0)
            left_cost = 0.0
        else:
            pending = max(self.total, len(trials)) - counts[_DONE] - counts[_ERROR] - counts[_RUNNING]
            left_cost = _left_cost(self.costs, trials, left=pending + counts[_RUNNING])
        return Progress(done=counts[_DONE], running=counts[_RUNNING], pending=pending, errored=counts[_ERROR],
                        elapsed_s=elapsed_s, eta_s=eta_seconds(done_cost=max(done_cost - before_cost, 0.0),
                                                               left_cost=left_cost, elapsed_s=elapsed_s),
                        best_acc=best)


def _left_cost(costs: Mapping[str, float], trials: list, *, left: int) -> float:
    """The estimated cost of the `left` trials still to run: the mean cost of the cells that
    have not finished, times `left` (for a grid, every such cell runs: their sum)."""
    finished = {trial_name(t.config) for t in trials if t.status in (_DONE, _ERROR)}
    unrun = [cost for name, cost in costs.items() if name not in finished]
    return sum(unrun) / len(unrun) * left if unrun and left > 0 else 0.0


ERROR_CHARS = 300  # of the exception's line, in the terminal


def _error_text(trial: Any) -> str:
    """error.txt of the trial: the driver's staging copy (written before Tune calls back),
    else the one in the experiment's storage."""
    staged = getattr(trial, "error_file", None)
    try:
        if staged and Path(staged).is_file():
            return Path(staged).read_text(errors="replace")
        return str(trial.get_error() or "")
    except Exception:  # storage that cannot be read now: the path still says where to look
        return ""


def _error_of(trial: Any) -> str:
    """The exception's line of the trial's error.txt, and where the whole traceback is (the
    trial's folder in the experiment, not Ray's session folder)."""
    lines = [line.strip() for line in _error_text(trial).splitlines() if line.strip()]
    folder = getattr(trial, "path", None)
    where = f"{folder}/error.txt" if folder else "the trial's error.txt"
    return f"{lines[-1][:ERROR_CHARS]} (traceback: {where})" if lines else f"see {where}"


def trial_name_of(trial: Any) -> str:
    """Tune's trial_name_creator and trial_dirname_creator: the `name` the runner's param
    space gives each trial (datavsmath.sweeps.progress.trial_name, `cnn_s0.5_d0.2_random_seed1`). A plain
    function: Tune stores it with every trial's state."""
    return str(trial.config["name"])


class FinishedHook(Callback):
    """Calls `hook(finished, total)` after every trial that finished or errored, e.g. to
    rewrite a live report. The hook decides how often it acts; when the experiment ends its
    `close()`, if it has one, is called, so that nothing it started outlives the run.
    total: the run's trials in all (Tune creates them as it goes; the larger count is passed)."""

    def __init__(self, hook: Callable[[int, int], Any], *, total: int = 0) -> None:
        self.hook, self.total = hook, total
        self._finished: int | None = None

    def setup(self, *args: Any, **info: Any) -> None:
        self._finished = None

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        close = getattr(self.hook, "close", None)
        if callable(close):
            close()

    def _call(self, trials: list, trial: Any) -> None:
        if self._finished is None:
            self._finished = sum(t.status in (_DONE, _ERROR) and t is not trial for t in trials)
        self._finished += 1
        self.hook(self._finished, max(self.total, len(trials)))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._call(trials, trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._call(trials, trial)


class KeepTrialFiles(Callback):
    """Puts a finished or errored trial's files (result.json, progress.csv, params, error
    text, TensorBoard events) into the experiment's storage as soon as it ends, each file all
    or nothing. Tune writes them in the driver's staging folder and copies that folder to the
    storage with its experiment state, every few seconds: a driver killed in between (kill -9)
    lost the trials that had finished since, and `--extend` ran them again. First among the
    callbacks, so that a trial's "[k/n]" line is printed only once its result is stored."""

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        keep_trial_files(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        keep_trial_files(trial)


def keep_trial_files(trial: Any) -> None:
    """Copy the top-level files of `trial`'s staging folder to its folder in storage (no-op
    when both are the same folder or the staging folder is gone)."""
    import pyarrow.fs as pafs

    staging = Path(trial.local_path or "")
    fs, target = trial.storage.storage_filesystem, trial.path
    if not trial.local_path or not staging.is_dir():
        return
    local = isinstance(fs, pafs.LocalFileSystem)
    if local and staging.resolve() == Path(target).resolve():
        return
    fs.create_dir(target, recursive=True)
    for path in sorted(staging.iterdir()):
        if not path.is_file():  # checkpoints go to storage from the trial itself
            continue
        data = path.read_bytes()
        if local:
            tmp = Path(target, f"{path.name}.tmp{os.getpid()}")
            tmp.write_bytes(data)
            tmp.replace(Path(target, path.name))
        else:  # one PUT: all or nothing
            with fs.open_output_stream(f"{target}/{path.name}") as stream:
                stream.write(data)
