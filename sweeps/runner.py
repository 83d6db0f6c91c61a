"""The Tune runner: the only place that starts Ray and builds a Tuner.

Everything that can fail on user input is checked before `ray.init`: the spec (already a
validated Spec here), the storage path, the experiment name, and the data. The runner
leaves the experiment directory to the analysis: the CLI writes the result files and the
report from it afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeps import cost, resources
from sweeps.spec import AXES, SPEC_FILE, Spec, dump_spec, expand_trials, read_stored_spec, spec_to_dict
from trainables import storage
from trainables.allocator import GLIBC_TUNABLES_ENV, worker_glibc_tunables
from trainables.data import FASHION_MNIST, Dataset, find_data_root, read_fashion_mnist
from trainables.faults import FAULT_ENV

# ray, and the trainable (torch), are imported inside the functions that use them: importing
# them costs ~4 s, which a refused spec or a --dry-run never pays.

DEFAULT_STORAGE = "results"
DEFAULT_MAX_FAILURES = 2
DASHBOARD_HOST = "127.0.0.1"  # never expose the dashboard: Ray has no authentication
EXPERIMENT_STATE_PERIOD_S = 2
TUNER_FILE = "tuner.pkl"  # Tune's own: an experiment that Tuner.restore can continue has one


class SweepError(RuntimeError):
    """A user-facing problem that stops the sweep; the CLI prints it without a traceback."""


@dataclass(frozen=True)
class SweepOptions:
    """How to run a spec. Paths may be local or pyarrow URIs (s3://, gs://)."""

    storage: str = DEFAULT_STORAGE
    name: str | None = None
    address: str | None = None
    data_dir: str | None = None
    download: bool = True
    resume: bool = False
    retry_errored: bool = False
    overwrite: bool = False
    max_failures: int | None = None
    gpu_share: float | None = None
    resource_overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    dashboard: bool = True
    verbose: int = 1


@dataclass(frozen=True)
class SweepRun:
    """What `run_sweep` did: where the experiment is, how many trials it holds, and how
    long Tune took against the makespan's lower bound (0 when no trial reported)."""

    experiment_dir: str
    n_trials: int
    makespan_s: float
    lower_bound_s: float

    @property
    def makespan_ratio(self) -> float:
        return self.makespan_s / self.lower_bound_s if self.lower_bound_s > 0 else float("nan")


# ---------------------------------------------------------------- storage (before ray.init)

def experiment_path(storage_path: str, name: str) -> str:
    """The Tune experiment directory `<storage>/<name>` (absolute for local paths)."""
    if storage.is_uri(storage_path):
        return storage.join(storage_path, name)
    return str(Path(storage_path).expanduser().resolve() / name)


def _filesystem(path: str) -> tuple[Any, str]:
    try:
        return storage.open_location(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError on bad URIs or credentials
        raise SweepError(f"storage path {path!r} cannot be opened: {exc}") from exc


def check_storage(storage_path: str) -> None:
    """The storage path must be a writable folder (created if missing)."""
    if not storage.is_uri(storage_path):
        folder = Path(storage_path).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"storage path {storage_path!r} cannot be created: {exc.strerror}") from exc
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise SweepError(f"storage path {storage_path!r} is not a writable folder")
        return
    fs, root = _filesystem(storage_path)
    try:
        fs.create_dir(root, recursive=True)
        fs.get_file_info(root)
    except Exception as exc:
        raise SweepError(f"storage path {storage_path!r} is not reachable or writable: {exc}") from exc


def _remove_tree(path: str) -> None:
    if not storage.is_uri(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    fs, inner = _filesystem(path)
    fs.delete_dir(inner)


def resume_command(spec: Spec, *, name: str, options: SweepOptions) -> str:
    """The exact command that continues this sweep."""
    parts = [Path(sys.argv[0]).name if sys.argv and sys.argv[0].endswith("datavsmath") else "datavsmath",
             "sweep", spec.source or spec.name, "--name", name, "--storage", options.storage, "--resume"]
    if options.address:
        parts += ["--address", options.address]
    if options.data_dir:
        parts += ["--data-dir", options.data_dir]
    return " ".join(parts)


def check_experiment(spec: Spec, *, options: SweepOptions) -> str:
    """Check the storage path and the name against what is already there; write nothing.

    Refuses to mix results: an existing experiment needs --resume (with the same spec) or
    --overwrite. Returns the experiment directory.
    """
    check_storage(options.storage)
    exp_dir = experiment_path(options.storage, options.name or spec.name)
    if options.resume:
        if not all(storage.exists(storage.join(exp_dir, f)) for f in (SPEC_FILE, TUNER_FILE)):
            raise SweepError(f"--resume: no experiment to resume at {exp_dir} "
                             f"(no {SPEC_FILE} or {TUNER_FILE}); run without --resume to start it")
        if spec_to_dict(read_stored_spec(exp_dir)) != spec_to_dict(spec):
            raise SweepError(f"--resume: the spec differs from the one stored in {storage.join(exp_dir, SPEC_FILE)}; "
                             f"resume with the same spec, or start a new --name")
    elif storage.exists(exp_dir) and not options.overwrite:
        raise SweepError(f"experiment {exp_dir} already exists; use --resume to continue it "
                         f"or --overwrite to delete it and start again")
    return exp_dir


def start_experiment(spec: Spec, *, exp_dir: str, options: SweepOptions) -> None:
    """Delete an old experiment on --overwrite, and store the spec beside the trials."""
    if options.resume:
        return
    if storage.exists(exp_dir):
        _remove_tree(exp_dir)
    storage.write_text(storage.join(exp_dir, SPEC_FILE), dump_spec(spec))


# ---------------------------------------------------------------- the Tune side

@dataclass(frozen=True)
class _Pick:
    """sample_from callable: one field of trial `config["trial"]`, so the config keeps the
    project's flat names (model, sample_frac, ...) while one grid enumerates a union."""

    trials: tuple[dict[str, Any], ...]
    key: str

    def __call__(self, config: dict[str, Any]) -> Any:
        # Ray 2.60 passes the partly resolved config dict (a spec object is deprecated and warns)
        return self.trials[config["trial"]][self.key]


def build_param_space(trials: list[dict[str, Any]], *, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One grid over trial indices (in submission order) with flat per-trial fields."""
    from ray import tune

    rows = tuple({**t, "overrides": dict(overrides.get(t["model"], {}))} for t in trials)
    space: dict[str, Any] = {"trial": tune.grid_search(list(range(len(rows))))}
    for key in (*AXES, "overrides"):
        space[key] = tune.sample_from(_Pick(rows, key))
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


def _runtime_env() -> dict[str, Any]:
    """Workers' environment, also on remote nodes: one malloc arena (trainables/allocator.py
    says why), and the test-only faults."""
    env = {k: os.environ[k] for k in (FAULT_ENV,) if k in os.environ}
    env[GLIBC_TUNABLES_ENV] = worker_glibc_tunables(os.environ.get(GLIBC_TUNABLES_ENV))
    return {"env_vars": env}


def _init_ray(options: SweepOptions) -> dict[str, str]:
    import ray

    # Save Tune's experiment state often (Ray's default is every 10 s or more), so a killed
    # driver forgets at most a few seconds of finished trials.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", str(EXPERIMENT_STATE_PERIOD_S))
    # Per-epoch checkpoints force a state snapshot each; that is the point, not a warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # "local" starts a fresh embedded Ray: never join a stray cluster found on this machine.
    context = ray.init(address=options.address or "local", include_dashboard=options.dashboard,
                       dashboard_host=DASHBOARD_HOST, ignore_reinit_error=True,
                       log_to_driver=options.verbose > 1, runtime_env=_runtime_env())
    url = getattr(context, "dashboard_url", None) or ""
    return {"dashboard": f"http://{url}" if url and not url.startswith("http") else url}


def _nodes() -> list[resources.Node]:
    import ray

    return resources.nodes_from_ray(ray.nodes())


def plan_for(spec: Spec, *, nodes: list[resources.Node], options: SweepOptions) -> dict[str, dict[str, float]]:
    gpu_share = options.gpu_share or spec.gpu_share or resources.DEFAULT_GPU_SHARE
    merged = {**spec.resources, **options.resource_overrides}
    return resources.plan_requests(spec.models, nodes=nodes, gpu_share=gpu_share, overrides=merged)


def _make_tuner(spec: Spec, *, exp_dir: str, trials: list[dict[str, Any]], data: Any,
                plan: dict[str, dict[str, float]], options: SweepOptions) -> Any:
    from ray import tune

    from trainables.trainable import train_trial

    trainable = tune.with_resources(
        tune.with_parameters(train_trial, data=data, checkpoint_period_s=spec.checkpoint_period_s),
        _resources_fn(plan))
    if options.resume:
        return tune.Tuner.restore(exp_dir, trainable=trainable, resume_unfinished=True,
                                  resume_errored=options.retry_errored)
    max_failures = options.max_failures
    if max_failures is None:
        max_failures = spec.max_failures if spec.max_failures is not None else DEFAULT_MAX_FAILURES
    storage_root, name = exp_dir.rsplit("/", 1)
    run_config = tune.RunConfig(
        name=name, storage_path=storage_root, verbose=options.verbose,
        failure_config=tune.FailureConfig(max_failures=max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )
    return tune.Tuner(trainable, param_space=build_param_space(trials, overrides=spec.overrides),
                      tune_config=tune.TuneConfig(reuse_actors=True), run_config=run_config)


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


def _import_and_read(data_root: Path) -> Dataset:
    """The dataset, after importing the trainable that Tune will pickle."""
    import trainables.trainable  # noqa: F401  (lazy: the import is ~2 s of torch and ray, done in a thread)

    return read_fashion_mnist(data_root)


def run_sweep(spec: Spec, *, options: SweepOptions, log: Callable[[str], None] = print) -> SweepRun:
    """Validate, load data once, start Ray, preflight, run every trial.

    Raises SweepError for user-facing problems, before any trial starts. Errored or
    unfinished trials are not errors here: the experiment directory records them, and the
    caller reads it back (analysis) to write the results and decide the exit code.
    """
    exp_dir = check_experiment(spec, options=options)
    data_root = find_data_root(options.data_dir, download=options.download)  # checksums, no torch
    trials = cost.longest_first(expand_trials(spec), overrides=spec.overrides, n_train=FASHION_MNIST.n_train)
    # Once per sweep, in the driver; trials share it. Read (and torch imported) in a thread
    # while ray.init starts Ray's processes: ~1.5 s less fixed cost on 2 cores.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="datavsmath-data") as pool:
        data_future = pool.submit(_import_and_read, data_root)
        urls = _init_ray(options)
        nodes = _nodes()
        plan = plan_for(spec, nodes=nodes, options=options)
        try:
            resources.check_feasible(plan, nodes=nodes)
        except resources.InfeasibleRequestError as exc:
            raise SweepError(str(exc)) from exc
        # Only now is the sweep going to run: a refused one leaves nothing behind to block a rerun.
        start_experiment(spec, exp_dir=exp_dir, options=options)
        data = data_future.result()
    log(f"datavsmath: {len(trials)} trials of {spec.name!r} -> {exp_dir}")
    log("\n".join(resources.describe_plan(plan, nodes=nodes)))
    if urls.get("dashboard"):
        from sweeps.dashboard import login_lines

        log("\n".join(login_lines(urls["dashboard"])))
    log(f"TensorBoard:   tensorboard --logdir {exp_dir}")
    tuner = _make_tuner(spec, exp_dir=exp_dir, trials=trials, data=data, plan=plan, options=options)
    started = time.time()
    result_grid = tuner.fit()
    wall = time.time() - started
    makespan, bound = _makespan_bound(result_grid, plan=plan, nodes=nodes)
    return SweepRun(experiment_dir=exp_dir, n_trials=len(trials), makespan_s=makespan or wall, lower_bound_s=bound)
