"""Results files: a results.parquet, a results.csv, and the talk's seed CSV format.

Each reader returns the tidy frame (see `analysis.schema`) or raises ValueError naming the
file; `to_seed_format` writes the tidy frame back in the talk's columns.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datavsmath.analysis.schema import (
    COLUMN_DTYPES,
    DATASET,
    FINISHED,
    SEED_COLUMNS,
    normalize,
    num_obs,
)
from datavsmath.analysis.tune_files import (
    read_text,
)
from datavsmath.sweeps.spec import AXIS_DEFAULTS
from datavsmath.trainables.checks import UNIT, UNIT_OPEN_LEFT, check_choice, echo
from datavsmath.trainables.damage import NO_DAMAGE
from datavsmath.trainables.storage import open_location

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
