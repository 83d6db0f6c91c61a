"""Run a validated spec the one way the CLI and the Python API share: claim the experiment,
run its trials, write the result files and the report, and say how it went (an Outcome).

Nothing here prints except through the `log` it is given; the CLI turns an Outcome into its
lines and exit code, `datavsmath.sweep` into Results or an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from datavsmath.analysis.load import finished_configs, write_result_files
from datavsmath.sweeps.experiment_layout import is_resumable, read_stored_spec, resume_command
from datavsmath.sweeps.extend import Extension, Finished, changed_message, plan_extension, spec_settings
from datavsmath.sweeps.options import SweepOptions, SweepRun
from datavsmath.sweeps.ownership import claim_experiment
from datavsmath.sweeps.runner import interrupts_noted, run_sweep
from datavsmath.sweeps.search_keys import is_adaptive
from datavsmath.sweeps.spec import Spec, SpecError, expand_trials, project_version


class UsageError(SpecError):
    """Bad input found before a sweep runs (a flag, an argument); the CLI prints it as one
    line and exits 2."""


@dataclass
class Outcome:
    """How a run went. interrupted: some trials neither finished nor errored, or an adaptive
    search has not stopped (Ctrl-C, a kernel stop); started: whether the experiment holds
    Tune's state to resume."""

    experiment_dir: str
    frame: pd.DataFrame | None = None
    files: dict[str, str] = field(default_factory=dict)
    run: SweepRun | None = None
    extension: Extension | None = None
    nothing_to_run: bool = False
    interrupted: bool = False
    live_rewrites: int = 0
    live_cpu_seconds: float = 0.0
    resume: str = ""
    answer: list[str] = field(default_factory=list)

    @property
    def n_finished(self) -> int:
        return 0 if self.frame is None else int((self.frame["status"] == "TERMINATED").sum())

    @property
    def n_errored(self) -> int:
        return 0 if self.frame is None else int((self.frame["status"] == "ERROR").sum())


def check_flags(options: SweepOptions, *, rerun_changed: bool) -> None:
    """Options that only make sense together: SpecError naming them."""
    if options.retry_errored and not options.resume:
        raise SpecError("--retry-errored needs --resume")
    if rerun_changed and not options.extend:
        raise SpecError("--rerun-changed needs --extend")
    if options.extend and (options.resume or options.overwrite):
        raise SpecError("--extend adds cells to an experiment: it cannot be combined with "
                        + ("--resume" if options.resume else "--overwrite"))


def plan_cells(spec: Spec, *, exp_dir: str, rerun_changed: bool) -> Extension:
    """--extend: the spec's cells split into kept (finished in `exp_dir`, same settings), new
    and changed; UsageError for changed cells unless rerun_changed."""
    by_part: dict[str, dict[str, Any]] = {}  # each Tune experiment of exp_dir stores the spec it ran
    finished = []
    for config, where in finished_configs(exp_dir):
        part = where.rsplit("/", 1)[0]
        if part not in by_part:
            try:
                by_part[part] = spec_settings(read_stored_spec(part))
            except (OSError, SpecError):  # no readable spec there: its settings are not compared
                by_part[part] = {}
        finished.append(Finished(config=config, where=where, settings=by_part[part]))
    plan = plan_extension(expand_trials(spec), overrides=spec.trial_overrides, version=project_version(),
                          finished=finished, settings=spec_settings(spec), rerun_changed=rerun_changed)
    if plan.changed and not rerun_changed:
        raise UsageError(changed_message(plan))
    return plan


def unfinished_leftovers(exp_dir: str, *, to_run: list[dict[str, Any]]) -> list[str]:
    """The trial folders (part/folder) that earlier runs left without a result or an error
    (a driver killed mid-trial: params.json and an empty result.json) for cells that run
    again now. They are ignored: the latest part that runs a cell counts."""
    from datavsmath.analysis.tune_files import read_trial_folders
    from datavsmath.sweeps.experiment_layout import experiment_parts
    from datavsmath.sweeps.progress import trial_name
    from datavsmath.trainables.storage import open_location

    again = {trial_name(cell) for cell in to_run}
    left = []
    for part in experiment_parts(exp_dir):
        fs, root = open_location(part)
        for folder in read_trial_folders(fs, root):
            done = any(r.get("done") and "acc" in r for r in folder.results[-1:])
            if folder.params is not None and not done and folder.error_text is None and \
                    trial_name(folder.params) in again:
                left.append(f"{part.rstrip('/').rsplit('/', 1)[-1]}/{folder.name}")
    return left


def _finished_points(exp_dir: str, *, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results rows (axes, metrics, n_train) of the `kept` cells that finished in the
    experiment's earlier runs: an extended adaptive search's points."""
    from datavsmath.analysis.load import load_results
    from datavsmath.sweeps.adaptive_design import cell_of

    frame = load_results(exp_dir)
    keep = {cell_of(c) for c in kept}
    done = frame[frame["status"] == "TERMINATED"].to_dict("records")
    return [row for row in done if cell_of(row) in keep]


def write_report(results: str, **options: Any) -> tuple[str, list[str]]:
    """datavsmath.analysis.report.write_report_and_answer: (the report's path, the answer's
    lines), its input errors as UsageError."""
    from datavsmath.analysis.report import write_report_and_answer  # plotly: ~0.4 s, only when needed

    try:
        path, answer, why = write_report_and_answer(results, **options)
    except (ValueError, RuntimeError, OSError) as exc:  # a bad input file, a folder that cannot be written
        raise UsageError(str(exc)) from exc
    return str(path), list(answer.lines) if answer is not None else [f"No answer: {why}."]


def answer_lines(results: str) -> list[str]:
    """The answer's lines of an experiment without writing its report."""
    from datavsmath.analysis.report import experiment_answer  # plotly: ~0.4 s, only when needed

    try:
        answer, why = experiment_answer(results)
    except (ValueError, OSError) as exc:
        return [f"No answer: {exc}."]
    return list(answer.lines) if answer is not None else [f"No answer: {why}."]


def _live_report(exp_dir: str, *, report: bool, live: bool, live_every: float | None) -> Any:
    if not (report and live):
        return None
    from datavsmath.analysis.live import EVERY_S, LiveReport

    return LiveReport(exp_dir, every_s=EVERY_S if live_every is None else live_every)


@dataclass
class _Hooks:
    """Both the live report and a progress display after each finished trial (pickled into
    tuner.pkl with the other callbacks, so it holds only what pickles)."""

    hooks: tuple[Any, ...]

    def __call__(self, finished: int, total: int) -> None:
        for hook in self.hooks:
            hook(finished, total)

    def close(self) -> None:
        for hook in self.hooks:
            close = getattr(hook, "close", None)
            if callable(close):
                close()


def execute(spec: Spec, *, options: SweepOptions, rerun_changed: bool = False, report: bool = True,
            live: bool = True, live_every: float | None = None, log: Callable[[str], None] = print,
            on_finished: Callable[[int, int], Any] | None = None, ray_alive: ExitStack | None = None) -> Outcome:
    """Claim the experiment, run it, write results.parquet/.csv, seed_results.csv and (report)
    the report. An interrupt (KeyboardInterrupt) during the run gives an Outcome with
    interrupted True once Tune has state to resume; before that it propagates (nothing kept).

    log: the runner's and this function's lines; on_finished(finished, total): after each
    finished or errored trial; ray_alive: the caller's stack that keeps Ray up (default: Ray
    stops when the run returns, unless it was up before). An adaptive spec's searcher refits
    datavsmath.analysis.crossing_estimate.estimate_crossing with the spec's report curve; Outcome.run.search
    says how it ended, with the intervals of crossing_estimate.summary_crossing.
    On --extend of an adaptive spec, the search carries on from the cells the experiment ran
    (kept), proposing among those it has not: its budget counts them.
    Raises SpecError, SweepError, UsageError, DataNotFoundError, DatasetError before any trial
    runs."""
    estimate: Callable[..., Any] | None = None
    summary_estimate: Callable[..., Any] | None = None
    if is_adaptive(spec.search):
        from datavsmath.analysis import crossing_estimate  # scipy's fits: only for an adaptive sweep

        estimate, summary_estimate = crossing_estimate.estimators(spec.report)  # the report's curve
    with claim_experiment(spec, options=options, log=log) as claim:  # until the results are written
        exp_dir = claim.experiment_dir
        outcome = Outcome(experiment_dir=exp_dir, resume=resume_command(spec, name=options.name or spec.name,
                                                                        options=options))
        trials = None
        earlier: list[dict[str, Any]] = []
        if options.extend:
            plan = outcome.extension = plan_cells(spec, exp_dir=exp_dir, rerun_changed=rerun_changed)
            rerun = f", {len(plan.changed)} of them changed and run again" if plan.changed else ""
            log(f"--extend {exp_dir}: {len(plan.kept)} cells kept (finished earlier), {len(plan.new)} to run{rerun}")
            left = unfinished_leftovers(exp_dir, to_run=plan.new)
            if left:
                log(f"datavsmath: note: {len(left)} trial folder(s) of an interrupted run hold no result "
                    f"(e.g. {left[0]}): ignored, their cells run again")
            if not plan.new:
                log("datavsmath: nothing to run; the experiment already holds every cell of the spec")
                outcome.nothing_to_run = True
                return outcome
            trials = plan.new
            if is_adaptive(spec.search):
                earlier = _finished_points(exp_dir, kept=plan.kept)
        live_report = _live_report(exp_dir, report=report, live=live, live_every=live_every)
        hooks = tuple(h for h in (live_report, on_finished) if h is not None)
        try:
            outcome.run = run_sweep(spec, options=options, claim=claim, ray_alive=ray_alive, trials=trials,
                                    log=log, on_finished=_Hooks(hooks) if hooks else None, estimate=estimate,
                                    summary_estimate=summary_estimate, earlier=earlier)
        except KeyboardInterrupt:
            if not is_resumable(exp_dir):
                raise
            outcome.interrupted = True
        if live_report is not None:
            live_report.close()  # a rewrite still running must not replace the final report
            outcome.live_rewrites, outcome.live_cpu_seconds = live_report.rewrites, live_report.cpu_seconds
        if outcome.interrupted and outcome.run is None:
            return outcome
        # A second Ctrl-C must not cut the files short (it raised a bare KeyboardInterrupt from
        # inside pandas): noted, the files are written whole, then the caller reports the interrupt.
        with interrupts_noted():
            # The experiment directory is the source of truth: after Ctrl-C, Tune's own result grid
            # counts never-started trials as terminated.
            outcome.files, outcome.frame = write_result_files(exp_dir)
            if report:
                outcome.files["report"], outcome.answer = write_report(exp_dir)
            else:
                outcome.answer = answer_lines(exp_dir)
        # An adaptive search stopped before its searcher said why may have no unfinished trial,
        # nor a saved searcher state yet (an interrupt before Tune's first save).
        search = outcome.run.search if outcome.run is not None else None
        unsettled = is_adaptive(spec.search) and (search is None or not search.stop_reason)
        outcome.interrupted = outcome.n_finished + outcome.n_errored < len(outcome.frame) or unsettled
        return outcome

