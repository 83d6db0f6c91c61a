"""Load a sweep's results into the tidy frame of docs/CONTRACTS.md (one row per trial).

Sources: a Tune experiment directory (local path or any pyarrow.fs URI), its
`results.parquet` / `results.csv`, or a CSV in the talk's format (`frac, exp_name, acc, auc`,
optionally `frac_sample, frac_damage, damage_mode, seed`). Trials that are missing or failed
keep their row, with status MISSING or ERROR, so they are counted, never dropped.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from analysis.schema import (
    FAILED,
    FINISHED,
    MISSING,
    RESULTS_CSV,
    RESULTS_PARQUET,
    SEED_COLUMNS,
    STATUSES,
    normalize,
    num_obs,
    trial_key,
)
from analysis.tune_files import (
    ERROR_FILE,
    TrialFolder,
    TrialState,
    error_summary,
    read_experiment_state,
    read_text,
    read_trial_folders,
)
from sweeps.spec import AXES, SPEC_FILE, expand_trials, read_stored_spec, stored_spec_text
from trainables.storage import file_type, open_location

# Metrics and facts copied from a finished trial's last result line into the tidy row.
FINAL_FIELDS = ("acc", "auc", "val_acc", "n_train", "n_val", "n_damaged", "fit_seconds",
                "report_seconds", "checkpoints", "device", "peak_rss_mb", "confusion")
FRAC_AXES = ("sample_frac", "damage_frac")
# Tune statuses that mean "not finished yet" (PAUSED is shown as PENDING).
_WAITING = {"PENDING", "PAUSED"}


# --- experiment directory -------------------------------------------------------------

def expected_trials_from_spec(exp_dir: str | Path) -> list[dict[str, Any]]:
    """The trials the experiment's stored spec asks for (sweeps.spec.expand_trials).

    Returns dicts with model, sample_frac, damage_frac, damage_mode, seed.
    Raises FileNotFoundError when the directory has no spec.yaml.
    """
    return expand_trials(read_stored_spec(str(exp_dir)))


def results_from_experiment(exp_dir: str | Path, *,
                            expected: Sequence[Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The tidy frame of an experiment directory: one row per expected trial.

    exp_dir: local path or URI of a Tune experiment directory.
    expected: the trials to report (dicts of model, sample_frac, damage_frac, damage_mode,
        seed); default: the expansion of the directory's spec.yaml.
    Status per row: TERMINATED when result.json's last line is final (done and acc),
    ERROR (with the exception line of error.txt), RUNNING / PENDING from Tune's state,
    MISSING when neither a trial folder nor Tune's state knows the trial.
    Trial folders that match no expected trial are reported in a warning.
    """
    fs, root = open_location(exp_dir)
    if file_type(fs, root) != pafs.FileType.Directory:
        raise FileNotFoundError(f"exp_dir must be an experiment directory, got {exp_dir} (not a directory)")
    expected = list(expected) if expected is not None else expected_trials_from_spec(exp_dir)
    observed = _observed_trials(read_trial_folders(fs, root), read_experiment_state(fs, root))
    keys = [_key_of(trial) for trial in expected]
    unexpected = sorted(set(observed) - set(keys))
    if unexpected:
        warnings.warn(f"{len(unexpected)} trial(s) in {exp_dir} are not in its spec, e.g. {unexpected[0]}; "
                      "they are left out of the results", stacklevel=2)
    rows = [_trial_row(trial, observed.get(key)) for trial, key in zip(expected, keys)]
    return normalize(pd.DataFrame(rows))


def _key_of(config: Mapping[str, Any]) -> tuple:
    return trial_key(*(config[a] for a in AXES))


def _final_result(folder: TrialFolder | None) -> dict[str, Any] | None:
    """The last result line when it is a finished trial's final report, else None."""
    if folder is None or not folder.results:
        return None
    last = folder.results[-1]
    return last if last.get("done") and "acc" in last else None


def _observed_trials(folders: list[TrialFolder], states: dict[str, TrialState]
                     ) -> dict[tuple, tuple[TrialFolder | None, TrialState | None]]:
    """axis key -> (folder, state) for every trial a folder or Tune's state knows of.

    A state and a folder belong together through the state's relative_logdir; the axes
    come from params.json, else from the state's config (a trial that died before it
    started has a folder with only error.txt).
    """
    by_name = {folder.name: folder for folder in folders}
    trials: list[tuple[dict[str, Any], TrialFolder | None, TrialState | None]] = []
    for state in states.values():
        folder = by_name.pop(state.relative_logdir or "", None)
        trials.append(((folder.params if folder and folder.params else state.config), folder, state))
    trials += [(folder.params, folder, None) for folder in by_name.values() if folder.params is not None]
    found: dict[tuple, list[tuple[TrialFolder | None, TrialState | None]]] = {}
    for config, trial_folder, trial_state in trials:
        if all(a in config for a in AXES):  # else not a trial of this project's trainable
            found.setdefault(_key_of(config), []).append((trial_folder, trial_state))
    return {key: max(options, key=_preference) for key, options in found.items()}


def _preference(option: tuple[TrialFolder | None, TrialState | None]) -> tuple:
    """When a trial was run more than once, keep the finished run, else the latest one."""
    folder, state = option
    start = (state.start_time if state and state.start_time else 0.0)
    return (_final_result(folder) is not None, bool(folder and folder.results), start)


def _trial_status(folder: TrialFolder | None, state: TrialState | None) -> tuple[str, str | None]:
    """(status, error line) of one trial, from its result lines, error.txt and Tune's state."""
    if folder is None and state is None:
        return MISSING, None
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


def _timestamp(seconds: float | None) -> pd.Timestamp | None:
    return None if seconds is None else pd.Timestamp(seconds, unit="s", tz="UTC")


def _times(folder: TrialFolder | None, state: TrialState | None) -> tuple[Any, Any]:
    """(start, end) of a trial, preferring Tune's float times over result.json's whole seconds.

    start: Tune's start_time, else the first report's timestamp minus its run time.
    end: Tune's last_result_time, else the last report's timestamp.
    """
    results = folder.results if folder else []
    start = _finite(state.start_time if state else None)
    if start is None and results and "timestamp" in results[0]:
        start = results[0]["timestamp"] - results[0].get("time_total_s", 0.0)
    end = _finite(state.last_result_time if state else None)
    if end is None and results:
        end = results[-1].get("timestamp")
    return _timestamp(start), _timestamp(end)


def _finite(seconds: float | None) -> float | None:
    """None for unknown times (Tune writes -inf before a trial's first report)."""
    return seconds if seconds is not None and np.isfinite(seconds) else None


def _trial_row(trial: Mapping[str, Any],
               observed: tuple[TrialFolder | None, TrialState | None] | None) -> dict[str, Any]:
    """One tidy row: the expected trial's axes plus what its folder and state say."""
    folder, state = observed if observed is not None else (None, None)
    status, error = _trial_status(folder, state)
    row: dict[str, Any] = {a: trial[a] for a in AXES}
    row.update(status=status, error=error)
    results = folder.results if folder else []
    row["trial_id"] = (state.trial_id if state else
                       (results[-1].get("trial_id") if results else None) or (folder.name if folder else None))
    final = _final_result(folder) or {}
    row.update({name: final.get(name) for name in FINAL_FIELDS})
    epochs = [r["epoch"] for r in results if isinstance(r.get("epoch"), (int, float))]
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
    """
    fs, p = open_location(path)
    kind = file_type(fs, p)
    if kind == pafs.FileType.NotFound:
        raise FileNotFoundError(f"results path does not exist: {path}")
    if kind == pafs.FileType.Directory:
        return _load_directory(path, fs=fs, root=p)
    suffix = Path(p).suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(fs, p)
    if suffix == ".csv":
        return _read_csv(fs, p, frac_axis=frac_axis, damage_mode=damage_mode)
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
        return _read_parquet(fs, f"{root}/{name}")
    return _read_csv(fs, f"{root}/{name}", frac_axis="sample_frac", damage_mode=None)


def _read_parquet(fs: pafs.FileSystem, path: str) -> pd.DataFrame:
    return normalize(pq.read_table(path, filesystem=fs).to_pandas())


def _read_csv(fs: pafs.FileSystem, path: str, *, frac_axis: str, damage_mode: str | None) -> pd.DataFrame:
    raw = pd.read_csv(io.StringIO(read_text(fs, path)))
    if "status" in raw.columns:
        return normalize(raw)
    if {"exp_name", "acc", "auc"} <= set(raw.columns):
        return seed_frame_to_tidy(raw, frac_axis=frac_axis, damage_mode=damage_mode)
    raise ValueError(f"CSV {path} must be a results.csv (with a status column) or in the talk's format "
                     f"(frac, exp_name, acc, auc); got columns {list(raw.columns)}")


def read_seed_csv(path: str | Path, *, frac_axis: str = "sample_frac",
                  damage_mode: str | None = None) -> pd.DataFrame:
    """A CSV in the talk's format as a tidy frame (status TERMINATED, one row per line).

    Columns read: exp_name (-> model), acc, auc, and either frac_sample / frac_damage or
    `frac`, which the talk used for whichever axis the experiment varied:
    frac_axis: "sample_frac" (default; the other axis is then damage_frac 0) or
        "damage_frac" (sample_frac is then 1.0, the talk's full-data damage runs).
    damage_mode: used when the file has no damage_mode column; default None means "none"
        for undamaged rows, and an error if any row is damaged (the file cannot tell
        random from constant damage).
    seed: the file's seed column, else 0.
    n_train: round(sample_frac * the training-set size of the dataset).
    """
    fs, p = open_location(path)
    return seed_frame_to_tidy(pd.read_csv(io.StringIO(read_text(fs, p))), frac_axis=frac_axis,
                              damage_mode=damage_mode)


def seed_frame_to_tidy(raw: pd.DataFrame, *, frac_axis: str = "sample_frac",
                       damage_mode: str | None = None) -> pd.DataFrame:
    """The talk-format rows of `raw` as a tidy frame; see `read_seed_csv` for the rules."""
    if frac_axis not in FRAC_AXES:
        raise ValueError(f"frac_axis must be one of {list(FRAC_AXES)}, got {frac_axis!r}")
    out = pd.DataFrame({"model": raw["exp_name"], "acc": raw["acc"], "auc": raw["auc"]})
    default_sample, default_damage = (1.0, 0.0)
    frac = raw["frac"] if "frac" in raw.columns else None
    out["sample_frac"] = _column_or(raw, "frac_sample", frac if frac_axis == "sample_frac" else None, default_sample)
    out["damage_frac"] = _column_or(raw, "frac_damage", frac if frac_axis == "damage_frac" else None, default_damage)
    out["damage_mode"] = _seed_damage_modes(raw, out["damage_frac"], damage_mode=damage_mode)
    out["seed"] = raw["seed"] if "seed" in raw.columns else 0
    out["status"] = FINISHED
    out["n_train"] = num_obs(out["sample_frac"]).astype("int64")
    out["trial_id"] = [f"seed-csv-{i}" for i in range(len(out))]
    return normalize(out)


def _column_or(raw: pd.DataFrame, column: str, fallback: pd.Series | None, default: float) -> Any:
    if column in raw.columns:
        return raw[column].astype(float)
    return fallback.astype(float) if fallback is not None else default


def _seed_damage_modes(raw: pd.DataFrame, damage_frac: pd.Series, *, damage_mode: str | None) -> Any:
    if "damage_mode" in raw.columns:
        return raw["damage_mode"]
    if damage_mode is not None:
        return damage_mode
    if (damage_frac > 0).any():
        raise ValueError("damage_mode must be given (one of 'random', 'constant') for a talk-format CSV "
                         "with damaged rows and no damage_mode column, got None")
    return "none"


def to_seed_format(df: pd.DataFrame) -> pd.DataFrame:
    """Finished trials in the talk's CSV format plus the columns that make it unambiguous.

    Columns: frac, exp_name, acc, auc, frac_sample, frac_damage, damage_mode, seed.
    frac is sample_frac for undamaged (damage_mode none) rows and damage_frac otherwise,
    as in the talk's size and damage files. `read_seed_csv` reads it back unchanged.
    """
    done = df[df["status"] == FINISHED]
    frac = np.where(done["damage_mode"] == "none", done["sample_frac"], done["damage_frac"])
    out = pd.DataFrame({
        "frac": frac, "exp_name": done["model"], "acc": done["acc"], "auc": done["auc"],
        "frac_sample": done["sample_frac"], "frac_damage": done["damage_frac"],
        "damage_mode": done["damage_mode"], "seed": done["seed"],
    })
    return out[list(SEED_COLUMNS)].reset_index(drop=True)


def find_spec_text(results: str | Path) -> str | None:
    """spec.yaml's text for a results path: inside an experiment directory, or next to a
    results file; None when there is none."""
    fs, p = open_location(results)
    if file_type(fs, p) == pafs.FileType.Directory:
        return stored_spec_text(str(results))
    return stored_spec_text(str(results).rsplit("/", 1)[0] if "/" in str(results) else ".")


# --- summary -------------------------------------------------------------------------

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

