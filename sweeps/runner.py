"""The Tune runner: the only place that starts Ray and builds a Tuner.

Everything that can fail on user input is checked before `ray.init`: the spec (already a
validated Spec here), the experiment name, the storage path and what is already there,
the cluster address, and the data. The runner leaves the experiment directory to the
analysis: the CLI writes the result files and the report from it afterwards.

One driver owns an experiment at a time (`claim_experiment`, sweeps/lock.py): on local
storage the folder is created and locked before Ray starts, a second sweep or resume on it
stops at once naming the holder, and the lock goes when the driver exits. On URI storage
(s3://, gs://) there is no lock: nothing stops two drivers on one experiment, and running
one driver per experiment is the user's job. `--overwrite` deletes only an experiment of
this project, directly inside the storage path; nothing else is ever deleted.

Ray lives as long as the sweep: the embedded local instance is shut down when the run
ends however it ends, and a reaper process clears what Ray leaves behind a driver that
was killed (_start_reaper).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from pyarrow.fs import FileType

from datavsmath.sweeps import cost, lock, resources
from datavsmath.sweeps.experiment_files import check_resumable
from datavsmath.sweeps.progress import NO_REPAIR, STATUS_PERIOD_S, trial_name
from datavsmath.sweeps.spec import (
    AXES,
    AXIS_DEFAULTS,
    CONFUSION_REFERENCE_FILE,
    INPUTS_DIR,
    SPEC_FILE,
    STATE_PREFIX,
    TUNER_FILE,
    Spec,
    SpecError,
    check_experiment_name,
    check_fits_dataset,
    dump_spec,
    expand_trials,
    experiment_parts,
    next_extension,
    project_version,
    read_stored_spec,
    spec_to_dict,
)
from datavsmath.trainables import storage
from datavsmath.trainables.allocator import GLIBC_TUNABLES_ENV, worker_glibc_tunables
from datavsmath.trainables.checks import Interval, check_int, echo
from datavsmath.trainables.data import FASHION_MNIST_IDX, Dataset, DatasetInfo, IdxSource, find_data_root, read_idx
from datavsmath.trainables.datasets import MNIST_IDX, load_dataset
from datavsmath.trainables.faults import FAULT_ENV

# ray, and the trainable (ray.tune), are imported inside the functions that use them: importing
# them costs ~1.5 s, which a refused spec or a --dry-run never pays.

DEFAULT_STORAGE = "results"
DEFAULT_MAX_FAILURES = 2
DASHBOARD_HOST = "127.0.0.1"  # never expose the dashboard: Ray has no authentication
EXPERIMENT_STATE_PERIOD_S = 2
# Each save of Tune's experiment state costs time in proportion to the trials (~11 MB and
# 0.1 s at 500 trivial trials, 111 MB at 5,000; benchmarks/README.md, bench_scale): above this
# many trials Tune's own "auto" period (at least 10 s, saves at most ~5 % of the time) is used.
FIXED_STATE_PERIOD_MAX_TRIALS = 500
STATE_PERIOD_ENV = "TUNE_GLOBAL_CHECKPOINT_S"
_USER_STATE_PERIOD = os.environ.get(STATE_PERIOD_ENV)  # a user's own setting wins
STATE_PATTERN = f"{STATE_PREFIX}*.json"  # saved every EXPERIMENT_STATE_PERIOD_S
LISTED_NAMES = 5  # a refusal names this many of the entries it found
PORT_RANGE = Interval(1, 65535)
ADDRESS_PROBE_S = 5.0
# Ray tries an unanswering GCS 20 times for ~35 s each (a silent port held a driver for more
# than 400 s). One try with a 5 s connect timeout gives up in 16 s (measured on a port that
# accepts and never answers); a user's own values of these variables win. Set before ray is
# imported: Ray reads them then (set after, ray.init took 41 s).
CONNECT_ENV = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_py_gcs_connect_timeout_s": "5"}
REAPER_WAIT_S = 10.0  # a scan of /proc takes milliseconds


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
    extend: bool = False

    @property
    def embedded(self) -> bool:
        """Whether the sweep starts its own local Ray (no --address, or "local")."""
        return self.address in (None, "local")


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


def experiment_name(spec: Spec, *, options: SweepOptions) -> str:
    """--name, or the spec's name: one safe folder name (datavsmath.sweeps.spec.check_experiment_name)."""
    if options.name is None:
        return check_experiment_name(spec.name)
    return check_experiment_name(options.name, field="--name")


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


def _entries(exp_dir: str) -> list[str] | None:
    """The names in `exp_dir`, folders with a trailing '/', without the driver's lock file and
    the inputs a Python caller wrote there first (INPUTS_DIR); None when nothing is there. A
    file, or a link to nothing, is refused."""
    try:
        if storage.is_uri(exp_dir):
            fs, inner = _filesystem(exp_dir)
            kind = storage.file_type(fs, inner)
            found = None if kind == FileType.NotFound else kind == FileType.Directory
            names = [(i.base_name, i.type == FileType.Directory) for i in storage.list_dir(fs, inner)] if found else []
        else:
            folder = Path(exp_dir)
            if folder.is_symlink() and not folder.exists():
                raise SweepError(f"{exp_dir} is a link to {os.readlink(folder)}, which does not exist; "
                                 f"choose another --name or --storage")
            found = folder.is_dir() if folder.exists() else None
            names = [(e.name, e.is_dir()) for e in folder.iterdir()] if found else []
    except OSError as exc:
        raise SweepError(f"{exp_dir} cannot be read: {exc.strerror or exc}") from exc
    if found is None:
        return None
    if not found:
        raise SweepError(f"{exp_dir} is a file, not an experiment folder; choose another --name or --storage")
    return sorted(name + "/" if is_dir else name for name, is_dir in names if name not in (lock.LOCK_FILE, INPUTS_DIR))


def _is_experiment(names: list[str]) -> bool:
    """Whether a folder holding `names` is an experiment of this project: our spec and Tune's state."""
    return SPEC_FILE in names and (TUNER_FILE in names or any(fnmatch(n, STATE_PATTERN) for n in names))


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED_NAMES])
    return shown + (f" and {len(names) - LISTED_NAMES} more" if len(names) > LISTED_NAMES else "")


def _not_deletable(exp_dir: str, storage_path: str) -> str | None:
    """Why --overwrite may not clear `exp_dir`, or None: it deletes only a real folder
    directly inside the storage path, never through a link."""
    if storage.is_uri(exp_dir):
        return None
    folder, root = Path(exp_dir), Path(storage_path).expanduser().resolve()
    if folder.is_symlink() or folder.resolve().parent != root:
        return (f"{exp_dir} is a link to {folder.resolve()}; --overwrite deletes only a folder directly inside "
                f"the storage path {root}")
    return None


def is_resumable(exp_dir: str) -> bool:
    """Whether Tune can continue the experiment: it holds our spec and Tune's tuner.pkl."""
    return all(storage.exists(storage.join(exp_dir, f)) for f in (SPEC_FILE, TUNER_FILE))


def check_experiment(spec: Spec, *, options: SweepOptions, holder: lock.Holder | None = None,
                     empty_ok: bool = False) -> str:
    """Check the name, the storage path and what is already there; write nothing.

    Refuses to mix results or to delete what is not ours: an existing experiment needs
    --resume (with the same spec) or --overwrite, and --overwrite deletes only an experiment
    of this project (spec.yaml with tuner.pkl or experiment_state-*.json) that is a folder
    directly inside the storage path. On local storage an experiment whose lock another
    live driver holds is refused; `holder` is this driver's own lock, once taken, and
    `empty_ok` says an empty folder there was let through before the lock was taken (a
    folder with nothing but the stale lock of a dead driver is let through too).
    Returns the experiment directory.
    """
    name = experiment_name(spec, options=options)
    check_storage(options.storage)
    exp_dir = experiment_path(options.storage, name)
    stale = None
    if not storage.is_uri(exp_dir):
        try:
            stale = lock.check_free(exp_dir, me=holder)
        except lock.LockError as exc:
            raise SweepError(str(exc)) from exc
    names = _entries(exp_dir)
    # A start that was killed before it wrote anything, or a folder holding only our inputs.
    empty_ok = empty_ok or stale is not None or (names == [] and storage.exists(storage.join(exp_dir, INPUTS_DIR)))
    if options.extend:
        if names is None or not _is_experiment(names):
            raise SweepError(f"--extend: {exp_dir} is not an experiment of datavsmath"
                             + (" (nothing is there)" if names is None else f"; it holds {_listing(names)}")
                             + "; run without --extend to start it")
    elif options.resume:
        if spec_to_dict(check_resumable(exp_dir)) != spec_to_dict(spec):
            raise SweepError(f"--resume: the spec differs from the one stored in {storage.join(exp_dir, SPEC_FILE)}; "
                             f"resume with the same spec, or start a new --name")
    elif names is None or (empty_ok and not names):
        pass
    elif names == [SPEC_FILE] and not options.overwrite:  # started, killed before Tune saved anything
        raise SweepError(f"experiment {exp_dir} was started but no trial ran (it holds only {SPEC_FILE}); "
                         "delete that folder to start again, or choose another --name")
    elif not _is_experiment(names) and names:
        what = (f"--overwrite: {exp_dir} is not an experiment of datavsmath (no {SPEC_FILE} with {TUNER_FILE} "
                f"or {STATE_PATTERN}); refusing to delete it" if options.overwrite
                else f"{exp_dir} already exists and is not an experiment of datavsmath")
        raise SweepError(f"{what}; it holds {_listing(names)}; choose another --name or --storage")
    elif options.overwrite:
        why = _not_deletable(exp_dir, options.storage)
        if why:
            raise SweepError(f"--overwrite: {why}; refusing to delete it")
    elif names:
        why = _not_deletable(exp_dir, options.storage)
        raise SweepError(f"experiment {exp_dir} already exists; use --resume to continue it"
                         + (f" ({why})" if why else " or --overwrite to delete it and start again"))
    else:
        raise SweepError(f"{exp_dir} already exists; use --resume to continue it or --overwrite to start "
                         f"again in it (it is an empty folder)")
    return exp_dir


def _clear_folder(exp_dir: str) -> None:
    """Delete what an experiment folder holds, except the driver's lock and the inputs the new
    run names; an URI's whole folder."""
    if storage.is_uri(exp_dir):
        fs, inner = _filesystem(exp_dir)
        fs.delete_dir(inner)
        return
    for entry in Path(exp_dir).iterdir():
        if entry.name in (lock.LOCK_FILE, INPUTS_DIR):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)  # never follows links inside
        else:
            entry.unlink()


def start_experiment(spec: Spec, *, exp_dir: str, options: SweepOptions) -> str:
    """Delete an old experiment on --overwrite, and store the spec beside the trials.

    Returns the folder of the Tune experiment to run: `exp_dir`, or on --extend its next
    extension `exp_dir/extend-N` (datavsmath.sweeps.spec.next_extension), which gets its own spec."""
    if options.resume:
        return exp_dir
    if options.extend:
        part = storage.join(exp_dir, next_extension(exp_dir))
        storage.write_text(storage.join(part, SPEC_FILE), dump_spec(spec))
        return part
    if options.overwrite and storage.exists(exp_dir):
        _clear_folder(exp_dir)  # check_experiment let it through: an experiment of ours, or an empty folder
    storage.write_text(storage.join(exp_dir, SPEC_FILE), dump_spec(spec))
    return exp_dir


def resume_command(spec: Spec, *, name: str, options: SweepOptions) -> str:
    """The exact command that continues this sweep, quoted for a POSIX shell: --resume, or for
    an --extend run the same --extend (it runs what did not finish, errored cells included)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0].endswith("datavsmath") else "datavsmath"
    parts = [program, "sweep", spec.source or spec.name, "--name", name, "--storage", options.storage,
             "--extend" if options.extend else "--resume"]
    if options.address:
        parts += ["--address", options.address]
    if options.data_dir:
        parts += ["--data-dir", options.data_dir]
    if options.gpu_share is not None:
        parts += ["--gpu-share", f"{options.gpu_share:g}"]
    for model, request in options.resource_overrides.items():  # the restored trials get the same plan
        parts += ["--resources", f"{model}:" + ",".join(f"{k}={v:g}" for k, v in request.items())]
    return shlex.join(parts)


# ---------------------------------------------------------------- owning an experiment

@dataclass
class Claim:
    """An experiment this driver owns (claim_experiment): where it is, where the data is,
    the lock (None on URI storage) and whether this run has started it anew (written its spec).

    data: the dataset as found before Ray starts (find_data): for the IDX datasets the
    verified folder, read later in a thread; a table or image folder is read at once."""

    experiment_dir: str
    data: FoundData
    holder: lock.Holder | None
    started: bool = False
    part_dir: str | None = None  # the Tune experiment this run writes: experiment_dir or an extension


IDX_SOURCES: dict[str, IdxSource] = {"fashion_mnist": FASHION_MNIST_IDX, "mnist": MNIST_IDX}


@dataclass(frozen=True)
class FoundData:
    """A sweep's dataset after find_data: `info` its facts; `root` and `source` the verified
    IDX folder (the built-in datasets, read by `read`) or `dataset` already read (tables, images)."""

    info: DatasetInfo
    root: Path | None = None
    source: IdxSource | None = None
    dataset: Dataset | None = None

    def read(self) -> Dataset:
        """The whole dataset, its fingerprint computed (so that trials get it with the arrays)."""
        if self.dataset is not None:
            data = self.dataset
        else:
            assert self.root is not None and self.source is not None
            data = read_idx(self.root, self.source)
        data.fingerprint  # noqa: B018  (cached on the object, which travels to the trials pickled)
        return data


def find_data(spec: Spec, *, options: SweepOptions) -> FoundData:
    """Find the spec's dataset and check that every model can take it, before Ray starts.

    fashion_mnist, mnist: the IDX files located and their checksums verified (no torch; read
    later, beside ray.init); table, images: read and checked whole (datavsmath.trainables.datasets).
    Raises DataNotFoundError, ChecksumError, DatasetError, SpecError (a model that cannot
    take the data, too few rows), each naming the file, column, folder or model."""
    kind = spec.dataset["kind"]
    if kind in IDX_SOURCES:
        source = IDX_SOURCES[kind]
        root = find_data_root(options.data_dir, download=options.download, source=source)
        found = FoundData(info=source.info, root=root, source=source)
        repairs = any(t.get("repair", NO_REPAIR) != NO_REPAIR for t in expand_trials(spec))
        if repairs or any(d["kind"] == "estimator" for d in spec.user_models.values()):
            found = FoundData(info=found.info, dataset=found.read())  # the preflights read real labels and rows
    else:
        dataset = load_dataset(spec.dataset, data_dir=options.data_dir, download=options.download)
        found = FoundData(info=dataset.info, dataset=dataset)
    check_fits_dataset(spec, found.info)
    check_user_models(spec, found.info, data=found.dataset)
    if found.dataset is not None:
        check_repair_folds(spec, found.dataset)
    return found


def check_repair_folds(spec: Spec, data: Dataset) -> None:
    """SpecError unless every repaired cell's training set (its subset, damaged as the trial
    damages it) has at least repair_model.folds labels of every class, which the repair's
    stratified folds need. `confusion` cells are checked on their subset's clean labels (their
    damage needs the reference model, fitted later)."""
    from datavsmath.trainables.damage import make_training_set
    from datavsmath.trainables.repair import check_class_counts

    folds = int(spec.repair_model["folds"])
    seen = set()
    for trial in expand_trials(spec):
        mode = "none" if trial["damage_mode"] == "confusion" else trial["damage_mode"]
        cell = (trial["sample_frac"], trial["damage_frac"] if mode != "none" else 0.0, mode, trial["seed"])
        if trial.get("repair", NO_REPAIR) == NO_REPAIR or cell in seen:
            continue
        seen.add(cell)
        subset = make_training_set(data.y_train, n_classes=data.n_classes, sample_frac=cell[0], damage_frac=cell[1],
                                   damage_mode=mode, seed=cell[3], transition=spec.transition if mode == "matrix"
                                   else None)
        try:
            check_class_counts(subset.labels, n_classes=data.n_classes, folds=folds)
        except ValueError as exc:
            raise SpecError(f"sample_frac {trial['sample_frac']:g}, damage_frac {trial['damage_frac']:g} "
                            f"({trial['damage_mode']}), seed {trial['seed']}: {exc}; lower repair_model.folds or "
                            "raise sample_frac") from exc


def check_user_models(spec: Spec, info: DatasetInfo, *, data: Dataset | None = None) -> None:
    """Import each of the spec's own models and build it once for the dataset (in the driver,
    before Ray), and fit each estimator once on a few rows of `data`: SpecError naming the
    model and its path for an import that fails, an object that is not a classifier or a
    torch module, or params and classes it cannot work with (see check_importable). The
    spec's local py_modules folders are importable here as they will be on the workers (Ray
    ships each folder as the package of its name)."""
    if not spec.user_models:
        return
    from datavsmath.trainables.models.user import UserModelError, check_importable, preflight_rows

    rows = None if data is None else preflight_rows(data.x_train, data.y_train)

    for folder in spec.py_modules:
        parent = str(Path(folder).parent)
        if "://" not in folder and parent not in sys.path:
            sys.path.insert(0, parent)
    for name, definition in spec.user_models.items():
        try:
            check_importable(name, definition, input_shape=info.input_shape, n_classes=info.n_classes, rows=rows)
        except UserModelError as exc:
            raise SpecError(str(exc)) from exc


@contextmanager
def _locked(folder: Path, log: Callable[[str], None]) -> Iterator[lock.Holder]:
    try:
        holder = lock.acquire(folder, log=log)
    except lock.LockError as exc:
        raise SweepError(str(exc)) from exc
    try:
        yield holder
    finally:
        lock.release(folder, holder)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty: trials, or another driver's lock by now
        pass


@contextmanager
def claim_experiment(spec: Spec, *, options: SweepOptions, log: Callable[[str], None] = print) -> Iterator[Claim]:
    """Check every input without writing anything (the name, the storage and what is there,
    --address, the data), then own the experiment for the duration of the block.

    Local storage: the experiment folder is created and locked (sweeps/lock.py) before Ray
    starts, and checked again under the lock. When the block ends, however it ends, the lock
    is released and, if Tune never started there (no tuner.pkl), what this run wrote is
    removed again: its spec.yaml, and the folder when empty and this run created or cleared it.
    URI storage: no lock; one driver per experiment is the user's job (sweeps/lock.py).
    Raises SweepError (or SpecError, DataNotFoundError, DatasetError) before anything is written.
    """
    exp_dir = check_experiment(spec, options=options)
    check_address(options.address)
    found = find_data(spec, options=options)  # checksums (no torch), or a user's file read and checked
    claim = Claim(experiment_dir=exp_dir, data=found, holder=None)
    if storage.is_uri(exp_dir):
        yield claim
        return
    folder = Path(exp_dir)
    empty = not folder.exists() or _entries(exp_dir) == []  # the first look let it through
    # Ours to remove again: a folder this run creates, or one holding nothing but the lock of
    # a dead driver (a start that was killed).
    created = not folder.exists() or (empty and (folder / lock.LOCK_FILE).exists())
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise SweepError(f"experiment folder {exp_dir} cannot be created: {exc.strerror}") from exc
    try:
        with _locked(folder, log) as holder:
            claim.holder = holder
            # What is there may have changed since the first look: another driver may have been quicker.
            check_experiment(spec, options=options, holder=holder, empty_ok=empty)
            try:
                yield claim
            finally:
                part = claim.part_dir or exp_dir
                if claim.started and not is_resumable(part):
                    (Path(part) / SPEC_FILE).unlink(missing_ok=True)
                    if part != exp_dir:
                        _remove_if_empty(Path(part))
    finally:
        if created or claim.started:
            _remove_if_empty(folder)


# ---------------------------------------------------------------- the cluster (before ray.init)

def _split_address(address: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPV6]:PORT` or `ray://HOST:PORT` -> (host, port); else SweepError."""
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port_text = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if "://" in rest or not sep or not host or not port_text.isdigit():
        raise SweepError(f"--address must be auto, local, HOST:PORT or ray://HOST:PORT, got {echo(address)}")
    try:
        port = check_int("--address port", int(port_text), PORT_RANGE)
    except ValueError as exc:
        raise SweepError(str(exc)) from exc
    return host, port


def check_address(address: str | None) -> None:
    """An existing cluster's HOST:PORT must accept a TCP connection within ADDRESS_PROBE_S;
    "auto" is left to Ray, whose wait _init_ray bounds. None and "local" start Ray here."""
    if address in (None, "local", "auto"):
        return
    host, port = _split_address(address)
    try:
        with socket.create_connection((host, port), timeout=ADDRESS_PROBE_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise SweepError(f"--address {address}: no Ray cluster there: a TCP connection to {host}:{port} failed "
                         f"({reason}, {ADDRESS_PROBE_S:g} s limit); start one with `ray start --head`, or give "
                         f"the address that `ray status` prints") from exc


# ---------------------------------------------------------------- the Tune side

@dataclass(frozen=True, eq=False)  # hashed by identity: it holds a dict
class _Pick:
    """sample_from callable: one field of the trial named `config["name"]`, so the config keeps
    the project's flat names (model, sample_frac, ...) while one grid enumerates a union."""

    trials: Mapping[str, dict[str, Any]]
    key: str

    def __call__(self, config: dict[str, Any]) -> Any:
        # Ray 2.60 passes the partly resolved config dict (a spec object is deprecated and warns)
        return self.trials[config["name"]][self.key]


def build_param_space(trials: list[dict[str, Any]], *, overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One grid over the trials' names (datavsmath.sweeps.progress.trial_name, in submission order) with
    flat per-trial fields: `trial` (the index in that order), the AXES and the overrides.

    The grid is over names because Tune names a trial (trial_name_creator) before it resolves
    sample_from values: the name is then the only field already there, and a name creator that
    held the trials instead would be stored with every trial's state (quadratic in size)."""
    from ray import tune

    rows = {trial_name(t): {"trial": i, **AXIS_DEFAULTS, **t, "overrides": dict(overrides.get(t["model"], {}))}
            for i, t in enumerate(trials)}
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


def _worker_env() -> dict[str, str]:
    """Workers' environment variables: one malloc arena (trainables/allocator.py says why)
    and the test-only faults."""
    env = {k: os.environ[k] for k in (FAULT_ENV,) if k in os.environ}
    env[GLIBC_TUNABLES_ENV] = worker_glibc_tunables(os.environ.get(GLIBC_TUNABLES_ENV))
    return env


def _runtime_env(env: Mapping[str, str], py_modules: tuple[str, ...] = ()) -> dict[str, Any]:
    """The job's runtime_env, which reaches every node: `env` and the spec's `py_modules` (a
    user's model code, which Ray ships to every node)."""
    out: dict[str, Any] = {"env_vars": dict(env)}
    if py_modules:
        out["py_modules"] = list(py_modules)
    return out


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `values` set inside the block, as it was after it."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _ray_leaves_sigterm_alone() -> Iterator[None]:
    """ray.init without its driver SIGTERM handler (sys.exit, installed first thing in
    ray.init through ray._private.utils.set_sigterm_handler; Ray 2.60 has no option for it).

    Its SystemExit lands anywhere in ray.init's imports: it hung drivers on the import lock
    (see _interrupts_deferred) and was lost when it landed in importlib's lock callback.
    The caller's handler stays in place instead."""
    import ray._private.utils as ray_utils

    install = getattr(ray_utils, "set_sigterm_handler", None)
    if install is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    ray_utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        ray_utils.set_sigterm_handler = install


def _init_ray(options: SweepOptions, *, py_modules: tuple[str, ...] = ()) -> Any:
    """ray.init for this sweep; returns Ray's context. Keeps the caller's SIGTERM handler:
    ray.init replaces it (and Ray's C++ core turns SIGTERM into an abort, exit -6)."""
    import ray

    # Per-epoch checkpoints force a state snapshot each; that is the point, not a warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    address = options.address or "local"
    in_main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if in_main else None
    env = _worker_env()
    # An embedded Ray's workers inherit the environment of the processes ray.init starts, and
    # without a job runtime_env the workers Ray prestarts serve the first trials: two first
    # workers in 0.9 s instead of 1.75 s (benchmarks/README.md, "fixed cost"). A cluster's
    # nodes, and py_modules, need the runtime_env.
    inherited = options.embedded and not py_modules
    runtime_env = None if inherited else _runtime_env(env, py_modules)
    try:
        with _ray_leaves_sigterm_alone(), _environ(env if inherited else {}):
            # "local" starts a fresh embedded Ray: never join a stray cluster found on this machine.
            return ray.init(address=address, include_dashboard=options.dashboard, dashboard_host=DASHBOARD_HOST,
                            ignore_reinit_error=True, log_to_driver=options.verbose > 1,
                            runtime_env=runtime_env)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        if address == "local":
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        probed = "" if address == "auto" else "the port takes connections, but "  # check_address tried it
        raise SweepError(f"--address {address}: {probed}Ray could not connect to a cluster there ({first})") from exc
    finally:
        if sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)


# Started with `python -c`: stdlib only, so it costs a few MB. Its stdin is a pipe whose
# other end only the driver holds, so the read returns once the driver is gone, however it
# ended; then it SIGKILLs every process with a file open in a Ray session folder of the
# driver (Ray names them session_<date>_<time>_<usec>_<driver pid>).
_REAPER = """\
import os, re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the driver's to handle
sys.stdin.buffer.read()
driver = int(sys.argv[1])
session = re.compile(rf"/session_[^/]*_{driver}/")
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid in (driver, os.getpid()):
        continue
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        if any(session.search(os.readlink(f"/proc/{pid}/fd/{fd}")) for fd in fds):
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""


def _start_reaper() -> subprocess.Popen | None:
    """A process that outlives the driver and kills the Ray processes it leaves (Linux).

    The kernel kills the raylet and the GCS with the driver that started them, but after a
    SIGKILL of the driver (or a Ctrl-C inside ray.init) the raylet's dashboard and
    runtime-env agents wait 60 s on the dead GCS (ray/_private/utils.py
    publish_error_to_driver) before they exit."""
    if not sys.platform.startswith("linux"):
        return None
    return subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid())],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def _ray_session(options: SweepOptions, *, py_modules: tuple[str, ...] = ()) -> Iterator[dict[str, str]]:
    """Ray for the duration of the block; yields the dashboard URL ({"dashboard": ...}).

    A Ray this process starts (embedded, or connected to --address) is shut down when the
    block ends, however it ends, ray.init included; a Ray the caller had already started is
    left to it. An embedded Ray's processes go with the driver even when it is killed."""
    import ray

    owner = not ray.is_initialized()
    reaper = _start_reaper() if owner and options.embedded else None
    try:
        context = _init_ray(options, py_modules=py_modules) if py_modules else _init_ray(options)
        url = getattr(context, "dashboard_url", None) or ""
        yield {"dashboard": f"http://{url}" if url and not url.startswith("http") else url}
    finally:
        if owner:
            ray.shutdown()
        if reaper is not None:
            assert reaper.stdin is not None
            reaper.stdin.close()  # the reaper clears what shutdown left, then exits
            try:
                reaper.wait(timeout=REAPER_WAIT_S)
            except subprocess.TimeoutExpired:  # it goes on its own once its scan ends
                pass


def _nodes() -> list[resources.Node]:
    import ray

    return resources.nodes_from_ray(ray.nodes())


def plan_for(spec: Spec, *, nodes: list[resources.Node], options: SweepOptions) -> dict[str, dict[str, float]]:
    gpu_share = options.gpu_share or spec.gpu_share or resources.DEFAULT_GPU_SHARE
    merged = {**spec.resources, **options.resource_overrides}
    return resources.plan_requests(spec.models, nodes=nodes, gpu_share=gpu_share, overrides=merged)


def state_period(n_trials: int) -> str:
    """Tune's experiment-state period (TUNE_GLOBAL_CHECKPOINT_S) for a sweep of `n_trials`:
    every EXPERIMENT_STATE_PERIOD_S seconds, so a killed driver forgets at most a few seconds of
    finished trials (Tune's default waits 10 s or more), up to FIXED_STATE_PERIOD_MAX_TRIALS
    trials; "auto" above, where saving that often would take a growing share of the sweep."""
    if _USER_STATE_PERIOD is not None:
        return _USER_STATE_PERIOD
    return str(EXPERIMENT_STATE_PERIOD_S) if n_trials <= FIXED_STATE_PERIOD_MAX_TRIALS else "auto"


def _callbacks(spec: Spec, *, trials: list[dict[str, Any]], options: SweepOptions, n_train: int,
               on_finished: Callable[[int, int], Any] | None) -> list[Any]:
    """The compact reporter (every line at -v 1, errors only at -v 0 and -v 2, where Tune's
    own output is on), and the caller's hook after each finished trial. n_train: the
    dataset's training-set size (the cost model's)."""
    from datavsmath.sweeps.tune_callbacks import CompactReporter, FinishedHook

    costs = {trial_name(t): cost.estimate_seconds(t, n_train=n_train, overrides=spec.overrides.get(t["model"]),
                                                  repair_folds=int(spec.repair_model["folds"]))
             for t in trials}
    callbacks: list[Any] = [CompactReporter(costs=costs, errors_only=options.verbose != 1)]
    if on_finished is not None:
        callbacks.append(FinishedHook(on_finished))
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
        return 0, None
    return 2, tune.CLIReporter(parameter_columns=list(AXES), metric_columns=["epoch", "acc", "auc", "time_total_s"],
                               max_report_frequency=int(STATUS_PERIOD_S))


def _make_tuner(spec: Spec, *, exp_dir: str, trials: list[dict[str, Any]], data: Any,
                plan: dict[str, dict[str, float]], options: SweepOptions,
                on_finished: Callable[[int, int], Any] | None = None,
                transitions: dict[str, Any] | None = None) -> Any:
    """The Tuner for `exp_dir` (a new experiment, an extension, or one restored on --resume,
    which keeps the callbacks and names it was started with: Tune stores them in tuner.pkl)."""
    from ray import tune

    from datavsmath.sweeps.tune_callbacks import trial_name_of
    from datavsmath.trainables.trainable import train_trial

    trainable = tune.with_resources(
        tune.with_parameters(train_trial, data=data, checkpoint_period_s=spec.checkpoint_period_s,
                             transitions=transitions or {}, repair_model=dict(spec.repair_model)),
        _resources_fn(plan))
    verbose, reporter = _tune_output(options)
    os.environ[STATE_PERIOD_ENV] = state_period(len(trials))  # read by Tune when fit() starts
    if options.resume:
        return tune.Tuner.restore(exp_dir, trainable=trainable, resume_unfinished=True,
                                  resume_errored=options.retry_errored)
    max_failures = options.max_failures
    if max_failures is None:
        max_failures = spec.max_failures if spec.max_failures is not None else DEFAULT_MAX_FAILURES
    storage_root, name = exp_dir.rsplit("/", 1)
    run_config = tune.RunConfig(
        name=name, storage_path=storage_root, verbose=verbose, progress_reporter=reporter,
        callbacks=_callbacks(spec, trials=trials, options=options, n_train=data.n_train, on_finished=on_finished),
        failure_config=tune.FailureConfig(max_failures=max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )
    tune_config = tune.TuneConfig(reuse_actors=True, trial_name_creator=trial_name_of,
                                  trial_dirname_creator=trial_name_of)
    return tune.Tuner(trainable, param_space=build_param_space(trials, overrides=spec.overrides),
                      tune_config=tune_config, run_config=run_config)


def _check_same_data(exp_dir: str, data: Dataset) -> None:
    """--resume, --extend: the data must be the one the experiment started on (its stored fingerprint)."""
    try:
        stored = read_stored_spec(exp_dir).dataset_facts
    except (OSError, SpecError):
        return  # check_experiment has read it already; nothing recorded to compare
    if stored is not None and stored["fingerprint"] != data.fingerprint:
        raise SweepError(f"the dataset {data.name!r} differs from the one the experiment started on "
                         f"(fingerprint {data.fingerprint[:12]}..., stored {str(stored['fingerprint'])[:12]}...); "
                         "continue it with the same data, or start a new --name")


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
    noted: list[int] = []

    def stop_if_asked() -> None:
        if noted:
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield stop_if_asked
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield stop_if_asked
    finally:
        signal.signal(signal.SIGINT, previous)
    stop_if_asked()


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
              on_finished: Callable[[int, int], Any] | None = None) -> SweepRun:
    """Validate, claim the experiment, load data once, start Ray, preflight, run every trial.

    claim: the experiment as claim_experiment gave it, when the caller holds it beyond the
    run (the CLI writes the results under it); by default the run claims it for itself.
    ray_alive: a stack of the caller's that stops Ray when it closes, so that a refusal is
    printed before Ray's ~1.5 s shutdown; by default Ray stops when the run returns.
    trials: the cells to run (default: every cell of the spec); on --extend the caller
        passes those not kept from earlier runs (the new Tune experiment extend-N runs them).
    on_finished: called as on_finished(finished, total) after each trial that finished or
        errored, in Tune's loop (a Tune callback, stored in tuner.pkl: it must pickle).
    Raises SweepError for user-facing problems, before any trial starts. Errored or
    unfinished trials are not errors here: the experiment directory records them, and the
    caller reads it back (analysis) to write the results and decide the exit code.
    """
    if claim is None:
        with claim_experiment(spec, options=options, log=log) as own:
            return run_sweep(spec, options=options, log=log, claim=own, trials=trials, on_finished=on_finished)
    trials = cost.longest_first(expand_trials(spec) if trials is None else trials, overrides=spec.overrides,
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
            urls = ray_alive.enter_context(_ray_session(options, py_modules=spec.py_modules))
            nodes, plan, tuner = _prepare(spec, claim=claim, trials=trials, data_future=data_future,
                                          options=options, stop_if_asked=stop_if_asked, on_finished=on_finished)
        log(f"datavsmath: {len(trials)} trials of {spec.name!r} -> {claim.part_dir or claim.experiment_dir}")
        log("\n".join(resources.describe_plan(plan, nodes=nodes)))
        if urls.get("dashboard"):
            from datavsmath.sweeps.dashboard import login_lines

            log("\n".join(login_lines(urls["dashboard"])))
        log(f"TensorBoard:   tensorboard --logdir {claim.experiment_dir}")
        started = time.time()
        result_grid = tuner.fit()
        wall = time.time() - started
    makespan, bound = _makespan_bound(result_grid, plan=plan, nodes=nodes)
    return SweepRun(experiment_dir=claim.experiment_dir, n_trials=len(trials), makespan_s=makespan or wall,
                    lower_bound_s=bound)


def _prepare(spec: Spec, *, claim: Claim, trials: list[dict[str, Any]], data_future: Future,
             options: SweepOptions, stop_if_asked: Callable[[], None],
             on_finished: Callable[[int, int], Any] | None
             ) -> tuple[list[resources.Node], dict[str, dict[str, float]], Any]:
    """With Ray up: preflight the plan, write the experiment's first files, build the Tuner.
    stop_if_asked raises KeyboardInterrupt after a Ctrl-C, so that one before the first
    file is written keeps nothing."""
    nodes = _nodes()
    plan = plan_for(spec, nodes=nodes, options=options)
    try:
        resources.check_feasible(plan, nodes=nodes)
    except resources.InfeasibleRequestError as exc:
        raise SweepError(str(exc)) from exc
    data = data_future.result()
    if options.resume or options.extend:
        _check_same_data(claim.experiment_dir, data)
    spec = replace(spec, dataset_facts=data.facts())  # spec.yaml records the dataset's name and fingerprint
    modes = {t["damage_mode"] for t in trials}
    reference = (_confusion_reference(spec, data, exp_dir=claim.experiment_dir, reuse=options.resume or options.extend)
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
    _import_tensorboardx_without_torch()
    tuner = _make_tuner(spec, exp_dir=claim.part_dir, trials=trials, data=data, plan=plan, options=options,
                        on_finished=on_finished, transitions=transitions)
    return nodes, plan, tuner


def _import_tensorboardx_without_torch() -> None:
    """Import tensorboardX, which Tune's TensorBoard logger uses in the driver, with torch
    hidden from it: it imports torch only to accept torch tensors, which Tune never logs,
    and torch is ~470 MB and ~1.6 s of the driver's start (benchmarks/README.md, "fixed
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


def _confusion_reference(spec: Spec, data: Dataset, *, exp_dir: str, reuse: bool) -> tuple[dict[str, Any], bool]:
    """(record, fresh): the `confusion` damage mode's reference (ReferenceConfusion.to_record():
    counts, model, n_samples, folds, seed, accuracy), once per sweep in the driver.

    On `reuse` (--resume, --extend) an experiment that already holds one made with the spec's settings
    keeps it (fresh False), so that every trial of the experiment draws from the same matrix;
    else it is computed on the clean training data (deterministic: seed 0) with this machine's
    CPUs (fresh True: the caller writes it into the Tune experiment it starts)."""
    from datavsmath.trainables.damage import confusion_matrix_of

    settings = spec.confusion
    n_samples = min(int(settings["n_samples"]), data.n_train)
    for part in reversed(experiment_parts_of(exp_dir) if reuse else []):
        path = storage.join(part, CONFUSION_REFERENCE_FILE)
        if storage.exists(path):
            stored = json.loads(storage.read_text(path))
            if stored.get("model") == settings["model"] and stored.get("n_samples") == n_samples:
                return stored, False
    threads = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    try:
        reference = confusion_matrix_of(data.x_train, data.y_train, n_classes=data.n_classes,
                                        model=settings["model"], n_samples=n_samples, seed=0, n_jobs=threads)
    except ValueError as exc:
        raise SweepError(f"confusion: the reference model could not be cross-validated: {exc}") from exc
    return reference.to_record(), True


def experiment_parts_of(exp_dir: str) -> list[str]:
    """The experiment's Tune experiments so far (datavsmath.sweeps.spec.experiment_parts); [] before it exists."""
    return experiment_parts(exp_dir) if storage.exists(storage.join(exp_dir, SPEC_FILE)) else []
