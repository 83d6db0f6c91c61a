"""Row selection and aggregation over seeds: the prepared frames that plots.py draws.

Every function takes the tidy frame (datavsmath.analysis.schema) and returns a new DataFrame; only
finished trials (status TERMINATED with a metric) enter any aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from datavsmath.analysis.schema import DATASET, FINISHED, frac_key
from datavsmath.sweeps.spec import GRID_AXES
from datavsmath.trainables.damage import ALL_DAMAGE_MODES, DAMAGED_MODES, NO_DAMAGE, TRANSITION_MODES, damage_labels
from datavsmath.trainables.metrics import METRICS
from datavsmath.trainables.models import MODEL_NAMES as MODEL_ORDER  # the talk's order of models

BANDS = ("minmax", "ci95")
CI_LEVEL = 0.95
# The talk's "Randomly / Constant Biased Labels" figures: true label 5 at 30 % damage.
DEMO_TRUE_LABEL = 5
DEMO_DAMAGE_FRAC = 0.3
RUN_SOURCE, REFERENCE_SOURCE = "this run", "reference"

# The damage modes of a sweep's results that change labels: the seeded ones (random, constant),
# then the transition modes (matrix, confusion), whose damage the analysis reads from the results.
SWEPT_DAMAGED_MODES = (*DAMAGED_MODES, *TRANSITION_MODES)

def finished(df: pd.DataFrame) -> pd.DataFrame:
    """Trials that finished and have both metrics."""
    return df[(df["status"] == FINISHED) & df["acc"].notna() & df["auc"].notna()]


def distinct(df: pd.DataFrame, axis: str) -> list:
    """Sorted distinct values of one axis among finished trials."""
    return sorted(finished(df)[axis].dropna().unique().tolist())


def models_in_order(models: Sequence[str]) -> list[str]:
    """The talk's model order (rf, xgb, dnn, cnn), then any other model by name."""
    known = [m for m in MODEL_ORDER if m in set(models)]
    return known + sorted(set(models) - set(MODEL_ORDER))


def _check_band(band: str) -> None:
    if band not in BANDS:
        raise ValueError(f"band must be one of {list(BANDS)}, got {band!r}")


def _bounds(values: pd.Series, *, band: str) -> tuple[float, float]:
    """(low, high) of one group's replicates; NaN with fewer than two replicates."""
    values = values.dropna()
    if len(values) < 2:
        return np.nan, np.nan
    if band == "minmax":
        return float(values.min()), float(values.max())
    half = stats.t.ppf(0.5 + CI_LEVEL / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _axis_text(values: pd.Series) -> str:
    """The distinct values of an axis within a group, for hover text: "0.5" or "0, 0.1"."""
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in sorted(values.dropna().unique()))


def seed_summary(rows: pd.DataFrame, *, by: Sequence[str], band: str = "minmax") -> pd.DataFrame:
    """Mean over replicates (seeds) of both metrics, per group of `by`.

    rows: tidy rows, already selected; only finished ones are used.
    band: "minmax" (min and max over seeds) or "ci95" (Student-t 95 % CI of the mean).
    Returns one row per group: the `by` columns; for each metric m: m (mean), m_lo, m_hi
    (NaN with one seed); n_seeds; n_train (mean, rounded); and hover text columns
    <axis>_text for every grid axis and seeds_text.
    """
    _check_band(band)
    done = finished(rows)
    records = []
    for key, group in done.groupby(list(by), sort=True):
        record = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for metric in METRICS:
            record[metric] = float(group[metric].mean())
            record[f"{metric}_lo"], record[f"{metric}_hi"] = _bounds(group[metric], band=band)
        record["n_seeds"] = int(group["seed"].nunique())
        record["n_train"] = float(np.round(group["n_train"].astype(float).mean()))
        record.update({f"{a}_text": _axis_text(group[a]) for a in GRID_AXES if a in group})
        record["seeds_text"] = _axis_text(group["seed"].astype(int))
        records.append(record)
    columns = [*by, *(f"{m}{s}" for m in METRICS for s in ("", "_lo", "_hi")), "n_seeds", "n_train",
               *(f"{a}_text" for a in GRID_AXES), "seeds_text"]
    return pd.DataFrame(records, columns=columns)


def size_curves(df: pd.DataFrame, *, band: str = "minmax") -> pd.DataFrame:
    """Clean-label results (damage_frac 0) per model and sample_frac: the talk's size figure."""
    clean = df[df["damage_frac"] == 0]
    return _in_order(seed_summary(clean, by=["model", "sample_frac"], band=band))


def damage_curves(df: pd.DataFrame, *, band: str = "minmax") -> pd.DataFrame:
    """Results per damage_mode, model and damage_frac at the largest damaged sample_frac.

    The talk damaged the full training set; a sweep whose damaged trials are smaller is
    drawn at their largest sample_frac (see the sample_frac column of the result). Clean
    trials stand in for damage_frac 0 where a mode has none (see `quality_rows`).
    Modes in the order random, constant; models in the talk's order.
    """
    done = finished(df)
    damaged = done[done["damage_mode"].isin(SWEPT_DAMAGED_MODES)]
    largest = damaged["sample_frac"].max()
    # `series` is the damage mode whose curve a row belongs to; clean rows join every mode.
    frames = [damaged.head(0).assign(series=[])]
    for mode in SWEPT_DAMAGED_MODES:
        for model in models_in_order(damaged.loc[damaged["damage_mode"] == mode, "model"].unique().tolist()):
            rows = quality_rows(df, model=model, damage_mode=mode)
            frames.append(rows[rows["sample_frac"] == largest].assign(series=mode))
    summary = seed_summary(pd.concat(frames), by=["series", "model", "damage_frac", "sample_frac"], band=band)
    return _in_order(summary.rename(columns={"series": "damage_mode"}), damage_mode=list(SWEPT_DAMAGED_MODES))


def quality_rows(df: pd.DataFrame, *, model: str, damage_mode: str) -> pd.DataFrame:
    """One model's finished trials at every quality level of one damage mode.

    Undamaged trials of mode "none" stand in for quality 1.0 where the mode has no
    damage_frac 0 trial at that (sample_frac, seed): with no damage the training sets are
    identical. Adds quality = 1 - damage_frac (rounded to FRAC_DECIMALS).
    """
    if damage_mode not in ALL_DAMAGE_MODES:
        raise ValueError(f"damage_mode must be one of {list(ALL_DAMAGE_MODES)}, got {damage_mode!r}")
    done = finished(df)
    rows = done[done["model"] == model]
    own = rows[rows["damage_mode"] == damage_mode]
    clean = rows[(rows["damage_mode"] == NO_DAMAGE) & (rows["damage_frac"] == 0)]
    have = set(zip(own.loc[own["damage_frac"] == 0, "sample_frac"], own.loc[own["damage_frac"] == 0, "seed"]))
    fill = clean[[(s, seed) not in have for s, seed in zip(clean["sample_frac"], clean["seed"])]]
    out = pd.concat([own, fill]) if damage_mode != NO_DAMAGE else own
    return out.assign(quality=[frac_key(1 - d) for d in out["damage_frac"]])


def cross_curves(df: pd.DataFrame, *, model: str, damage_mode: str, band: str = "minmax") -> pd.DataFrame:
    """One model's results per damage_frac and sample_frac: the talk's size x damage figure."""
    rows = quality_rows(df, model=model, damage_mode=damage_mode)
    return seed_summary(rows, by=["damage_frac", "sample_frac"], band=band)


def cross_candidates(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(model, damage_mode) pairs whose sweep crosses the axes: two or more damage_frac
    levels that each have two or more sample_frac values."""
    pairs = []
    for model in models_in_order(finished(df)["model"].unique().tolist()):
        for mode in SWEPT_DAMAGED_MODES:
            rows = quality_rows(df, model=model, damage_mode=mode)
            sizes_per_level = rows.groupby("damage_frac")["sample_frac"].nunique()
            if (sizes_per_level >= 2).sum() >= 2:
                pairs.append((model, mode))
    return pairs


def overlay_curves(run: pd.DataFrame, reference: pd.DataFrame, *, x: str, band: str = "minmax") -> pd.DataFrame:
    """This run's and the reference's curves along one axis, with a `source` column.

    x: "sample_frac" (clean-label size curves) or "damage_frac" (damage curves).
    """
    curves = {"sample_frac": size_curves, "damage_frac": damage_curves}
    if x not in curves:
        raise ValueError(f"x must be one of {list(curves)}, got {x!r}")
    frames = [curves[x](frame, band=band).assign(source=source)
              for source, frame in ((RUN_SOURCE, run), (REFERENCE_SOURCE, reference))]
    return pd.concat(frames, ignore_index=True)


def drilldown_trials(df: pd.DataFrame, *, metric: str = "acc") -> pd.DataFrame:
    """The worst and the best finished trial of every model by `metric`, with a confusion matrix.

    Returns rows of the tidy frame plus `pick` ("worst" / "best"), worst first per model,
    models in the talk's order. A model with one trial gives one row.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    done = finished(df)
    done = done.loc[done["confusion"].notna()]
    picks = []
    for model in models_in_order(done["model"].unique().tolist()):
        rows = done[done["model"] == model].sort_values(metric, kind="stable")
        picks.append(rows.head(1).assign(pick="worst"))
        if len(rows) > 1:
            picks.append(rows.tail(1).assign(pick="best"))
    return pd.concat(picks, ignore_index=True) if picks else pd.DataFrame(columns=[*df.columns, "pick"])


def realized_transitions(df: pd.DataFrame) -> pd.DataFrame:
    """The label noise the trials really trained on, per damage mode: the realized transition
    counts (`realized_transition`, rows = true label, columns = given label) of every finished
    trial of the mode at its largest damage_frac, summed over models, sizes and seeds.

    Returns one row per mode present (SWEPT_DAMAGED_MODES order): damage_mode, damage_frac,
    n_trials, counts (K x K ints) and share (K x K floats: the off-diagonal of each row divided
    by its sum, where a damaged label of that true class went; NaN for a row with no damage).
    Empty when the results record no realized transitions (results written before the noise columns existed).
    """
    columns = ["damage_mode", "damage_frac", "n_trials", "counts", "share"]
    if "realized_transition" not in df.columns:
        return pd.DataFrame(columns=columns)
    done = finished(df)
    done = done[done["realized_transition"].notna() & (done["damage_frac"] > 0)]
    records = []
    for mode in [m for m in SWEPT_DAMAGED_MODES if m in set(done["damage_mode"])]:
        rows = done[done["damage_mode"] == mode]
        rows = rows[rows["damage_frac"] == rows["damage_frac"].max()]
        counts = np.sum([np.asarray(list(m), dtype=np.int64) for m in rows["realized_transition"]], axis=0)
        off = counts.astype(float)
        np.fill_diagonal(off, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = off / off.sum(axis=1, keepdims=True)
        records.append({"damage_mode": mode, "damage_frac": float(rows["damage_frac"].iloc[0]),
                        "n_trials": len(rows), "counts": counts, "share": share})
    return pd.DataFrame(records, columns=columns)


def label_damage_counts(labels: np.ndarray, *, true_label: int = DEMO_TRUE_LABEL,
                        damage_frac: float = DEMO_DAMAGE_FRAC, seed: int = 0,
                        damage_modes: Sequence[str] = DAMAGED_MODES, n_classes: int | None = None) -> pd.DataFrame:
    """How the training samples of one true label are labelled after the sweep's own damage
    (datavsmath.trainables.damage.damage_labels).

    labels: int (n,) in [0, K), e.g. the dataset's y_train; K is the dataset's class count.
    true_label: 0..K-1 (default 5, as in the talk); damage_frac in [0, 1] (default 0.3).
    n_classes: K (default DATASET's, Fashion-MNIST's 10).
    Returns rows damage_mode, label (0..K-1), count: K rows per mode, zeros included.
    """
    n_classes = DATASET.n_classes if n_classes is None else n_classes
    if not 0 <= true_label < n_classes:
        raise ValueError(f"true_label must be in 0..{n_classes - 1}, got {true_label}")
    labels = np.asarray(labels)
    of_label = labels == true_label
    frames = []
    for mode in damage_modes:
        new_labels, _ = damage_labels(labels, n_classes=n_classes, damage_frac=damage_frac, damage_mode=mode,
                                      seed=seed)
        counts = np.bincount(new_labels[of_label], minlength=n_classes)
        frames.append(pd.DataFrame({"damage_mode": mode, "label": np.arange(n_classes), "count": counts}))
    return pd.concat(frames, ignore_index=True)


def stack_tables(tables: Mapping[str, pd.DataFrame], *, key: str = "target") -> pd.DataFrame:
    """Concatenate tables, naming each one's rows in a `key` column (e.g. "acc > 0.90")."""
    frames = [table.assign(**{key: name}) for name, table in tables.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[key])


def _in_order(frame: pd.DataFrame, **orders: list) -> pd.DataFrame:
    """Rows sorted by the given columns' value orders, then models in the talk's order
    (a stable sort, so the x order within each line is kept)."""
    orders["model"] = models_in_order(frame["model"].unique().tolist())
    for column, order in reversed(orders.items()):
        rank = {v: i for i, v in enumerate(order)}
        frame = frame.sort_values(by=column, key=lambda s: s.map(rank), kind="stable")
    return frame.reset_index(drop=True)
