"""The talk's "Observations needed for > 90 % accuracy / > 98 % AUC" tables, as DataFrames.

Two versions, both per quality level (quality = 1 - damage_frac) of one model and one
damage mode:

- `seed_table`: the talk's method, the smallest swept sample_frac whose mean metric over
  seeds clears the threshold (strictly: metric > threshold), its num_obs = frac * the
  training-set size (60,000 for Fashion-MNIST),
  and d_obs, the relative change of num_obs from the next-better quality level.
- `interpolated_table`: per level, the crossing of datavsmath.analysis.curves.estimate_crossing
  (the one estimate of the analysis: a fitted family inside the data, by default `auto`'s
  learned extrapolation past it), with how it was found (interpolated, extrapolated ×k,
  beyond the limit), its 95 % interval and what that is made of, P(reachable within 4×) and
  the marginal rate d(num_obs)/d(quality) between adjacent levels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import quality_rows
from datavsmath.analysis.curves import (
    DEFAULT_CURVE,
    EXTRAPOLATION_LIMIT,
    Crossing,
    check_curve,
    describe_crossing,
    estimate_crossing,
)
from datavsmath.analysis.schema import num_obs
from datavsmath.analysis.training_size import training_size
from datavsmath.trainables.metrics import METRICS

DEFAULT_THRESHOLDS = {"acc": 0.90, "auc": 0.98}
DEFAULT_MODEL = "cnn"
# The talk's size x damage sweep used constant damage ("0 becomes 1, always").
DEFAULT_DAMAGE_MODE = "constant"
DEFAULT_N_BOOT = 200
CI_LEVEL = 0.95


# --- shared --------------------------------------------------------------------------

def _check(metric: str, threshold: float | None) -> float:
    """The threshold to use for `metric`, after checking both."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    threshold = DEFAULT_THRESHOLDS[metric] if threshold is None else float(threshold)
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    return threshold


def _level_rows(df: pd.DataFrame, *, model: str, damage_mode: str) -> pd.DataFrame:
    rows = quality_rows(df, model=model, damage_mode=damage_mode)
    if rows.empty:
        present = sorted(set(zip(df["model"], df["damage_mode"])))
        raise ValueError(f"model={model!r}, damage_mode={damage_mode!r} has no finished trials; "
                         f"(model, damage_mode) pairs present: {present}")
    return rows


def _with_changes(table: pd.DataFrame) -> pd.DataFrame:
    """Add d_obs, the relative change of num_obs from the row above (the next-better quality)."""
    previous = table["num_obs"].shift(1)
    return table.assign(d_obs=(table["num_obs"] / previous - 1).astype("float64"))


# --- seed style ----------------------------------------------------------------------

def seed_table(df: pd.DataFrame, *, metric: str = "acc", threshold: float | None = None,
               model: str = DEFAULT_MODEL, damage_mode: str = DEFAULT_DAMAGE_MODE,
               n_total: int | None = None) -> pd.DataFrame:
    """Observations needed to clear `threshold`, per quality level, read off the swept grid.

    df: tidy results. metric: "acc" or "auc". threshold in (0, 1), default 0.90 for acc and
    0.98 for auc. model: default "cnn". damage_mode: "random", "constant" (default) or
    "none"; undamaged trials stand in for quality 1.0 (datavsmath.analysis.aggregate.quality_rows).
    n_total: the dataset's training-set size (default: read off the results' n_train,
    datavsmath.analysis.situation.training_size).
    Returns one row per quality level, best quality first, with columns
    quality, <metric> (mean over seeds at the chosen sample_frac), sample_frac, num_obs
    (sample_frac * the training-set size), d_obs (relative change from the row above; NaN in the first row
    or next to a level that never clears), damage_frac, n_seeds, reached (False: no swept
    sample_frac clears the threshold; then <metric>, sample_frac, num_obs are NaN),
    max_<metric> (best mean over the level's sample fractions).
    """
    threshold = _check(metric, threshold)
    n_total = training_size(df) if n_total is None else n_total
    rows = _level_rows(df, model=model, damage_mode=damage_mode)
    means = rows.groupby(["quality", "sample_frac"], as_index=False).agg(
        value=(metric, "mean"), damage_frac=("damage_frac", "first"))
    records = []
    for quality, level in means.groupby("quality", sort=True):
        cleared = level[level["value"] > threshold]
        first = cleared.loc[cleared["sample_frac"].idxmin()] if not cleared.empty else None
        records.append({
            "quality": quality,
            metric: np.nan if first is None else first["value"],
            "sample_frac": np.nan if first is None else first["sample_frac"],
            "damage_frac": level["damage_frac"].iloc[0],
            "n_seeds": int(rows.loc[rows["quality"] == quality, "seed"].nunique()),
            "reached": first is not None,
            f"max_{metric}": level["value"].max(),
        })
    table = pd.DataFrame(records).sort_values("quality", ascending=False, ignore_index=True)
    table["num_obs"] = pd.array(num_obs(table["sample_frac"], n_total=n_total), dtype="Float64").astype("Int64")
    table = _with_changes(table)
    return table[["quality", metric, "sample_frac", "num_obs", "d_obs", "damage_frac", "n_seeds", "reached",
                  f"max_{metric}"]]


# --- learning curves -----------------------------------------------------------------

def _seed_mean(grid: np.ndarray) -> np.ndarray:
    """Mean over seeds (axis 0) ignoring absent trials (NaN); NaN where no seed has a value."""
    present = ~np.isnan(grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, grid, 0.0).sum(axis=0) / present.sum(axis=0)


def seed_draws(n_seeds: int, *, n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> np.ndarray:
    """(n_boot, n_seeds) seed positions resampled with replacement; (0, n_seeds) with one seed
    (the exchange rate's bootstrap over seeds, datavsmath.analysis.quality_exchange)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    if n_seeds < 2:
        return np.zeros((0, n_seeds), dtype=int)
    return np.random.default_rng(random_state).integers(0, n_seeds, size=(n_boot, n_seeds))


def _interval(samples: np.ndarray) -> tuple[float, float]:
    """Percentile interval at CI_LEVEL; "nearest" ranks keep inf (never crosses) exact."""
    tail = (1 - CI_LEVEL) / 2
    low, high = np.quantile(samples, [tail, 1 - tail], method="nearest")
    return float(low), float(high)


def found_text(found: Crossing, *, limit: float = EXTRAPOLATION_LIMIT) -> str:
    """How a crossing was found (the Crossing's `how`, "beyond ..." past `limit` x the largest
    size); one that is not given as a number (never, beyond) adds its P(reachable within 4×)
    where the Crossing gives one."""
    estimate = found.estimate
    how = found.how
    if np.isfinite(estimate) and limit != EXTRAPOLATION_LIMIT:  # the Crossing's how has the default limit
        how = describe_crossing(estimate, largest=found.largest, smallest=found.smallest, limit=limit)
    given = bool(np.isfinite(estimate) and estimate <= limit * found.largest)
    if given or np.isnan(found.p_reachable) or "P(within" in how:  # "probably beyond ..." says it already
        return how
    return f"{how}; reachable within {EXTRAPOLATION_LIMIT:g}× with probability {found.p_reachable:.2f}"


def _level_record(found: Crossing, *, limit: float) -> dict:
    """The crossing columns of one level's row."""
    estimate, largest = found.estimate, found.largest
    within = bool(np.isfinite(estimate) and estimate <= limit * largest)
    return {"num_obs": estimate if within else np.nan, "ci_low": found.low, "ci_high": found.high,
            "reached": bool(np.isfinite(estimate)),
            "extrapolated": bool(np.isfinite(estimate) and not found.smallest < estimate <= largest),
            "extrapolation": estimate / largest if np.isfinite(estimate) else np.nan,
            "found": found_text(found, limit=limit), "p_reachable": found.p_reachable, "curve": found.family,
            "interval": found.interval}


def interpolated_table(df: pd.DataFrame, *, metric: str = "acc", threshold: float | None = None,
                       model: str = DEFAULT_MODEL, damage_mode: str = DEFAULT_DAMAGE_MODE,
                       curve: str = DEFAULT_CURVE, n_boot: int = DEFAULT_N_BOOT, random_state: int = 0,
                       n_total: int | None = None, limit: float = EXTRAPOLATION_LIMIT) -> pd.DataFrame:
    """Observations needed to clear `threshold`, per quality level, from a fitted learning curve.

    Arguments as in `seed_table`, plus curve (a family of datavsmath.analysis.curves.CURVES,
    default "auto"), n_boot (the interval's draws, default 200), random_state and limit
    (default 4: a crossing past limit x the largest swept size is not given as a number).
    Each level's crossing is datavsmath.analysis.curves.estimate_crossing of its grid (seeds
    x sizes), the one estimate the routes, the answer and the adaptive searcher give too.

    Returns one row per quality level, best first, with columns quality, num_obs (the
    crossing n; NaN when the curve never crosses or crosses past the limit), sample_frac
    (num_obs / the training-set size), ci_low, ci_high (the crossing's 95 % interval; NaN
    where none can be given; inf where draws never cross), d_obs (relative change from the
    row above), d_num_obs_d_quality (observations per unit of quality between this row and
    the one above: the talk's d data / d quality), d_num_obs_d_quality_lo,
    d_num_obs_d_quality_hi (its 95 % interval: draw i of one level paired with draw i of the
    other; NaN where either has no interval), elasticity (d_obs over the relative change of
    quality), damage_frac, n_seeds, reached (the curve crosses at all), extrapolated (the
    crossing lies outside the swept sample sizes), extrapolation (crossing / largest swept
    size), found ("interpolated", "extrapolated ×k", "beyond 4× the data swept", "never
    (asymptote a)", with P(reachable within 4×) where not given as a number), p_reachable
    (P(the crossing lies within 4× the largest size); NaN without an interval), curve (the
    family used; "learned" for auto past the data), interval (what the interval is made of,
    or why there is none).
    """
    threshold = _check(metric, threshold)
    check_curve(curve)
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    n_total = training_size(df) if n_total is None else n_total
    rows = _level_rows(df, model=model, damage_mode=damage_mode)
    records, samples = [], {}
    for quality, level in rows.groupby("quality", sort=True):
        grid = level.pivot_table(index="seed", columns="sample_frac", values=metric, aggfunc="mean")
        n = num_obs(grid.columns.to_numpy(), n_total=n_total)
        found = estimate_crossing(n, grid.to_numpy(dtype=float), threshold=threshold, curve=curve, n_boot=n_boot,
                                  random_state=random_state)
        if found.draws.size:
            samples[quality] = found.draws
        records.append({"quality": quality, "damage_frac": level["damage_frac"].iloc[0], "n_seeds": len(grid),
                        **_level_record(found, limit=limit)})
    table = pd.DataFrame(records).sort_values("quality", ascending=False, ignore_index=True)
    table["sample_frac"] = table["num_obs"] / n_total
    table = _with_changes(table)
    step = table["quality"] - table["quality"].shift(1)
    table["d_num_obs_d_quality"] = (table["num_obs"] - table["num_obs"].shift(1)) / step
    table["d_num_obs_d_quality_lo"], table["d_num_obs_d_quality_hi"] = _slope_intervals(table, samples)
    table["elasticity"] = table["d_obs"] / (step / table["quality"].shift(1))
    return table[["quality", "num_obs", "sample_frac", "ci_low", "ci_high", "d_obs", "d_num_obs_d_quality",
                  "d_num_obs_d_quality_lo", "d_num_obs_d_quality_hi", "elasticity", "damage_frac", "n_seeds",
                  "reached", "extrapolated", "extrapolation", "found", "p_reachable", "curve", "interval"]]


def _slope_intervals(table: pd.DataFrame, samples: dict[float, np.ndarray]) -> tuple[list[float], list[float]]:
    """95 % intervals of d_num_obs_d_quality, row by row (best quality first).

    samples: {quality: (n_boot,) crossings drawn by estimate_crossing}; draw i of a level is
    paired with draw i of the one above (both drawn with the same random_state). NaN where
    d_num_obs_d_quality is NaN (first row, a level that never crosses) or either level has
    no draws.
    """
    lows, highs = [np.nan], [np.nan]
    for i in range(1, len(table)):
        above, here = table["quality"].iloc[i - 1], table["quality"].iloc[i]
        if np.isnan(table["d_num_obs_d_quality"].iloc[i]) or above not in samples or here not in samples \
                or samples[above].size != samples[here].size:
            lows.append(np.nan)
            highs.append(np.nan)
            continue
        with np.errstate(invalid="ignore"):  # inf - inf: both draws never cross, no slope
            slopes = (samples[here] - samples[above]) / (here - above)
        low, high = _interval(slopes[~np.isnan(slopes)]) if (~np.isnan(slopes)).any() else (np.nan, np.nan)
        lows.append(low)
        highs.append(high)
    return lows[:len(table)], highs[:len(table)]
