"""Load a sweep's results into the tidy frame of docs/CONTRACTS.md (one row per trial).

Sources: a Tune experiment directory (local path or any pyarrow.fs URI), its
`results.parquet` / `results.csv`, or a CSV in the talk's format (`frac, exp_name, acc, auc`,
optionally `frac_sample, frac_damage, damage_mode, seed`). Trials that are missing or failed
keep their row, with status MISSING or ERROR, so they are counted, never dropped.

Files of an experiment that do not read as Tune writes them never stop the loading: each
problem is one line naming the file, kept in the frame's `attrs["problems"]` and warned
about (ExperimentFileWarning), and the trial is read from what is left. A results file or
CSV that cannot be read at all is a ValueError naming it. `write_result_files` writes the
tidy files beside an experiment (atomically; regenerated idempotently).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.fs as pafs

from datavsmath.analysis.schema import (
    COLUMN_DTYPES,
    FAILED,
    FINISHED,
    LIST_COLUMNS,
    MATRIX_COLUMNS,
    MISSING,
    STATUSES,
    normalize,
    read_results_csv,
    read_results_parquet,
    to_seed_format,
    trial_key,
)
from datavsmath.analysis.tune_files import (
    TrialFolder,
    TrialState,
    error_summary,
    read_experiment_state,
    read_trial_folders,
)
from datavsmath.sweeps.experiment_layout import (
    ERROR_FILE,
    EXTENSION_PREFIX,
    PARAMS_FILE,
    RESULT_FILE,
    RESULTS_CSV,
    RESULTS_PARQUET,
    SEED_RESULTS_CSV,
    SPEC_FILE,
    expected_trials,
    experiment_parts,
    searched_trials,
)
from datavsmath.sweeps.spec import AXES, AXIS_DEFAULTS, SpecError
from datavsmath.sweeps.validation import check_trial
from datavsmath.trainables import storage
from datavsmath.trainables.checks import echo, is_integer, is_number
from datavsmath.trainables.storage import file_type, join, list_dir, open_location

# Metrics and facts copied from a finished trial's last result line into the tidy row.
FINAL_FIELDS = ("acc", "auc", "val_acc", "n_train", "n_val", "n_damaged", "fit_seconds",
                "report_seconds", "checkpoints", "device", "peak_rss_mb", "confusion", "dataset",
                "dataset_fingerprint", "noise_rate", "noise_rate_per_class", "realized_transition",
                "repair_model", "repair_folds", "n_flagged", "detection_precision", "detection_recall",
                "relabel_acc", "label_acc", "repair_seconds", "audit_frac", "n_audited", "vote_k", "n_bought",
                "n_wrong", "cleanlab_noise", "cleanlab_joint_noise", "acc_test_damaged", "acc_test_corrected",
                "test_noise_rate", "warning_counts", "warning_texts")
# Tune statuses that mean "not finished yet" (PAUSED is shown as PENDING).
_WAITING = {"PENDING", "PAUSED"}
PROBLEMS = "problems"  # the tidy frame's attrs key: one line per unreadable file or part of one
# Times pandas can hold as timestamps: seconds since 1970, up to the year 2262.
_MAX_SECONDS = 9.2e9
_PROBLEMS_IN_WARNING = 3


class ExperimentFileWarning(UserWarning):
    """Some of an experiment's files could not be read as Tune writes them; the rest was.

    `problems` holds one line per problem, each naming the file; str() sums them up."""

    def __init__(self, exp_dir: str | Path, problems: Sequence[str]) -> None:
        self.exp_dir, self.problems = str(exp_dir), list(problems)
        shown = " | ".join(self.problems[:_PROBLEMS_IN_WARNING])
        more = len(self.problems) - _PROBLEMS_IN_WARNING
        super().__init__(f"{self.exp_dir}: {shown}" + (f" | and {more} more" if more > 0 else ""))


# --- experiment directory -------------------------------------------------------------

def results_from_experiment(exp_dir: str | Path, *,
                            expected: Sequence[Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The tidy frame of an experiment directory: one row per expected trial.

    exp_dir: local path or URI of a Tune experiment directory; its extensions (subfolders
        extend-N, datavsmath.sweeps.experiment_layout.experiment_parts) are read too, and a trial run in several
        of them counts once: its run in the latest part, finished or not (the earlier runs stay
        on disk, not counted).
    expected: the trials to report (dicts of model, sample_frac, damage_frac, damage_mode,
        seed); default: every trial the stored specs ask for (datavsmath.sweeps.experiment_layout.expected_trials),
        less the cells an adaptive search never proposed (searched_trials).
    Status per row: TERMINATED when result.json's last line is final (done and acc),
    ERROR (with the exception line of error.txt), RUNNING / PENDING from Tune's state,
    MISSING when no trial folder holds the trial (error says why when Tune's state had one).
    Unreadable files (a corrupt params.json, result.json line or experiment_state) and trial
    folders that match no expected trial are listed in attrs["problems"] and warned about.
    """
    fs, root = open_location(exp_dir)
    if file_type(fs, root) != pafs.FileType.Directory:
        raise FileNotFoundError(f"exp_dir must be an experiment directory, got {exp_dir} (not a directory)")
    from_specs = expected is None
    expected = list(expected) if expected is not None else expected_trials(str(exp_dir))
    problems: list[str] = []
    runs: dict[tuple, list[tuple[TrialFolder | None, TrialState | None]]] = {}
    parts, specless = all_parts(str(exp_dir))
    problems += [f"{part}: no {SPEC_FILE}; its trials are read from their own files (params.json)"
                 for part in specless]
    for part in parts:
        part_fs, part_root = open_location(part)
        folders = read_trial_folders(part_fs, part_root)
        states, part_problems = read_experiment_state(part_fs, part_root)
        problems += part_problems + [problem for folder in folders for problem in folder.problems]
        for key, run in _observed_trials(folders, states, problems).items():
            runs.setdefault(key, []).append(run)
    # The latest part that ran a cell counts: a later part runs a cell only when it was not
    # finished before or `--rerun-changed` asked for it with new settings, whatever its outcome.
    observed = {key: options[-1] for key, options in runs.items()}
    keys = [_key_of(trial) for trial in expected]
    if from_specs:  # an adaptive search's cells that it never proposed are no trials of the experiment
        unproposed = {_key_of(trial) for trial in searched_trials(str(exp_dir))} - set(observed)
        expected = [trial for trial, key in zip(expected, keys) if key not in unproposed]
        keys = [key for key in keys if key not in unproposed]
    if from_specs and specless:  # the cells of an extension whose spec is lost: as its trials record them
        known = set(keys)
        lost = [key for key in observed if key not in known]
        expected += [dict(zip(("model", "sample_frac", "damage_frac", "damage_mode", "seed", "repair"), key))
                     for key in lost]
        keys += lost
    unexpected = sorted(set(observed) - set(keys))
    if unexpected:
        problems.append(f"{len(unexpected)} trial(s) are not in its spec, e.g. {echo(unexpected[0])}; "
                        "they are left out of the results")
    rows = [_trial_row(trial, observed.get(key), problems) for trial, key in zip(expected, keys)]
    df = normalize(pd.DataFrame(rows))
    df.attrs[PROBLEMS] = problems
    if problems:
        warnings.warn(ExperimentFileWarning(exp_dir, problems), stacklevel=2)
    return df


def all_parts(exp_dir: str) -> tuple[list[str], list[str]]:
    """(every Tune experiment of the experiment directory in the order run, the extensions
    among them without their spec.yaml): experiment_parts plus the extend-N folders it
    leaves out for want of a spec, whose trial folders still hold their configs."""
    parts = experiment_parts(exp_dir)
    fs, root = open_location(exp_dir)
    suffixes = {info.base_name[len(EXTENSION_PREFIX):]: info for info in list_dir(fs, root)
                if info.type == pafs.FileType.Directory and info.base_name.startswith(EXTENSION_PREFIX)}
    numbered = {int(n): join(exp_dir, f"{EXTENSION_PREFIX}{n}") for n in suffixes if n.isdigit()}
    specless = [numbered[n] for n in sorted(numbered) if numbered[n] not in parts]
    return [exp_dir, *(numbered[n] for n in sorted(numbered))], specless


def finished_configs(exp_dir: str | Path) -> list[tuple[dict[str, Any], str]]:
    """(params.json, trial folder) of every cell of the experiment directory and its
    extensions whose run in the latest part that ran it finished (the run the results
    count), in the order of the parts. For `datavsmath sweep --extend`."""
    latest: dict[tuple, tuple[TrialFolder | None, str]] = {}
    problems: list[str] = []
    for part in all_parts(str(exp_dir))[0]:
        fs, root = open_location(part)
        states, _ = read_experiment_state(fs, root)
        for key, (folder, _state) in _observed_trials(read_trial_folders(fs, root), states, problems).items():
            latest.pop(key, None)  # re-inserted: the order of the parts
            latest[key] = (folder, part)
    return [(dict(folder.params), f"{part}/{folder.name}") for folder, part in latest.values()
            if folder is not None and folder.params is not None and _final_result(folder) is not None]


def _key_of(config: Mapping[str, Any]) -> tuple:
    """trial_key of a trial's axes; an axis of AXIS_DEFAULTS it lacks takes its default."""
    return trial_key(**{a: config.get(a, AXIS_DEFAULTS.get(a)) for a in AXES})


def _final_result(folder: TrialFolder | None) -> dict[str, Any] | None:
    """The last result line when it is a finished trial's final report, else None."""
    if folder is None or not folder.results:
        return None
    last = folder.results[-1]
    return last if last.get("done") and "acc" in last else None


def _axes(config: Any, *, where: str, problems: list[str]) -> dict[str, Any] | None:
    """The trial's axes from a recorded config (datavsmath.sweeps.validation.check_trial), or None with the
    reason appended to `problems`."""
    try:
        return check_trial(config if isinstance(config, dict) else {})
    except SpecError as exc:
        problems.append(f"{where}: {exc}")
        return None


def _trial_axes(folder: TrialFolder | None, state: TrialState | None, problems: list[str]) -> dict[str, Any] | None:
    """A trial's axes: from params.json, else from Tune's state (a trial that died before it
    started has a folder with only error.txt, and a corrupt params.json is not trusted)."""
    if folder is not None and folder.params is not None:
        axes = _axes(folder.params, where=f"{folder.name}/{PARAMS_FILE}", problems=problems)
        if axes is None and state is None:
            problems[-1] += "; nothing else records the trial's axes, so it is left out"
        if axes is not None or state is None:
            return axes
    assert state is not None  # the caller passes a folder with params or a state
    from_state = _axes(state.config, where=f"Tune's state of trial {state.trial_id}: config", problems=problems)
    if from_state is not None and folder is not None and folder.params is not None:
        problems[-1] += "; the trial's axes are taken from Tune's state"
    return from_state


def _observed_trials(folders: list[TrialFolder], states: dict[str, TrialState], problems: list[str]
                     ) -> dict[tuple, tuple[TrialFolder | None, TrialState | None]]:
    """axis key -> (folder, state) for every trial a folder or Tune's state knows of.

    A state and a folder belong together through the state's relative_logdir. A trial whose
    axes cannot be read from either is left out, with the reason appended to `problems`.
    """
    by_name = {folder.name: folder for folder in folders}
    trials: list[tuple[dict[str, Any] | None, TrialFolder | None, TrialState | None]] = []
    for state in states.values():
        folder = by_name.pop(state.relative_logdir or "", None)
        trials.append((_trial_axes(folder, state, problems), folder, state))
    trials += [(_trial_axes(folder, None, problems), folder, None)
               for folder in by_name.values() if folder.params is not None]
    found: dict[tuple, list[tuple[TrialFolder | None, TrialState | None]]] = {}
    for axes, trial_folder, trial_state in trials:
        if axes is not None:
            found.setdefault(_key_of(axes), []).append((trial_folder, trial_state))
    return {key: max(options, key=_preference) for key, options in found.items()}


def _preference(option: tuple[TrialFolder | None, TrialState | None]) -> tuple:
    """When a trial was run more than once, keep the finished run, else the latest one."""
    folder, state = option
    start = _seconds(state.start_time if state else None) or 0.0
    return (_final_result(folder) is not None, bool(folder and folder.results), start)


def _trial_status(folder: TrialFolder | None, state: TrialState | None) -> tuple[str, str | None]:
    """(status, error line) of one trial, from its result lines, error.txt and Tune's state."""
    if folder is None and state is None:
        return MISSING, None
    if folder is None and state is not None and state.relative_logdir and state.status != "PENDING":
        # Tune names a trial's folder when it creates it: this one existed and is gone.
        return MISSING, (f"trial folder {state.relative_logdir} is missing; Tune's state has the trial as "
                         f"{state.status or 'unknown'}")
    if _final_result(folder) is not None:
        return FINISHED, None
    if folder is not None and folder.error_text is not None:
        return FAILED, error_summary(folder.error_text)
    tune_status = state.status if state else ""
    if tune_status == FAILED:
        return FAILED, f"Tune reports ERROR but the trial folder has no {ERROR_FILE}"
    if tune_status == FINISHED:
        return FAILED, "Tune reports TERMINATED but result.json has no final line (done with acc)"
    has_results = bool(folder and folder.results)
    if tune_status in _WAITING and not has_results:
        return "PENDING", None
    return ("RUNNING", None) if has_results or tune_status == "RUNNING" else ("PENDING", None)


def _seconds(value: Any) -> float | None:
    """A time in seconds since 1970 that pandas can hold, else None (Tune writes -inf
    before a trial's first report; a corrupt file may hold anything)."""
    return float(value) if is_number(value) and 0 <= value < _MAX_SECONDS else None


def _timestamp(seconds: float | None) -> pd.Timestamp | None:
    return None if seconds is None else pd.Timestamp(seconds, unit="s", tz="UTC")


def _times(folder: TrialFolder | None, state: TrialState | None) -> tuple[Any, Any]:
    """(start, end) of a trial, preferring Tune's float times over result.json's whole seconds.

    start: Tune's start_time, else the first report's timestamp minus its run time.
    end: Tune's last_result_time, else the last report's timestamp.
    """
    results = folder.results if folder else []
    start = _seconds(state.start_time if state else None)
    if start is None and results:
        first = _seconds(results[0].get("timestamp"))
        run = results[0].get("time_total_s", 0.0)
        start = _seconds(first - run) if first is not None and is_number(run) else None
    end = _seconds(state.last_result_time if state else None)
    if end is None and results:
        end = _seconds(results[-1].get("timestamp"))
    return _timestamp(start), _timestamp(end)


def _fits_column(name: str, value: Any) -> bool:
    """Whether a result value fits its tidy column's dtype (COLUMN_DTYPES)."""
    dtype = COLUMN_DTYPES[name]
    if value is None:
        return True
    if dtype == "float64":  # NaN included: the trees' val_acc
        return isinstance(value, float) or (is_integer(value) and abs(value) < 2**1023)
    if dtype == "Int64":
        return is_integer(value) and abs(value) < 2**63
    if name in MATRIX_COLUMNS:
        return isinstance(value, list) and all(isinstance(r, list) and all(is_integer(x) for x in r) for r in value)
    if name == "warning_counts":  # {category: count}, kept as JSON text
        return isinstance(value, dict) and all(isinstance(k, str) and is_integer(v) for k, v in value.items())
    if name == "warning_texts":  # {category: message}, kept as JSON text
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    if name in LIST_COLUMNS:
        return isinstance(value, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
    return isinstance(value, str)


def _final_fields(folder: TrialFolder | None, problems: list[str]) -> dict[str, Any]:
    """FINAL_FIELDS of a finished trial's final line; a value of the wrong kind is left
    empty, with a problem naming the file and the field."""
    final = _final_result(folder) or {}
    out = {}
    for name in FINAL_FIELDS:
        value = final.get(name)
        if not _fits_column(name, value):
            problems.append(f"{folder.name if folder else '?'}/{RESULT_FILE}: final line's {name} must be "
                            f"{COLUMN_DTYPES[name]}, got {echo(value)}; left empty")
            value = None
        as_json = name in ("warning_counts", "warning_texts") and value is not None
        out[name] = json.dumps(value, sort_keys=True) if as_json else value
    return out


def _trial_row(trial: Mapping[str, Any], observed: tuple[TrialFolder | None, TrialState | None] | None,
               problems: list[str]) -> dict[str, Any]:
    """One tidy row: the expected trial's axes plus what its folder and state say."""
    folder, state = observed if observed is not None else (None, None)
    status, error = _trial_status(folder, state)
    row: dict[str, Any] = {a: trial.get(a, AXIS_DEFAULTS.get(a)) for a in AXES}
    row.update(status=status, error=error)
    results = folder.results if folder else []
    row["trial_id"] = (state.trial_id if state else
                       (results[-1].get("trial_id") if results else None) or (folder.name if folder else None))
    row.update(_final_fields(folder, problems))
    epochs = [r["epoch"] for r in results if is_integer(r.get("epoch")) and 0 <= r["epoch"] < 2**63]
    row["epochs_done"] = int(max(epochs)) if epochs else None
    row["start_time"], row["end_time"] = _times(folder, state)
    return row


# --- files: parquet, csv, the talk's csv -----------------------------------------------

def load_results(path: str | Path, *, frac_axis: str = "sample_frac",
                 damage_mode: str | None = None) -> pd.DataFrame:
    """The tidy frame from any results source.

    path: an experiment directory (local or URI; spec.yaml, else results.parquet, else
        results.csv inside it), a results.parquet, a results.csv, or a talk-format CSV.
    frac_axis, damage_mode: how to read a talk-format CSV, see `read_seed_csv`.
    Raises FileNotFoundError when nothing is at `path`, ValueError naming the file when it
    cannot be read.
    """
    if "\0" in str(path):  # the OS refuses such paths
        raise ValueError(f"results path must not contain a NUL byte, got {echo(str(path))}")
    fs, p = open_location(path)
    kind = file_type(fs, p)
    if kind == pafs.FileType.NotFound:
        raise FileNotFoundError(f"results path does not exist: {path}")
    if kind == pafs.FileType.Directory:
        return _load_directory(path, fs=fs, root=p)
    suffix = Path(p).suffix.lower()
    if suffix == ".parquet":
        return read_results_parquet(fs, p)
    if suffix == ".csv":
        return read_results_csv(fs, p, frac_axis=frac_axis, damage_mode=damage_mode)
    raise ValueError(f"results path must be an experiment directory, a .parquet or a .csv file, got {path}")


def _load_directory(path: str | Path, *, fs: pafs.FileSystem, root: str) -> pd.DataFrame:
    for name in (SPEC_FILE, RESULTS_PARQUET, RESULTS_CSV):
        if file_type(fs, f"{root}/{name}") == pafs.FileType.File:
            break
    else:
        raise FileNotFoundError(f"results directory {path} has none of {SPEC_FILE}, {RESULTS_PARQUET}, {RESULTS_CSV}")
    if name == SPEC_FILE:
        return results_from_experiment(path)
    if name == RESULTS_PARQUET:
        return read_results_parquet(fs, f"{root}/{name}")
    return read_results_csv(fs, f"{root}/{name}", frac_axis="sample_frac", damage_mode=None)


def summarize(df: pd.DataFrame) -> dict[str, Any]:
    """Counts and failures of a tidy frame, for the report header and `datavsmath status`.

    Returns {n_trials, status_counts (every status, 0 included), n_finished, n_failed,
    n_missing, n_unfinished (RUNNING + PENDING), failures (one dict per trial that did not
    finish: trial_id, status, the axes, error), start_time, end_time (ISO text or None),
    duration_s (float or None)}.
    """
    counts = df["status"].value_counts()
    status_counts = {s: int(counts.get(s, 0)) for s in STATUSES}
    status_counts.update({str(s): int(n) for s, n in counts.items() if s not in status_counts})
    not_done = df[df["status"] != FINISHED]
    failures = [
        {"trial_id": _plain(r.trial_id), "status": r.status, **{a: _plain(getattr(r, a)) for a in AXES},
         "error": _plain(r.error)}
        for r in not_done.itertuples(index=False)
    ]
    # A trial that errored before its first report has a start but no end: it still counts.
    start, end = df["start_time"].min(), pd.concat([df["start_time"], df["end_time"]]).max()
    return {
        "n_trials": int(len(df)),
        "status_counts": status_counts,
        "n_finished": status_counts[FINISHED],
        "n_failed": status_counts[FAILED],
        "n_missing": status_counts[MISSING],
        "n_unfinished": status_counts["RUNNING"] + status_counts["PENDING"],
        "failures": failures,
        "start_time": None if pd.isna(start) else start.isoformat(),
        "end_time": None if pd.isna(end) else end.isoformat(),
        "duration_s": None if pd.isna(start) or pd.isna(end) else float((end - start).total_seconds()),
    }


def _plain(value: Any) -> Any:
    """numpy / pandas scalars as plain Python values (None for NA), for JSON and printing."""
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


# --- the tidy files beside an experiment ------------------------------------------------

def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """List-valued columns (confusion, per_class_acc) as JSON strings for CSV."""
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (list, tuple)) or hasattr(v, "tolist")).any():
            out[col] = out[col].map(lambda v: json.dumps(v.tolist() if hasattr(v, "tolist") else v)
                                    if v is not None and not (isinstance(v, float) and v != v) else None)
    return out


def write_result_files(exp_dir: str) -> tuple[dict[str, str], pd.DataFrame]:
    """Regenerate results.parquet, results.csv and seed_results.csv from the experiment dir.

    Returns ({file name: path written}, the tidy frame)."""
    df = results_from_experiment(exp_dir)
    paths = {name: storage.join(exp_dir, name) for name in (RESULTS_PARQUET, RESULTS_CSV, SEED_RESULTS_CSV)}
    storage.atomic_write(paths[RESULTS_PARQUET], lambda b: df.to_parquet(b, index=False))
    storage.atomic_write(paths[RESULTS_CSV], lambda b: _csv_ready(df).to_csv(b, index=False))
    storage.atomic_write(paths[SEED_RESULTS_CSV], lambda b: to_seed_format(df).to_csv(b, index=False))
    return paths, df
