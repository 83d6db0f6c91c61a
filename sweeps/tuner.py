"""Building a sweep's Tuner: the param space (one grid over the trials' names), the resources
per model, the callbacks, Tune's output and its experiment-state period."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from datavsmath.sweeps import cost, resources
from datavsmath.sweeps.options import DEFAULT_MAX_FAILURES, SweepOptions
from datavsmath.sweeps.progress import STATUS_PERIOD_S, trial_name
from datavsmath.sweeps.search_keys import is_adaptive
from datavsmath.sweeps.spec import AXES, AXIS_DEFAULTS, Spec, project_version

EXPERIMENT_STATE_PERIOD_S = 2
# Each save of Tune's experiment state costs time in proportion to the trials (~11 MB and
# 0.1 s at 500 trivial trials, 111 MB at 5,000; benchmarks/HISTORY.md, bench_scale): above this
# many trials Tune's own "auto" period (at least 10 s, saves at most ~5 % of the time) is used.
FIXED_STATE_PERIOD_MAX_TRIALS = 500
STATE_PERIOD_ENV = "TUNE_GLOBAL_CHECKPOINT_S"
_USER_STATE_PERIOD = os.environ.get(STATE_PERIOD_ENV)  # a user's own setting wins


@dataclass(frozen=True, eq=False)  # hashed by identity: it holds a dict
class _Pick:
    """sample_from callable: one field of the trial named `config["name"]`, so the config keeps
    the project's flat names (model, sample_frac, ...) while one grid enumerates a union."""

    trials: Mapping[str, dict[str, Any]]
    key: str

    def __call__(self, config: dict[str, Any]) -> Any:
        # Ray 2.60 passes the partly resolved config dict (a spec object is deprecated and warns)
        return self.trials[config["name"]][self.key]


def trial_rows(trials: list[dict[str, Any]], *, overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name (datavsmath.sweeps.progress.trial_name) -> the trial's flat fields: `trial` (its index
    in `trials`, the submission order), the AXES and its model's overrides."""
    return {trial_name(t): {"trial": i, **AXIS_DEFAULTS, **t, "overrides": dict(overrides.get(t["model"], {}))}
            for i, t in enumerate(trials)}


def build_param_space(trials: list[dict[str, Any]], *, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One grid over the trials' names (datavsmath.sweeps.progress.trial_name, in submission order) with
    flat per-trial fields: `trial` (the index in that order), the AXES and the overrides.

    The grid is over names because Tune names a trial (trial_name_creator) before it resolves
    sample_from values: the name is then the only field already there, and a name creator that
    held the trials instead would be stored with every trial's state (quadratic in size)."""
    from ray import tune

    rows = trial_rows(trials, overrides=overrides)
    space: dict[str, Any] = {"name": tune.grid_search(list(rows))}
    for key in ("trial", *AXES, "overrides"):
        space[key] = tune.sample_from(_Pick(rows, key))
    space["version"] = project_version()  # a cell run by another version is not kept by --extend
    return space


def _resources_fn(plan: dict[str, dict[str, float]]) -> Callable[[dict], Any]:
    from ray import tune

    factories = {m: tune.PlacementGroupFactory([resources.placement_bundle(r)]) for m, r in plan.items()}
    return _ResourcesByModel(factories)


@dataclass(frozen=True)
class _ResourcesByModel:
    factories: dict[str, Any]

    def __call__(self, config: dict[str, Any]) -> Any:
        return self.factories[config["model"]]


def plan_for(spec: Spec, *, nodes: list[resources.Node], options: SweepOptions) -> dict[str, dict[str, float]]:
    """Each model's resource request on `nodes` (--gpu-share and --resources over the spec's),
    checked as the run and its dry run both check it: InfeasibleRequestError (a SweepError)
    unless every request is one Ray accepts and fits a node (resources.check_feasible)."""
    gpu_share = options.gpu_share or spec.gpu_share or resources.DEFAULT_GPU_SHARE
    merged = {**spec.resources, **options.resource_overrides}
    plan = resources.plan_requests(spec.models, nodes=nodes, gpu_share=gpu_share, overrides=merged,
                                   gpu_models=resources.gpu_capable(spec.models))
    resources.check_feasible(plan, nodes=nodes)
    return plan


def state_period(n_trials: int) -> str:
    """Tune's experiment-state period (TUNE_GLOBAL_CHECKPOINT_S) for a sweep of `n_trials`:
    every EXPERIMENT_STATE_PERIOD_S seconds, so a killed driver forgets at most a few seconds of
    finished trials (Tune's default waits 10 s or more), up to FIXED_STATE_PERIOD_MAX_TRIALS
    trials; "auto" above, where saving that often would take a growing share of the sweep."""
    if _USER_STATE_PERIOD is not None:
        return _USER_STATE_PERIOD
    return str(EXPERIMENT_STATE_PERIOD_S) if n_trials <= FIXED_STATE_PERIOD_MAX_TRIALS else "auto"


def _callbacks(spec: Spec, *, trials: list[dict[str, Any]], options: SweepOptions, n_train: int,
               on_finished: Callable[[int, int], Any] | None, n_earlier: int = 0) -> list[Any]:
    """The compact reporter (every line at -v 1, errors only at -v 0 and -v 2, where Tune's
    own output is on), and the caller's hook after each finished trial. n_train: the
    dataset's training-set size (the cost model's); n_earlier: an extended adaptive search's
    trials from earlier runs (its lines count up to the budget left)."""
    from datavsmath.sweeps.tune_callbacks import CompactReporter, FinishedHook, KeepTrialFiles

    costs = {trial_name(t): cost.estimate_seconds(t, n_train=n_train, overrides=spec.settings.get(t["model"]),
                                                  repair_folds=int(spec.repair_model["folds"]))
             for t in trials}
    # An adaptive search runs at most its budget of the cells: the lines count up to that.
    total = (min(len(trials), max(int(spec.search["budget"]) - n_earlier, 0)) if is_adaptive(spec.search)
             else len(trials))
    # A trial's files reach the storage before its line is printed (kill -9 loses no finished trial).
    callbacks: list[Any] = [KeepTrialFiles(),
                            CompactReporter(costs=costs, total=total, errors_only=options.verbose != 1)]
    if on_finished is not None:
        callbacks.append(FinishedHook(on_finished, total=total))
    return callbacks


def _tune_output(options: SweepOptions) -> tuple[int, Any]:
    """(Tune's verbosity, its progress reporter) for -v: silent below 2, where the compact
    reporter speaks; at 2 Tune's status table with the axes as columns.

    Tune's classic output engine, because the newer one prints its own header and a
    TensorBoard hint into Ray's session folder even at verbosity 0, and names no axes."""
    from ray import tune

    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # read by Tune when the Tuner is built and run
    if options.verbose < 2:
        logging.getLogger("ray.tune").setLevel(logging.WARNING)  # "Wrote the latest version of ..." at the end
        from datavsmath.sweeps.tune_callbacks import SilentReporter

        return 0, SilentReporter()
    return 2, tune.CLIReporter(parameter_columns=list(AXES), metric_columns=["epoch", "acc", "auc", "time_total_s"],
                               max_report_frequency=int(STATUS_PERIOD_S))


def make_tuner(spec: Spec, *, exp_dir: str, trials: list[dict[str, Any]], data: Any,
                plan: dict[str, dict[str, float]], options: SweepOptions,
                on_finished: Callable[[int, int], Any] | None = None,
                transitions: dict[str, Any] | None = None, search_alg: Any = None, n_earlier: int = 0) -> Any:
    """The Tuner for `exp_dir` (a new experiment, an extension, or one restored on --resume,
    which keeps the callbacks, names and searcher it was started with: Tune stores them in
    tuner.pkl, and restores the searcher's state from its searcher-state file).

    search_alg: an adaptive sweep's searcher (datavsmath.sweeps.adaptive_run.search_alg), which
    proposes the trials among `trials`; None runs every one of them (the grid). n_earlier: the
    trials an extended adaptive search counts toward its budget from earlier runs."""
    from ray import tune

    from datavsmath.sweeps.tune_callbacks import trial_name_of
    from datavsmath.trainables.trainable import train_trial

    trainable = tune.with_resources(
        tune.with_parameters(train_trial, data=data, checkpoint_period_s=spec.checkpoint_period_s,
                             transitions=transitions or {}, repair_model=spec.repair_settings,
                             user_models=spec.user_models, damage_test=spec.damage_test),
        _resources_fn(plan))
    verbose, reporter = _tune_output(options)
    os.environ[STATE_PERIOD_ENV] = state_period(len(trials))  # read by Tune when fit() starts
    if options.resume:
        return tune.Tuner.restore(exp_dir, trainable=trainable, resume_unfinished=True,
                                  resume_errored=options.retry_errored,
                                  param_space=_restored_param_space(spec, trials=trials))
    max_failures = options.max_failures
    if max_failures is None:
        max_failures = spec.max_failures if spec.max_failures is not None else DEFAULT_MAX_FAILURES
    storage_root, name = exp_dir.rsplit("/", 1)
    run_config = tune.RunConfig(
        name=name, storage_path=storage_root, verbose=verbose, progress_reporter=reporter,
        callbacks=_callbacks(spec, trials=trials, options=options, n_train=data.n_train, on_finished=on_finished,
                             n_earlier=n_earlier),
        failure_config=tune.FailureConfig(max_failures=max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )
    # A searcher gives each trial its whole config, until it says FINISHED.
    searched = {} if search_alg is None else {"search_alg": search_alg, "num_samples": -1}
    tune_config = tune.TuneConfig(reuse_actors=True, trial_name_creator=trial_name_of,
                                  trial_dirname_creator=trial_name_of, **searched)
    if search_alg is not None:
        return tune.Tuner(trainable, tune_config=tune_config, run_config=run_config)
    return tune.Tuner(trainable, param_space=build_param_space(trials, overrides=spec.trial_overrides),
                      tune_config=tune_config, run_config=run_config)


def _restored_param_space(spec: Spec, *, trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The param space a resumed grid sweep gives Tuner.restore again: the same one it started
    with (build_param_space of the same trials), None for an adaptive one (its searcher,
    restored from tuner.pkl, gives whole configs).

    Tune keeps no param space in tuner.pkl: its sample_from fields are stored as placeholders,
    resolved by the param space given to this run. The trials the grid had not yet created
    when the sweep stopped (Tune creates at most TUNE_MAX_PENDING_TRIALS_PG, 200, ahead) are
    created on resume, and without it their `model` is a placeholder (a KeyError in
    _ResourcesByModel)."""
    if is_adaptive(spec.search):
        return None
    return build_param_space(trials, overrides=spec.trial_overrides)


def import_tensorboardx_without_torch() -> None:
    """Import tensorboardX, which Tune's TensorBoard logger uses in the driver, with torch
    hidden from it: it imports torch only to accept torch tensors, which Tune never logs,
    and torch is ~470 MB and ~1.6 s of the driver's start (benchmarks/HISTORY.md, "fixed
    cost"). A driver that has torch already (a user's module was checked) is left as it is;
    so is a tensorboardX that fails to import (Tune then writes no TensorBoard files)."""
    if "torch" in sys.modules or "tensorboardX" in sys.modules:
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError meanwhile
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        pass
    finally:
        if "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]


SLOW_LOGGER = "ray.tune.utils.util"  # Tune's warn_if_slow logs there
SLOW_MARK = "which may be a performance bottleneck"


class _OnceFilter(logging.Filter):
    """Lets Tune's first "may be a performance bottleneck" warning of a sweep through, and
    no later one (a notebook showed 8 of them, for one slow callback)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if SLOW_MARK not in record.getMessage():
            return True
        self.seen += 1
        return self.seen == 1


@contextmanager
def logger_filters(filters: Mapping[str, logging.Filter]) -> Iterator[None]:
    """Inside the block, each logger named in `filters` has its filter; they go again when
    it ends, however it ends."""
    for name, kept in filters.items():
        logging.getLogger(name).addFilter(kept)
    try:
        yield
    finally:
        for name, kept in filters.items():
            logging.getLogger(name).removeFilter(kept)


@contextmanager
def slow_warnings_once() -> Iterator[_OnceFilter]:
    """Inside the block (a sweep's tuner.fit), Tune's slow-operation warning is shown once."""
    once = _OnceFilter()
    with logger_filters({SLOW_LOGGER: once}):
        yield once

# Tune's own words on an interrupt, which the sweep says its way (one resume line): its stop
# notice, its restore advice (Tuner.restore(...) in Python) and the list of trials that had
# not reported.
TUNE_ADVICE = {"ray.tune.tune": ("Stop signal received", "has been interrupted, but the most recent state was saved"),
               "ray.tune.analysis.experiment_analysis": ("Failed to fetch metrics for ",)}


class _DropFilter(logging.Filter):
    """Drops the records whose message holds one of `marks`."""

    def __init__(self, marks: tuple[str, ...]) -> None:
        super().__init__()
        self.marks = marks

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(mark in message for mark in self.marks)


@contextmanager
def tune_advice_dropped() -> Iterator[None]:
    """Inside the block (a sweep's tuner.fit), TUNE_ADVICE is not shown."""
    with logger_filters({name: _DropFilter(marks) for name, marks in TUNE_ADVICE.items()}):
        yield
