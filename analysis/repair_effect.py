"""What label repair buys back, and how well it finds the damaged labels: the metric and the
detection scores against damage_frac per damage mode, model and repair (none, prune, relabel).
Pure functions on the tidy frame (datavsmath.analysis.schema)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import (
    SWEPT_DAMAGED_MODES,
    _bounds,
    finished,
    models_in_order,
    quality_rows,
    seed_summary,
)
from datavsmath.trainables.repair import NO_REPAIR, REPAIRS

REPAIR_COLUMN = "repair"
REPAIR_ORDER = REPAIRS
DETECTION_COLUMNS = {"precision": "detection_precision", "recall": "detection_recall"}


# --- repair ------------------------------------------------------------------------------

def has_repair(df: pd.DataFrame) -> bool:
    """Whether the results sweep the `repair` axis: the column exists and a finished trial
    has a repair other than none."""
    return REPAIR_COLUMN in df.columns and bool((finished(df)[REPAIR_COLUMN].fillna(NO_REPAIR) != NO_REPAIR).any())


def repair_values(df: pd.DataFrame) -> list[str]:
    """The repairs among finished trials, none, prune, relabel first; ["none"] without the column."""
    if REPAIR_COLUMN not in df.columns:
        return [NO_REPAIR]
    present = set(finished(df)[REPAIR_COLUMN].fillna(NO_REPAIR))
    return [r for r in REPAIR_ORDER if r in present] + sorted(present - set(REPAIR_ORDER))


def of_repair(df: pd.DataFrame, repair: str) -> pd.DataFrame:
    """The rows of one repair; without a `repair` column every row is repair none."""
    if REPAIR_COLUMN not in df.columns:
        return df if repair == NO_REPAIR else df.iloc[0:0]
    return df[df[REPAIR_COLUMN].fillna(NO_REPAIR) == repair]


# --- what repair buys back ----------------------------------------------------------------

def _repair_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Finished trials per (model, damage mode, repair) at the largest sample_frac of that
    model and mode's repaired trials; clean trials join as damage_frac 0 (quality_rows).
    Adds `series` (the damage mode a row's curve belongs to)."""
    done = finished(df)
    frames = [done.head(0).assign(series=[])]
    for mode in [m for m in SWEPT_DAMAGED_MODES if m in set(done["damage_mode"])]:
        for model in models_in_order(done.loc[done["damage_mode"] == mode, "model"].unique().tolist()):
            pair = done[(done["model"] == model) & (done["damage_mode"] == mode)]
            repaired = pair[pair[REPAIR_COLUMN].fillna(NO_REPAIR) != NO_REPAIR]
            largest = (repaired if not repaired.empty else pair)["sample_frac"].max()
            for repair in repair_values(df):
                rows = quality_rows(of_repair(df, repair), model=model, damage_mode=mode)
                frames.append(rows[rows["sample_frac"] == largest].assign(series=mode))
    return pd.concat(frames, ignore_index=True)


def repair_curves(df: pd.DataFrame, *, band: str = "minmax") -> pd.DataFrame:
    """Accuracy and AUC against damage_frac, per damage_mode, model and repair, with seed
    bands (aggregate.seed_summary; band "minmax" or "ci95"). Needs a `repair` column.

    Returns seed_summary rows by damage_mode, model, repair, damage_frac, sample_frac.
    """
    if REPAIR_COLUMN not in df.columns:
        raise ValueError("repair_curves needs a 'repair' column in the results")
    rows = _repair_rows(df)
    summary = seed_summary(rows, by=["series", "model", REPAIR_COLUMN, "damage_frac", "sample_frac"], band=band)
    return summary.rename(columns={"series": "damage_mode"})


def detection_curves(df: pd.DataFrame, *, band: str = "minmax") -> pd.DataFrame:
    """Detection precision and recall of the flagged labels against damage_frac, per
    damage_mode, model and repair other than none, as `repair_curves` (same rows and
    bands): columns as seed_summary's plus precision, precision_lo, precision_hi, recall,
    recall_lo, recall_hi (NaN where not recorded, e.g. recall at damage_frac 0)."""
    missing = [c for c in (REPAIR_COLUMN, *DETECTION_COLUMNS.values()) if c not in df.columns]
    if missing:
        raise ValueError(f"detection_curves needs the columns {missing} in the results")
    rows = _repair_rows(df)
    rows = rows[rows[REPAIR_COLUMN].fillna(NO_REPAIR) != NO_REPAIR]
    by = ["series", "model", REPAIR_COLUMN, "damage_frac", "sample_frac"]
    summary = seed_summary(rows, by=by, band=band)
    records = []
    for key, group in finished(rows).groupby(by, sort=True):
        record = dict(zip(by, key))
        for name, column in DETECTION_COLUMNS.items():
            values = group[column].astype(float)
            record[name] = float(values.mean()) if values.notna().any() else np.nan
            record[f"{name}_lo"], record[f"{name}_hi"] = _bounds(values, band=band)
        records.append(record)
    stats = pd.DataFrame(records, columns=[*by, *(f"{n}{s}" for n in DETECTION_COLUMNS for s in ("", "_lo", "_hi"))])
    return summary.merge(stats, on=by, how="left").rename(columns={"series": "damage_mode"})
