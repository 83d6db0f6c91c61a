"""The experiment folder's layout: the name of every file and folder in `<storage>/<name>/`
that this project writes or reads (Tune's own among them), where an experiment's parts are,
the command that continues one, and the checks of its own files before `--resume` hands it
to Tune (`check_resumable`: Tuner.restore reads tuner.pkl and the newest
experiment_state-*.json, and an empty or truncated one makes it fail with a traceback after
Ray started; this reads what it can without Ray and says which file is wrong and what to do).
No ray import here."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from datavsmath.sweeps.options import SweepOptions
from datavsmath.sweeps.safe_yaml import parse_yaml_text
from datavsmath.sweeps.search_keys import is_adaptive
from datavsmath.sweeps.spec import AXES, Spec, SpecError, expand_trials, with_source
from datavsmath.sweeps.validation import parse_spec
from datavsmath.trainables import storage
from datavsmath.trainables.trial_files import FAULT_MARKER as FAULT_MARKER
from datavsmath.trainables.trial_files import STATE_FILE as STATE_FILE

# The validated spec, stored in the experiment directory beside Tune's files.
SPEC_FILE = "spec.yaml"
# The driver that owns the experiment (datavsmath.sweeps.lock), on local storage only.
LOCK_FILE = "driver.lock"
# A sweep started from Python keeps its in-memory inputs there (data as Parquet or .npz, models
# as cloudpickle files; datavsmath.sweep): the stored spec names them, so the experiment stands alone.
INPUTS_DIR = "inputs"
# Tune's own files there: Tuner.restore needs tuner.pkl; the state is saved as experiment_state-<time>.json.
TUNER_FILE = "tuner.pkl"
STATE_PREFIX = "experiment_state-"
STATE_PATTERN = f"{STATE_PREFIX}*.json"  # saved every datavsmath.sweeps.tuner.EXPERIMENT_STATE_PERIOD_S
# `--extend` runs each extension as a Tune experiment of its own in a subfolder extend-1,
# extend-2, ... of the experiment directory, with the spec it ran; the results are the union.
EXTENSION_PREFIX = "extend-"
# The experiment directory's record of the `confusion` damage mode's reference model:
# datavsmath.trainables.damage.ReferenceConfusion.to_record(), written by the driver once per sweep.
CONFUSION_REFERENCE_FILE = "confusion_reference.json"
# The tidy results beside Tune's files (datavsmath.analysis.load.write_result_files): the table
# as Parquet and as CSV, and in the talk's seed format.
RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
SEED_RESULTS_CSV = "seed_results.csv"
# The report (datavsmath.analysis.report), the one file a report may write inside an experiment.
REPORT_FILE = "report.html"
# An adaptive search's searcher checkpoint (ray.tune.search.Searcher.CKPT_FILE_TMPL:
# searcher-state-<time>.pkl), one per driver session: (prefix, suffix).
SEARCHER_STATE_GLOB = ("searcher-state-", ".pkl")
# Tune's files in each trial folder: the config, one JSON line per report, a failed trial's
# error. A folder is a trial folder when it holds one of them (a trial that died before it
# started has only error.txt). The trial's own files there: STATE_FILE, FAULT_MARKER.
PARAMS_FILE = "params.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"
TRIAL_MARKERS = (PARAMS_FILE, RESULT_FILE, ERROR_FILE)


def stored_spec_path(exp_dir: str) -> str:
    """Where an experiment directory (local path or URI) keeps its spec."""
    return storage.join(exp_dir, SPEC_FILE)


def stored_spec_text(exp_dir: str) -> str | None:
    """The text of the spec stored in an experiment directory, or None when it has none."""
    path = stored_spec_path(exp_dir)
    return storage.read_text(path) if storage.exists(path) else None


def read_stored_spec(exp_dir: str) -> Spec:
    """The validated spec stored in an experiment directory (local path or URI).

    No trial cap: the sweep that stored it was checked against its own --max-trials.
    Raises FileNotFoundError when there is none, SpecError (naming the file) when it does
    not parse."""
    path = stored_spec_path(exp_dir)
    text = stored_spec_text(exp_dir)
    if text is None:
        raise FileNotFoundError(f"experiment {exp_dir} has no {SPEC_FILE}")
    try:
        return parse_spec(parse_yaml_text(text, source=path), source=path, max_trials=None, recorded=True)
    except SpecError as exc:
        raise with_source(path, exc) from exc


def experiment_parts(exp_dir: str) -> list[str]:
    """The Tune experiments that make up an experiment directory: the directory itself, then
    its extensions extend-1, extend-2, ... (each holding its spec.yaml), in the order run."""
    fs, root = storage.open_location(exp_dir)
    numbers = sorted(int(info.base_name[len(EXTENSION_PREFIX):]) for info in storage.list_dir(fs, root)
                     if info.type == storage.FileType.Directory and info.base_name.startswith(EXTENSION_PREFIX)
                     and info.base_name[len(EXTENSION_PREFIX):].isdigit()
                     and storage.exists(storage.join(exp_dir, info.base_name, SPEC_FILE)))
    return [exp_dir, *(storage.join(exp_dir, f"{EXTENSION_PREFIX}{n}") for n in numbers)]


def next_extension(exp_dir: str) -> str:
    """The folder name of the experiment's next extension (extend-1 for the first)."""
    parts = experiment_parts(exp_dir)
    last = parts[-1].rsplit("/", 1)[-1] if len(parts) > 1 else f"{EXTENSION_PREFIX}0"
    return f"{EXTENSION_PREFIX}{int(last[len(EXTENSION_PREFIX):]) + 1}"


def expected_trials(exp_dir: str) -> list[dict[str, Any]]:
    """Every trial the experiment's stored specs ask for (the first run's and each
    extension's), once each, in the order first asked for."""
    trials: dict[tuple, dict[str, Any]] = {}
    for part in experiment_parts(exp_dir):
        for trial in expand_trials(read_stored_spec(part)):
            trials.setdefault(tuple(trial[a] for a in AXES), trial)
    return list(trials.values())


def searched_trials(exp_dir: str) -> list[dict[str, Any]]:
    """The cells that only adaptive parts (search: kind: adaptive) ask for: their searcher runs
    some of them, and those it never proposed are not expected of the experiment."""
    grid: set[tuple] = set()
    searched: dict[tuple, dict[str, Any]] = {}
    for part in experiment_parts(exp_dir):
        spec = read_stored_spec(part)
        for trial in expand_trials(spec):
            key = tuple(trial[a] for a in AXES)
            if is_adaptive(spec.search):
                searched.setdefault(key, trial)
            else:
                grid.add(key)
    return [trial for key, trial in searched.items() if key not in grid]


def experiment_parts_of(exp_dir: str) -> list[str]:
    """The experiment's Tune experiments so far (experiment_parts); [] before it exists."""
    return experiment_parts(exp_dir) if storage.exists(storage.join(exp_dir, SPEC_FILE)) else []


def experiment_path(storage_path: str, name: str) -> str:
    """The Tune experiment directory `<storage>/<name>` (absolute for local paths)."""
    if storage.is_uri(storage_path):
        return storage.join(storage_path, name)
    return str(Path(storage_path).expanduser().resolve() / name)


def is_resumable(exp_dir: str) -> bool:
    """Whether Tune can continue the experiment: it holds our spec and Tune's tuner.pkl."""
    return all(storage.exists(storage.join(exp_dir, f)) for f in (SPEC_FILE, TUNER_FILE))


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


# --- before --resume -------------------------------------------------------------------

class ExperimentFilesError(SpecError):
    """An experiment directory's files cannot be used as they are; the message names the
    file, what is wrong with it and what to do."""


def _size(fs: pafs.FileSystem, path: str) -> int | None:
    """Bytes of the file at `path`, or None when there is no file."""
    info = fs.get_file_info(path)
    return info.size if info.type == pafs.FileType.File else None


def _state_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """experiment_state-*.json names, oldest first (Tune restores from the last by name)."""
    return sorted(i.base_name for i in storage.list_dir(fs, root)
                  if i.type == pafs.FileType.File and i.base_name.startswith(STATE_PREFIX))


def _check_state(fs: pafs.FileSystem, root: str, exp_dir: str) -> None:
    """The newest experiment_state file, when there is one, must be a JSON object with a
    trial_data list: Tune restores from that file alone."""
    names = _state_files(fs, root)
    if not names:
        return
    path = storage.join(exp_dir, names[-1])
    try:
        state = json.loads(storage.read_text(path))
    except (ValueError, RecursionError) as exc:
        older = f"delete it to resume from {names[-2]}, or " if len(names) > 1 else ""
        raise ExperimentFilesError(f"--resume: {path} is not valid JSON ({str(exc)[:120]}), cut short while "
                                   f"being written; {older}start again with --overwrite") from exc
    if not isinstance(state, dict) or not isinstance(state.get("trial_data"), list):
        raise ExperimentFilesError(f"--resume: {path} is not a Tune experiment state (no trial_data list); "
                                   "start again with --overwrite")


def check_resumable(exp_dir: str) -> Spec:
    """The stored spec of an experiment that `--resume` can continue.

    exp_dir: the experiment directory, local path or URI. Checks that spec.yaml exists and
    parses (datavsmath.sweeps.experiment_layout.read_stored_spec), that tuner.pkl exists and is not empty, and that
    the newest experiment_state-*.json is a complete JSON file. Raises ExperimentFilesError
    (a SpecError) naming the file, what is wrong and what to do.
    """
    fs, root = storage.open_location(exp_dir)
    missing = [name for name in (SPEC_FILE, TUNER_FILE) if _size(fs, f"{root}/{name}") is None]
    if missing == [TUNER_FILE]:  # started, but Tune never saved the experiment
        has_state = any(info.base_name.startswith(STATE_PREFIX) for info in storage.list_dir(fs, root))
        advice = ("start it again with --overwrite" if has_state
                  else "no trial ran: delete that folder to start again, or choose another --name")
        raise ExperimentFilesError(f"--resume: no experiment to resume at {exp_dir} (no {TUNER_FILE}); {advice}")
    if missing:
        raise ExperimentFilesError(f"--resume: no experiment to resume at {exp_dir} (no {' or '.join(missing)}); "
                                   "run without --resume to start it")
    if _size(fs, f"{root}/{TUNER_FILE}") == 0:
        raise ExperimentFilesError(f"--resume: {storage.join(exp_dir, TUNER_FILE)} is empty (0 bytes): Tune never "
                                   "finished saving this experiment; start it again with --overwrite")
    try:
        spec = read_stored_spec(exp_dir)
    except SpecError as exc:
        raise ExperimentFilesError(f"--resume: {exc}; start again with --overwrite") from exc
    _check_state(fs, root, exp_dir)
    return spec
