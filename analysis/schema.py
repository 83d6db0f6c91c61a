"""The tidy results table (docs/CONTRACTS.md), defined once: its columns and their dtypes, and
its files (a results.parquet, a results.csv, the talk's seed CSV format).

The tidy frame has one row per expected trial and the columns of RESULT_COLUMNS, with the
dtypes of COLUMN_DTYPES; `normalize` turns any frame that has some of them into that shape.
Each file reader returns the tidy frame or raises ValueError naming the file;
`to_seed_format` writes the tidy frame back in the talk's columns.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datavsmath.analysis.tune_files import (
    read_text,
)
from datavsmath.sweeps.spec import AXIS_DEFAULTS, FRAC_DECIMALS, frac_key  # noqa: F401  (the results' rounding)
from datavsmath.trainables.checks import UNIT, UNIT_OPEN_LEFT, check_choice, echo
from datavsmath.trainables.damage import NO_DAMAGE
from datavsmath.trainables.datasets.built_in import FASHION_MNIST
from datavsmath.trainables.storage import open_location

FINISHED = "TERMINATED"
FAILED = "ERROR"
MISSING = "MISSING"
STATUSES = (FINISHED, FAILED, "RUNNING", "PENDING", MISSING)

# The dataset the experiments run on; its facts (training-set size, classes) are its own.
DATASET = FASHION_MNIST

COLUMN_DTYPES: dict[str, Any] = {
    "trial_id": "str",
    "status": "str",
    "model": "str",
    "sample_frac": "float64",
    "damage_frac": "float64",
    "damage_mode": "str",
    "repair": "str",
    "seed": "Int64",
    "n_train": "Int64",
    "n_val": "Int64",
    "n_damaged": "Int64",
    "acc": "float64",
    "auc": "float64",
    "val_acc": "float64",
    "fit_seconds": "float64",
    "report_seconds": "float64",
    "checkpoints": "Int64",
    "device": "str",
    "peak_rss_mb": "float64",
    "epochs_done": "Int64",
    "error": "str",
    "confusion": "object",
    "start_time": "datetime64[ns, UTC]",
    "end_time": "datetime64[ns, UTC]",
    "dataset": "str",
    "dataset_fingerprint": "str",
    # The noise the training labels really carried (datavsmath.trainables.damage.RealizedNoise)
    "noise_rate": "float64",
    "noise_rate_per_class": "object",
    "realized_transition": "object",
    # The repair (datavsmath.trainables.repair.Repair.stats); repair none: 0 flagged, NaN scores
    "repair_model": "str",
    "repair_folds": "Int64",
    "n_flagged": "Int64",
    "detection_precision": "float64",
    "detection_recall": "float64",
    "relabel_acc": "float64",
    "label_acc": "float64",
    "repair_seconds": "float64",
    # What the audit and the vote cost and left (Repair.stats): the audit's budget and labels
    # checked, the vote's labels per item and labels bought, the wrong labels trained on
    "audit_frac": "float64",
    "n_audited": "Int64",
    "vote_k": "Int64",
    "n_bought": "Int64",
    "n_wrong": "Int64",
    # cleanlab's estimates of the share of wrong labels as given (trials of prune, relabel, audit)
    "cleanlab_noise": "float64",
    "cleanlab_joint_noise": "float64",
    # damage_test: the accuracy on test labels damaged as the training labels, and corrected
    "acc_test_damaged": "float64",
    "acc_test_corrected": "float64",
    "test_noise_rate": "float64",
    # Warnings raised in the trial's fit and predict: JSON text {category: count}, "{}" for none
    "warning_counts": "str",
    # Each category's first message in the trial: JSON text {category: message}
    "warning_texts": "str",
}
# Columns holding a K x K matrix of counts (nested int lists), and a K-list of floats.
MATRIX_COLUMNS = ("confusion", "realized_transition")
LIST_COLUMNS = ("noise_rate_per_class",)
# What a column of an axis with a default holds when a results file of before it has none.
COLUMN_DEFAULTS = dict(AXIS_DEFAULTS)
RESULT_COLUMNS = tuple(COLUMN_DTYPES)

# The talk's CSV format, plus the columns that make it unambiguous (CONTRACTS.md).
SEED_COLUMNS = ("frac", "exp_name", "acc", "auc", "frac_sample", "frac_damage", "damage_mode", "seed", "repair")

def trial_key(model: str, sample_frac: float, damage_frac: float, damage_mode: str, seed: int,
              repair: str = AXIS_DEFAULTS["repair"]) -> tuple:
    """The identity of one trial: its values of the spec's AXES, fractions rounded
    (repair last, and none when not given: the trials of before the axis)."""
    return (str(model), frac_key(sample_frac), frac_key(damage_frac), str(damage_mode), int(seed), str(repair))


def num_obs(sample_frac: Any, *, n_total: int) -> np.ndarray:
    """Observations for sample fractions, as in the talk: sample_frac * the dataset's
    training-set size `n_total`, rounded."""
    return np.rint(np.asarray(sample_frac, dtype=float) * n_total)


def confusion_to_list(value: Any) -> list[list[int]] | None:
    """A confusion matrix from JSON text, nested lists or numpy arrays, as nested int lists."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return confusion_to_list(json.loads(value)) if value.strip() else None
    return [[int(x) for x in row] for row in value]


def floats_to_list(value: Any) -> list[float] | None:
    """A list of floats from JSON text, a list or a numpy array (NaN kept); None for none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return floats_to_list(json.loads(value)) if value.strip() else None
    return [float(x) for x in value]


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame: every RESULT_COLUMNS column, in order, with its dtype.

    Missing columns are filled with NA (an axis of COLUMN_DEFAULTS with its default, also
    where NA); extra columns are kept after the contract's ones. Matrices (MATRIX_COLUMNS)
    become nested lists and LIST_COLUMNS lists (parquet gives arrays, CSV gives JSON text).
    """
    out = df.copy()
    for column, dtype in COLUMN_DTYPES.items():
        if column not in out.columns:
            out[column] = pd.Series([None] * len(out), index=out.index, dtype="object")
        if column in COLUMN_DEFAULTS:
            out[column] = out[column].astype("object").where(out[column].notna(), COLUMN_DEFAULTS[column])
        if column in MATRIX_COLUMNS:
            out[column] = [confusion_to_list(v) for v in out[column]]
        elif column in LIST_COLUMNS:
            out[column] = [floats_to_list(v) for v in out[column]]
        elif str(dtype).startswith("datetime"):
            out[column] = pd.to_datetime(out[column], utc=True).astype(dtype)
        else:
            out[column] = out[column].astype(dtype)
    extra = [c for c in out.columns if c not in COLUMN_DTYPES]
    return out[[*RESULT_COLUMNS, *extra]].reset_index(drop=True)


# --- the results files ------------------------------------------------------------------

FRAC_AXES = ("sample_frac", "damage_frac")  # the axes a talk-format CSV's frac column may mean


def read_results_parquet(fs: pafs.FileSystem, path: str) -> pd.DataFrame:
    try:
        table = pq.read_table(path, filesystem=fs)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ValueError(f"{path} is not a readable parquet file ({_first_words(exc)})") from exc
    return _tidy_or_error(path, lambda: normalize(table.to_pandas()))


def _first_words(exc: BaseException, *, limit: int = 200) -> str:
    """The first line of an exception's message, cut to `limit` characters."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _raw_csv(fs: pafs.FileSystem, path: str) -> pd.DataFrame:
    """The CSV at `path` as read by pandas; ValueError naming the file when it is not one."""
    try:
        with warnings.catch_warnings():
            # pandas would turn a first row longer than the header into an index (shifting
            # every value to the wrong column) or, with index_col=False, drop the extra fields
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(io.StringIO(read_text(fs, path)), index_col=False)
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"CSV {path} is empty: no header line") from exc
    except pd.errors.ParserWarning as exc:
        raise ValueError(f"CSV {path} cannot be read as CSV: a line has more fields than the header") from exc
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"CSV {path} cannot be read as CSV: {_first_words(exc)}") from exc


# Columns a CSV must hold numbers in: the tidy frame's numeric ones and the talk's fracs.
_NUMERIC = {c for c, d in COLUMN_DTYPES.items() if d in ("float64", "Int64")} | {"frac", "frac_sample", "frac_damage"}


def _check_numbers(raw: pd.DataFrame, path: str) -> None:
    """ValueError naming the column, the line and the value of the first non-number."""
    for column in [c for c in raw.columns if c in _NUMERIC and not pd.api.types.is_numeric_dtype(raw[c])]:
        bad = raw[column].notna() & pd.to_numeric(raw[column], errors="coerce").isna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(f"CSV {path}: column {column} must hold numbers, got {echo(raw[column].iloc[i])} "
                             f"on line {i + 2}")


# Columns of a results or talk-format CSV whose values have a range (empty cells aside).
_RANGES = {"acc": UNIT, "auc": UNIT, "frac": UNIT, "frac_sample": UNIT_OPEN_LEFT, "frac_damage": UNIT,
           "sample_frac": UNIT_OPEN_LEFT, "damage_frac": UNIT}


def _check_ranges(raw: pd.DataFrame, path: str) -> None:
    """ValueError naming the column, the range, the value and the line of the first number
    out of its column's range (_RANGES)."""
    for column in [c for c in raw.columns if c in _RANGES]:
        values = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isnan(values) & ~np.array([v in _RANGES[column] for v in values], dtype=bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"CSV {path}: column {column} must be in {_RANGES[column]}, got {values[i]:g} "
                             f"on line {i + 2}")


def _tidy_or_error(path: str, make: Any) -> pd.DataFrame:
    """`make()`, with the errors of a malformed table as a ValueError naming `path`."""
    try:
        return make()
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        text = _first_words(exc)
        raise ValueError(text if text.startswith("CSV ") else f"{path}: {text}") from exc


def read_results_csv(fs: pafs.FileSystem, path: str, *, frac_axis: str, damage_mode: str | None) -> pd.DataFrame:
    raw = _raw_csv(fs, path)
    if "status" in raw.columns:
        _check_numbers(raw, path)
        _check_ranges(raw, path)
        return _tidy_or_error(path, lambda: normalize(raw))
    if {"exp_name", "acc", "auc"} <= set(raw.columns):
        _check_numbers(raw, path)
        _check_ranges(raw, path)
        return _tidy_or_error(path, lambda: seed_frame_to_tidy(raw, frac_axis=frac_axis, damage_mode=damage_mode))
    raise ValueError(f"CSV {path} must be a results.csv (with a status column) or in the talk's format "
                     f"(frac, exp_name, acc, auc); got columns {echo(list(raw.columns))}")


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
    raw = _raw_csv(fs, p)
    missing = [c for c in ("exp_name", "acc", "auc") if c not in raw.columns]
    if missing:
        raise ValueError(f"CSV {p} must be in the talk's format (frac, exp_name, acc, auc); it lacks "
                         f"{', '.join(missing)}: got columns {echo(list(raw.columns))}")
    _check_numbers(raw, p)
    _check_ranges(raw, p)
    return _tidy_or_error(p, lambda: seed_frame_to_tidy(raw, frac_axis=frac_axis, damage_mode=damage_mode))


def seed_frame_to_tidy(raw: pd.DataFrame, *, frac_axis: str = "sample_frac",
                       damage_mode: str | None = None) -> pd.DataFrame:
    """The talk-format rows of `raw` as a tidy frame; see `read_seed_csv` for the rules."""
    check_choice("frac_axis", frac_axis, FRAC_AXES)
    out = pd.DataFrame({"model": raw["exp_name"], "acc": raw["acc"], "auc": raw["auc"]})
    default_sample, default_damage = (1.0, 0.0)
    frac = raw["frac"] if "frac" in raw.columns else None
    out["sample_frac"] = _column_or(raw, "frac_sample", frac if frac_axis == "sample_frac" else None, default_sample)
    out["damage_frac"] = _column_or(raw, "frac_damage", frac if frac_axis == "damage_frac" else None, default_damage)
    out["damage_mode"] = _seed_damage_modes(raw, out["damage_frac"], damage_mode=damage_mode)
    out["seed"] = raw["seed"] if "seed" in raw.columns else 0
    out["repair"] = raw["repair"] if "repair" in raw.columns else AXIS_DEFAULTS["repair"]
    out["status"] = FINISHED
    # The seed CSV is the talk's own Fashion-MNIST run: its size is that dataset's.
    out["n_train"] = num_obs(out["sample_frac"], n_total=DATASET.n_train).astype("int64")
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
    return NO_DAMAGE


def to_seed_format(df: pd.DataFrame) -> pd.DataFrame:
    """Finished trials in the talk's CSV format plus the columns that make it unambiguous.

    Columns: frac, exp_name, acc, auc, frac_sample, frac_damage, damage_mode, seed, repair.
    frac is sample_frac for undamaged (damage_mode none) rows and damage_frac otherwise,
    as in the talk's size and damage files. `read_seed_csv` reads it back unchanged.
    """
    done = df[df["status"] == FINISHED]
    frac = np.where(done["damage_mode"] == NO_DAMAGE, done["sample_frac"], done["damage_frac"])
    out = pd.DataFrame({
        "frac": frac, "exp_name": done["model"], "acc": done["acc"], "auc": done["auc"],
        "frac_sample": done["sample_frac"], "frac_damage": done["damage_frac"],
        "damage_mode": done["damage_mode"], "seed": done["seed"], "repair": done["repair"],
    })
    return out[list(SEED_COLUMNS)].reset_index(drop=True)
