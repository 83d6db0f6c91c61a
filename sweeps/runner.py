"""The run: `run_sweep` claims the experiment, reads the data once (in a thread, beside
ray.init), starts Ray, preflights the resource plan, writes the experiment's first files and
runs every trial.

Everything that can fail on user input is checked before `ray.init`: the spec (already a
validated Spec here), the experiment name, the storage path and what is already there,
the cluster address, and the data (datavsmath.sweeps.ownership.claim_experiment). The run
leaves the experiment directory to the analysis: the CLI writes the result files and the
report from it afterwards. Ray lives as long as the sweep (datavsmath.sweeps.ray_session).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import Any

from datavsmath.sweeps import adaptive_run, cost, resources
from datavsmath.sweeps.confusion_reference import confusion_reference
from datavsmath.sweeps.experiment_layout import CONFUSION_REFERENCE_FILE
from datavsmath.sweeps.options import SweepError, SweepOptions, SweepRun
from datavsmath.sweeps.ownership import Claim, claim_experiment, start_experiment
from datavsmath.sweeps.ray_session import CONNECT_ENV, cluster_nodes, ray_session
from datavsmath.sweeps.search_keys import is_adaptive
from datavsmath.sweeps.spec import Spec, check_distinct_sizes, expand_trials, project_version
from datavsmath.sweeps.sweep_data import FoundData, check_same_data
from datavsmath.sweeps.tuner import (
    import_tensorboardx_without_torch,
    logger_filters,
    make_tuner,
    plan_for,
    slow_warnings_once,
    trial_rows,
    tune_advice_dropped,
)
from datavsmath.trainables import storage
from datavsmath.trainables.datasets.common import Dataset

# ray, and the trainable (ray.tune), are imported inside the functions that use them (here and in
# ray_session, tuner): importing them costs ~1.5 s, which a refused spec or a --dry-run never pays.


def _makespan_bound(result_grid: Any, *, plan: dict[str, dict[str, float]],
                    nodes: list[resources.Node]) -> tuple[float, float]:
    """(makespan, LB): LB = max(sum of CPU-seconds / cluster CPUs, longest trial)."""
    starts, ends, cpu_seconds, longest = [], [], 0.0, 0.0
    for result in result_grid:
        m = result.metrics or {}
        if "time_total_s" not in m or "timestamp" not in m:
            continue
        duration = float(m["time_total_s"])
        ends.append(float(m["timestamp"]))
        starts.append(float(m["timestamp"]) - duration)
        cpu_seconds += duration * plan.get(result.config.get("model"), {}).get("cpu", 1.0)
        longest = max(longest, duration)
    if not ends:
        return 0.0, 0.0
    total_cpu = sum(n.cpu for n in nodes) or 1.0
    return max(ends) - min(starts), max(cpu_seconds / total_cpu, longest)


@contextmanager
def _interrupts_deferred() -> Iterator[Callable[[], None]]:
    """Ctrl-C (and the CLI's SIGTERM, which acts as one) only noted while the driver starts
    up, and raised as KeyboardInterrupt when the block ends (main thread only), or earlier
    by the function it yields, at a point the caller chooses.

    Start-up imports in two threads at once (ray.init's ~250 modules, the trainable's in the data
    thread). An exception raised by a signal handler inside an import can leave Python's
    import lock held, and the other thread then waits on it for ever: 1 in 7 SIGTERMs in
    the first seconds hung the driver."""

    def stop_if_asked() -> None:
        if noted:
            raise KeyboardInterrupt

    with interrupts_noted() as noted, logger_filters({name: _RayAfterInterrupt(noted) for name in RAY_START_LOGGERS}):
        try:
            yield stop_if_asked
        except Exception:
            # A terminal's Ctrl-C and a notebook's interrupt signal the whole process group: Ray's
            # dashboard, started by ray.init, stops too, and ray.init then fails with its log. That
            # failure is the interrupt's doing: the user gets the interrupt, nothing else.
            if noted:
                raise KeyboardInterrupt from None
            raise
    stop_if_asked()


@contextmanager
def interrupts_noted() -> Iterator[list[int]]:
    """SIGINT (and the CLI's SIGTERM, which acts as one) noted in the list it yields instead
    of raised, inside the block; in a thread other than the main one (where Python delivers
    signals) the list stays empty."""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous)

# Where ray.init reports a child process that stopped (with 20 lines of its log).
RAY_START_LOGGERS = ("ray._private.services", "ray._private.node", "ray._private.worker")


class _RayAfterInterrupt(logging.Filter):
    """Drops Ray's start-up records once an interrupt is noted: they report the children that
    the same signal stopped."""

    def __init__(self, noted: list[int]) -> None:
        super().__init__()
        self.noted = noted

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.noted


def _in_background(fn: Callable[..., Any], *args: Any) -> Future:
    """fn(*args) in a daemon thread, so that a driver stopping during its start-up never
    waits for it."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name="datavsmath-data", daemon=True).start()
    return future


def _import_and_read(found: FoundData) -> Dataset:
    """The dataset, after importing the trainable that Tune will pickle."""
    import datavsmath.trainables.trainable  # noqa: F401  (lazy: ray.tune, ~0.4 s, done in a thread)

    return found.read()


def run_sweep(spec: Spec, *, options: SweepOptions, log: Callable[[str], None] = print,
              claim: Claim | None = None, ray_alive: ExitStack | None = None,
              trials: list[dict[str, Any]] | None = None,
              on_finished: Callable[[int, int], Any] | None = None,
              estimate: Callable[..., Any] | None = None,
              summary_estimate: Callable[..., Any] | None = None,
              earlier: Sequence[Mapping[str, Any]] = ()) -> SweepRun:
    """Validate, claim the experiment, load data once, start Ray, preflight, run every trial.

    claim: the experiment as claim_experiment gave it, when the caller holds it beyond the
    run (the CLI writes the results under it); by default the run claims it for itself.
    ray_alive: a stack of the caller's that stops Ray when it closes, so that a refusal is
    printed before Ray's ~1.5 s shutdown; by default Ray stops when the run returns.
    trials: the cells to run (default: every cell of the spec); on --extend the caller
        passes those not kept from earlier runs (the new Tune experiment extend-N runs them).
    on_finished: called as on_finished(finished, total) after each trial that finished or
        errored, in Tune's loop (a Tune callback, stored in tuner.pkl: it must pickle).
    estimate: an adaptive sweep's crossing estimator (datavsmath.analysis.crossing_estimate.estimate_crossing;
        required when the spec's search is adaptive, unused otherwise): the searcher then
        proposes the trials among the cells, and SweepRun.search says how it ended.
    summary_estimate: the estimator of SweepRun.search's intervals, refitted once when the run
        ends, and the searcher's `confirm` (default `estimate`;
        datavsmath.analysis.crossing_estimate.summary_crossing: more draws).
    earlier: an adaptive sweep's --extend: the trials that finished in the experiment's earlier
        runs (axes, metrics, n_train); its searcher carries them on (AdaptiveSearcher).
    Raises SweepError for user-facing problems, before any trial starts. Errored or
    unfinished trials are not errors here: the experiment directory records them, and the
    caller reads it back (analysis) to write the results and decide the exit code.
    """
    adaptive = is_adaptive(spec.search)
    if adaptive:  # refused before anything is claimed, so nothing needs cleaning up
        if estimate is None:
            raise SweepError("search kind adaptive needs an estimate function (datavsmath.sweep and the "
                             "datavsmath command pass datavsmath.analysis.crossing_estimate.estimate_crossing)")
    if claim is None:
        with claim_experiment(spec, options=options, log=log) as own:
            return run_sweep(spec, options=options, log=log, claim=own, trials=trials, on_finished=on_finished,
                             estimate=estimate, summary_estimate=summary_estimate, earlier=earlier)
    check_distinct_sizes(expand_trials(spec), n_train=claim.data.info.n_train)
    trials = cost.longest_first(expand_trials(spec) if trials is None else trials, overrides=spec.settings,
                                repair_folds=int(spec.repair_model["folds"]),
                                n_train=claim.data.info.n_train)
    if not options.embedded:
        for key, value in CONNECT_ENV.items():  # Ray reads them once, when it is first imported
            os.environ.setdefault(key, value)
    with ExitStack() as own:
        ray_alive = own if ray_alive is None else ray_alive
        with _interrupts_deferred() as stop_if_asked:  # and raised when this block ends
            # Once per sweep, in the driver; trials share it. Read (numpy only for the IDX
            # datasets) in a thread while ray.init starts Ray's processes.
            data_future = _in_background(_import_and_read, claim.data)
            urls = ray_alive.enter_context(ray_session(options, py_modules=spec.py_modules))
            nodes, plan, tuner = _prepare(spec, claim=claim, trials=trials, data_future=data_future,
                                          options=options, stop_if_asked=stop_if_asked, on_finished=on_finished,
                                          estimate=estimate, confirm=summary_estimate, earlier=earlier)
        where = claim.part_dir or claim.experiment_dir
        if adaptive:
            before = f" in all, {len(earlier)} of them run earlier and carried on" if earlier else ""
            log(f"datavsmath: adaptive search of {spec.name!r} over {len(trials)} cells, at most "
                f"{spec.search['budget']} trials{before}, {adaptive_run.trials_at_once(plan, nodes=nodes)} at once "
                f"-> {where}")
        else:
            log(f"datavsmath: {len(trials)} trials of {spec.name!r} -> {where}")
        log("\n".join(resources.describe_plan(plan, nodes=nodes)))
        if urls.get("dashboard"):
            from datavsmath.sweeps.dashboard import login_lines

            log("\n".join(login_lines(urls["dashboard"])))
        log(f"TensorBoard:   tensorboard --logdir {claim.experiment_dir}")
        started = time.time()
        with slow_warnings_once(), tune_advice_dropped():  # Tune's "may be a performance bottleneck", once
            result_grid = tuner.fit()
            wall = time.time() - started
            # Tune reads the trials' metrics when they are first asked for, here or in fit
            makespan, bound = _makespan_bound(result_grid, plan=plan, nodes=nodes)
    search = (adaptive_run.read_summary(claim.part_dir or claim.experiment_dir, spec, trials=trials,
                                        estimate=summary_estimate or estimate)
              if adaptive and estimate is not None else None)
    return SweepRun(experiment_dir=claim.experiment_dir, n_trials=search.proposed if search else len(trials),
                    makespan_s=makespan or wall, lower_bound_s=bound, search=search,
                    trials_at_once=adaptive_run.trials_at_once(plan, nodes=nodes))


def _prepare(spec: Spec, *, claim: Claim, trials: list[dict[str, Any]], data_future: Future,
             options: SweepOptions, stop_if_asked: Callable[[], None],
             on_finished: Callable[[int, int], Any] | None, estimate: Callable[..., Any] | None,
             confirm: Callable[..., Any] | None = None, earlier: Sequence[Mapping[str, Any]] = ()
             ) -> tuple[list[resources.Node], dict[str, dict[str, float]], Any]:
    """With Ray up: preflight the plan, write the experiment's first files, build the Tuner.
    stop_if_asked raises KeyboardInterrupt after a Ctrl-C, so that one before the first
    file is written keeps nothing."""
    nodes = cluster_nodes()
    plan = plan_for(spec, nodes=nodes, options=options)  # InfeasibleRequestError, a SweepError
    data = data_future.result()
    if options.resume or options.extend:
        check_same_data(claim.experiment_dir, data)
    spec = replace(spec, dataset_facts=data.facts())  # spec.yaml records the dataset's name and fingerprint
    modes = {t["damage_mode"] for t in trials}
    reference = (confusion_reference(spec, data, exp_dir=claim.experiment_dir, reuse=options.resume or options.extend)
                 if "confusion" in modes else None)
    stop_if_asked()
    # Only now is the sweep going to run: a refused one leaves nothing behind to block a
    # rerun. The Tuner writes tuner.pkl at once, which makes the experiment resumable.
    claim.part_dir = start_experiment(spec, exp_dir=claim.experiment_dir, options=options)
    claim.started = not options.resume
    transitions: dict[str, Any] = {}
    if spec.transition is not None:
        transitions["matrix"] = [list(row) for row in spec.transition]
    if reference is not None:
        record, fresh = reference
        if fresh:
            storage.write_text(storage.join(claim.part_dir, CONFUSION_REFERENCE_FILE), json.dumps(record) + "\n")
        transitions["confusion"] = record["counts"]
    import_tensorboardx_without_torch()
    search_alg = None
    if is_adaptive(spec.search) and estimate is not None and not options.resume:  # a resumed one is in tuner.pkl
        rows = trial_rows(trials, overrides=spec.trial_overrides)
        configs = adaptive_run.TrialConfigs(rows, version=project_version())
        search_alg = adaptive_run.search_alg(spec, trials=trials, estimate=estimate, confirm=confirm, config_of=configs,
                                             max_concurrent=adaptive_run.trials_at_once(plan, nodes=nodes),
                                             earlier=earlier)
    tuner = make_tuner(spec, exp_dir=claim.part_dir, trials=trials, data=data, plan=plan, options=options,
                        on_finished=on_finished, transitions=transitions, search_alg=search_alg,
                        n_earlier=len(earlier))
    return nodes, plan, tuner
