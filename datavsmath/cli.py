"""`datavsmath`: run sweeps, write reports, summarise experiments.

The one module that joins `sweeps` (running trials) and `analysis` (reading them): a sweep
runs through datavsmath.sweeps.runner, then the result files and the report are written from the
experiment directory by analysis.

User errors (bad spec, bad arguments, missing data, unusable storage) exit 2 with one
message and no traceback; errored trials exit 1 after the results are written; an
interrupted sweep exits 130 and prints the command that resumes it.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, NoReturn

from datavsmath._execute import Outcome, UsageError, check_flags, execute, write_report
from datavsmath._plan import dry_run
from datavsmath.analysis.load import ExperimentFileWarning
from datavsmath.analysis.schema import FRAC_AXES
from datavsmath.analysis.status import format_status
from datavsmath.sweeps import cost
from datavsmath.sweeps.experiment_layout import experiment_path, is_resumable, read_stored_spec
from datavsmath.sweeps.options import SweepError, SweepOptions
from datavsmath.sweeps.ownership import experiment_name
from datavsmath.sweeps.resources import parse_resources
from datavsmath.sweeps.search_keys import is_adaptive
from datavsmath.sweeps.spec import Spec, SpecError, expand_trials
from datavsmath.sweeps.validation import DEFAULT_MAX_TRIALS, check_experiment_name, load_spec, shipped_specs
from datavsmath.trainables.checks import UNIT_OPEN_LEFT, echo
from datavsmath.trainables.damage import DAMAGED_MODES
from datavsmath.trainables.datasets import BUILT_IN, DatasetConfigError, DatasetError, load_dataset
from datavsmath.trainables.datasets.built_in import BUILT_IN_DATASETS, DEFAULT_DATASET
from datavsmath.trainables.datasets.common import ChecksumError, DataNotFoundError
from datavsmath.trainables.models import MODEL_NAMES
from datavsmath.trainables.models.user import UserModel

# The sweep command is the Python API's run (datavsmath._execute) with the lines and exit codes of
# a command; plotly and torch load only where a report or a dry run's GPU count needs them.

EXIT_TRIALS_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# Bad input: one `datavsmath: error:` line, exit 2.
USER_ERRORS = (UsageError, SpecError, SweepError, DataNotFoundError, ChecksumError, DatasetError,
               DatasetConfigError, FileNotFoundError)


def _resource_arg(text: str) -> tuple[str, dict[str, float]]:
    """`MODEL:cpu=2,gpu=0.5` -> ("cnn", {"cpu": 2.0, "gpu": 0.5}); MODEL is any of the sweep's
    models, the spec's own included (checked against the spec once it is read)."""
    model, _, rest = text.partition(":")
    if not model or not rest:
        raise argparse.ArgumentTypeError(
            f"--resources must look like MODEL:cpu=N,gpu=G with MODEL a model of the sweep "
            f"(e.g. {', '.join(MODEL_NAMES)}), got {echo(text)}")
    request = {}
    for part in rest.split(","):
        key, _, value = part.partition("=")
        try:
            request[key] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--resources {echo(text)}: {echo(key)} must be a number, got {echo(value)}") from None
    try:
        return model, parse_resources({model: request}, (model,), where="--resources")[model]
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in {UNIT_OPEN_LEFT}, got {text!r}") from None
    if value not in UNIT_OPEN_LEFT:
        raise argparse.ArgumentTypeError(f"must be in {UNIT_OPEN_LEFT}, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return int(text)


def _add_sweep_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a sweep spec as Ray Tune trials",
                       description=f"Run a spec file or a shipped spec: {', '.join(shipped_specs())}.")
    p.add_argument("spec", help="YAML file or shipped spec name")
    p.add_argument("--storage", default="results",
                   help="where experiments live: folder or s3://... (default ./results)")
    p.add_argument("--name", help="experiment name (default: the spec's name)")
    p.add_argument("--address", help="Ray cluster address (default: start Ray locally)")
    p.add_argument("--data-dir", help="folder with the IDX files of the spec's dataset (Fashion-MNIST, MNIST)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="never download the data; fail if no local copy exists")
    p.add_argument("--dry-run", action="store_true", help="show trials and resource plan, start nothing")
    p.add_argument("--resume", action="store_true", help="continue the interrupted experiment --name")
    p.add_argument("--retry-errored", action="store_true", help="with --resume: retry errored trials")
    p.add_argument("--overwrite", action="store_true", help="delete an existing experiment of that name first")
    p.add_argument("--extend", action="store_true",
                   help="add the spec's new cells to the existing experiment --name; finished cells are kept")
    p.add_argument("--rerun-changed", action="store_true",
                   help="with --extend: run again the finished cells whose settings (overrides) changed")
    p.add_argument("--max-failures", type=_non_negative_int, help="retries per trial (default 2)")
    p.add_argument("--max-trials", type=_non_negative_int, default=DEFAULT_MAX_TRIALS,
                   help=f"refuse a spec that lists more trials than this (default {DEFAULT_MAX_TRIALS})")
    p.add_argument("--gpu-share", type=_fraction, help="GPU fraction per net/xgb trial (default 0.25)")
    p.add_argument("--resources", type=_resource_arg, action="append", default=[], metavar="MODEL:cpu=N,gpu=G",
                   help="override a model's request; repeatable")
    p.add_argument("--no-dashboard", dest="dashboard", action="store_false", help="do not start the Ray dashboard")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="skip the HTML report (the live one and the final one)")
    p.add_argument("--live-every", type=_non_negative_float, default=None, metavar="SECONDS",
                   help="rewrite the live report.html at most this often while the sweep runs (default "
                        "60; also only after a tenth of the trials finished since the last rewrite)")
    p.add_argument("--no-live", dest="live", action="store_false", help="no live report while the sweep runs")
    p.add_argument("-v", "--verbose", type=int, default=1, choices=(0, 1, 2),
                   help="0: errors and the summary; 1 (default): a line per finished trial and a status line "
                        "every 30 s; 2: Tune's own output, with the axes as columns")


def _add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the self-contained HTML report of an experiment")
    p.add_argument("results", help="experiment directory (local or URI), results.parquet/.csv, or a talk-format CSV")
    p.add_argument("--out", help="HTML file to write (default: report.html in the experiment directory, "
                   "or next to the results file)")
    p.add_argument("--reference", action="append", default=None, metavar="CSV",
                   help="results drawn beside this run, e.g. the talk's CSV (frac, exp_name, acc, auc); repeatable")
    p.add_argument("--reference-frac", choices=FRAC_AXES, default="sample_frac",
                   help="the axis of a talk-format CSV's `frac` column (default sample_frac; "
                        "damage_frac for the talk's damage files)")
    p.add_argument("--reference-damage-mode", choices=DAMAGED_MODES, default=None,
                   help="damage mode of a talk-format CSV that has damaged rows and no damage_mode column")
    p.add_argument("--png", action="store_true", help="also write one PNG per figure (kaleido + Chromium)")
    p.add_argument("--current", metavar="K=V,...", help="what you have now, over the spec's report.current: "
                   "model=logreg,n=426,quality=0.9 (default: the best model, all of the training set, quality 1)")
    p.add_argument("--target", metavar="METRIC=V,...", help="what to reach, over the spec's report.target: "
                   "acc=0.95,acc=0.97 (default: targets between the current accuracy and the best measured)")
    p.add_argument("--prices", metavar="K=V,...", help="over the spec's report.prices: "
                   "label=1,audit=0.2,compute_second=0,train.xgb=5 (default label 1, audit 0.2, the rest 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datavsmath", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_sweep_parser(sub)
    _add_report_parser(sub)
    status = sub.add_parser("status", help="summarise a running or finished experiment")
    status.add_argument("results", help="experiment directory (or results.parquet)")
    sub.add_parser("specs", help="list the shipped specs")
    data = sub.add_parser("data", help="find (or download) a built-in dataset and say where it is")
    data.add_argument("--dataset", choices=BUILT_IN, default=DEFAULT_DATASET,
                      help=f"the built-in dataset (default {DEFAULT_DATASET})")
    data.add_argument("--data-dir", help="folder with the dataset's IDX files")
    data.add_argument("--no-download", dest="download", action="store_false", help="never download")
    return parser


def _options(args: argparse.Namespace) -> SweepOptions:
    """The sweep's options from its arguments; SpecError for a --name that is not one safe folder name."""
    name = None if args.name is None else check_experiment_name(args.name, field="--name")
    return SweepOptions(
        storage=args.storage, name=name, address=args.address, data_dir=args.data_dir,
        download=args.download, resume=args.resume, retry_errored=args.retry_errored,
        overwrite=args.overwrite, max_failures=args.max_failures, gpu_share=args.gpu_share,
        resource_overrides=dict(args.resources), dashboard=args.dashboard, verbose=args.verbose,
        extend=args.extend)


def _warning_lines(df: Any) -> list[str]:
    """One line per model and warning category raised inside the trials."""
    from datavsmath.analysis.trial_warnings import warning_lines

    return warning_lines(df)


def _situation_flags(args: argparse.Namespace) -> dict[str, Any]:
    """`report`'s --current, --target and --prices as the situation's keywords."""
    from datavsmath.analysis.situation import from_flags

    try:
        return from_flags(current=args.current, target=args.target, prices=args.prices)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _interrupted(spec: Spec, *, options: SweepOptions, exp_dir: str, resume: str) -> int:
    """Ctrl-C or SIGTERM inside a claimed sweep: the resume command, once Tune has state to resume."""
    if is_resumable(exp_dir):
        print(f"Interrupted. Resume with:\n  {resume}", file=sys.stderr)
    else:
        print("datavsmath: interrupted before the sweep started; nothing to resume, nothing kept: "
              "run the same command again to start it", file=sys.stderr)
    return EXIT_INTERRUPTED


def _cmd_sweep(args: argparse.Namespace, *, exit_now: Callable[[int], NoReturn] | None = None) -> int:
    """exit_now: called with the exit code once the sweep's files are written and its lock is
    released, while an embedded Ray is still up (see `console`); None returns the code."""
    spec = load_spec(args.spec, max_trials=args.max_trials)
    options = _options(args)
    check_flags(options, rerun_changed=args.rerun_changed)
    parse_resources(options.resource_overrides, tuple(spec.models), where="--resources")  # a model not in the sweep
    if args.dry_run:
        print(dry_run(spec, options=options, rerun_changed=args.rerun_changed))
        return 0
    with ExitStack() as ray_alive:  # Ray stops last: a refusal is printed first
        try:
            outcome = execute(spec, options=options, rerun_changed=args.rerun_changed, report=args.report,
                              live=args.live, live_every=args.live_every, ray_alive=ray_alive)
        except KeyboardInterrupt:
            from datavsmath.sweeps.experiment_layout import resume_command

            exp_dir = experiment_path(options.storage, experiment_name(spec, options=options))
            code = _interrupted(spec, options=options, exp_dir=exp_dir,
                                resume=resume_command(spec, name=options.name or spec.name, options=options))
        except USER_ERRORS as exc:
            return _user_error(exc)
        else:
            code = _said(spec, outcome=outcome, options=options)
        if exit_now is not None and options.embedded:
            exit_now(code)
        return code


def _said(spec: Spec, *, outcome: Outcome, options: SweepOptions) -> int:
    """Print how the run went (its files, counts, makespan, the live report's cost, what to do
    next) and return the exit code."""
    if outcome.nothing_to_run:
        return 0
    if outcome.run is None:  # interrupted while Tune ran, nothing written: the resume command
        return _interrupted(spec, options=options, exp_dir=outcome.experiment_dir, resume=outcome.resume)
    for label, path in outcome.files.items():
        print(f"{label}: {path}")
    assert outcome.frame is not None
    print("\n".join([*outcome.answer, *_warning_lines(outcome.frame)]))
    run = outcome.run
    if run.search is not None:  # an adaptive sweep: why it stopped, each crossing with its interval
        print("\n".join(run.search.lines()))
    print(f"trials: {outcome.n_finished} finished, {outcome.n_errored} errored, {len(outcome.frame)} in all")
    if run.lower_bound_s > 0:
        print(f"makespan {run.makespan_s:.1f} s, lower bound {run.lower_bound_s:.1f} s, "
              f"ratio {run.makespan_ratio:.2f}")
    if outcome.live_rewrites:
        print(f"live report: {outcome.live_rewrites} rewrites, {outcome.live_cpu_seconds:.1f} CPU-s in the driver")
    if outcome.interrupted:
        return _interrupted(spec, options=options, exp_dir=outcome.experiment_dir, resume=outcome.resume)
    if outcome.n_errored:
        retry = outcome.resume + ("" if options.extend else " --retry-errored")
        print(f"datavsmath: {outcome.n_errored} trial(s) errored; see results.csv (status ERROR). "
              f"Retry them with:\n  {retry}", file=sys.stderr)
        return EXIT_TRIALS_FAILED
    return 0


def _status_cost(results: str) -> Any:
    """The cost model for `status`'s ETA, with the experiment's own overrides when it has a spec."""
    overrides: Mapping[str, Mapping[str, Any] | UserModel]
    n_train, folds = None, cost.DEFAULT_FOLDS
    try:
        spec = read_stored_spec(results)
        overrides = spec.settings
        n_train = spec.dataset_info.n_train if spec.dataset_info is not None else None
        folds = int(spec.repair_model["folds"])
    except (OSError, ValueError):  # a results file, a folder without a spec, or one load_results reports on
        overrides = {}
    if n_train is None:  # a table, image folder or arrays file, or no spec: the trials say its size
        n_train = _training_rows(results)
    return lambda trial: cost.estimate_seconds(trial, n_train=n_train, overrides=overrides.get(trial["model"]),
                                               repair_folds=folds)


def _training_rows(results: str) -> int:
    """The dataset's training rows as the trials drew them: the largest n_train / sample_frac of
    the trials that report their rows (0, an ETA of nothing, before any did)."""
    from datavsmath.analysis.load import load_results

    try:
        df = load_results(results)
    except (OSError, ValueError):
        return 0
    if "n_train" not in df.columns:
        return 0
    drawn = (df["n_train"].astype("float64") / df["sample_frac"]).dropna()
    return int(round(drawn.max())) if len(drawn) else 0


def _search_left(results: str) -> int:
    """The trials an adaptive search may still propose: its budget less the trials made so
    far, or 0 once it has stopped (or for a grid, which lists every trial already)."""
    try:
        spec = read_stored_spec(results)
    except (OSError, ValueError):  # a results file, or a folder status reports on by itself
        return 0
    if not is_adaptive(spec.search):
        return 0
    from datavsmath.analysis.crossing_estimate import estimators
    from datavsmath.analysis.load import all_parts, load_results
    from datavsmath.sweeps.adaptive_run import latest_summary  # ray.tune

    summary = latest_summary(all_parts(results)[0], spec, trials=expand_trials(spec),
                             estimate=estimators(spec.report)[1])
    if summary is not None and summary.stop_reason:
        return 0
    return max(int(spec.search["budget"]) - len(load_results(results)), 0)


def _cmd_status(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentFileWarning)  # status prints them as its notes
        try:
            text = format_status(args.results, cost=_status_cost(args.results), search_left=_search_left(args.results))
        except (OSError, ValueError) as exc:  # nothing readable there: one line, no traceback
            raise UsageError(str(exc)) from exc
    print(text)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    if args.out is not None and ("\0" in args.out or os.path.isdir(args.out)):
        nul = "\0" in args.out  # an existing folder is named in full; a NUL is shown escaped, cut short
        raise UsageError(f"--out must be the HTML file to write, got {echo(args.out) if nul else repr(args.out)}"
                         + (" (a NUL byte)" if nul else " (a directory)"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExperimentFileWarning)
        path, answer = write_report(args.results, out=args.out, reference=args.reference, png=args.png,
                                    reference_frac_axis=args.reference_frac,
                                    reference_damage_mode=args.reference_damage_mode,
                                    situation=_situation_flags(args))
    for warning in caught:
        if isinstance(warning.message, ExperimentFileWarning):
            for problem in warning.message.problems:
                print(f"datavsmath: warning: {warning.message.exp_dir}: {problem}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    print("\n".join(answer))
    print(f"report: {path}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    data = load_dataset(args.dataset, data_dir=args.data_dir, download=args.download)
    print(f"{BUILT_IN_DATASETS[args.dataset].source.display}: {data.n_train} train + {data.n_test} test images, "
          f"checksums verified, from {data.source}")
    return 0


def _cmd_specs(_: argparse.Namespace) -> int:
    for name in shipped_specs():
        spec = load_spec(name)
        unit = "cells " if is_adaptive(spec.search) else "trials"  # a search runs at most its budget of them
        print(f"{name:20s} {len(expand_trials(spec)):4d} {unit}  {spec.description}")
    return 0


def _user_error(exc: BaseException) -> int:
    print(f"datavsmath: error: {exc}", file=sys.stderr)
    return EXIT_USER_ERROR


def _sigterm_as_ctrl_c(signum: int, frame: Any) -> None:
    """SIGTERM does what Ctrl-C does: Tune's handler, while Tune runs, stops it cleanly."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored or default (a background job): stop here all the same
        raise KeyboardInterrupt


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM handled as Ctrl-C for the duration of the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def main(argv: Sequence[str] | None = None, *, exit_now: Callable[[int], NoReturn] | None = None) -> int:
    """The `datavsmath` command; returns the exit code.

    0 done; 1 some trials errored; 2 bad input (one `datavsmath: error:` line); 130 Ctrl-C
    or SIGTERM, with the command that resumes the sweep once there is one.
    exit_now: how a sweep on an embedded Ray ends the process once everything is written
    (`console` passes `exit_without_teardown`); None (the default, for callers in Python)
    stops Ray and returns."""
    args = build_parser().parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "sweep": functools.partial(_cmd_sweep, exit_now=exit_now), "report": _cmd_report,
        "status": _cmd_status, "specs": _cmd_specs, "data": _cmd_data}
    with _stop_on_sigterm():
        try:
            return handlers[args.command](args)
        except USER_ERRORS as exc:
            return _user_error(exc)
        except KeyboardInterrupt:
            print("datavsmath: interrupted; nothing was written", file=sys.stderr)
            return EXIT_INTERRUPTED


def exit_without_teardown(code: int) -> NoReturn:
    """Flush the output and end the process now, leaving an embedded Ray to the kernel and to
    the runner's reaper, as a killed driver does: ray.shutdown and the interpreter's teardown
    with Ray loaded take ~3 s (benchmarks/HISTORY.md, "fixed cost") and keep nothing that is
    not written already."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            pass
    os._exit(code)


def console() -> NoReturn:
    """The console script `datavsmath`."""
    sys.exit(main(exit_now=exit_without_teardown))


if __name__ == "__main__":
    console()
