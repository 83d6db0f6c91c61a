"""The talk's "Observations needed for > 90 % accuracy / > 98 % AUC" tables, as DataFrames.

Two versions, both per quality level (quality = 1 - damage_frac) of one model and one
damage mode:

- `seed_table`: the talk's method, the smallest swept sample_frac whose mean metric over
  seeds clears the threshold (strictly: metric > threshold), its num_obs = frac * the
  training-set size (60,000 for Fashion-MNIST),
  and d_obs, the relative change of num_obs from the next-better quality level.
- `interpolated_table`: a monotone learning curve fitted per level, solved for the n where
  it crosses the threshold, with a bootstrap CI over seeds and the marginal rate
  d(num_obs)/d(quality) between adjacent levels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from datavsmath.analysis.aggregate import quality_rows
from datavsmath.analysis.schema import DATASET, num_obs
from datavsmath.trainables.metrics import METRICS

DEFAULT_THRESHOLDS = {"acc": 0.90, "auc": 0.98}
DEFAULT_MODEL = "cnn"
# The talk's size x damage sweep used constant damage ("0 becomes 1, always").
DEFAULT_DAMAGE_MODE = "constant"
METHODS = ("power_law", "loglinear")
DEFAULT_N_BOOT = 200
CI_LEVEL = 0.95
# Power-law exponents searched before refining: err(n) = a * n^-b + c, b in this range.
_EXPONENT_RANGE = (1e-3, 3.0)
_EXPONENT_GRID = np.geomspace(*_EXPONENT_RANGE, 40)
# Fewer distinct sample sizes than this cannot pin down a, b and c.
_POWER_LAW_MIN_POINTS = 3


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
    n_total: the dataset's training-set size (default Fashion-MNIST's 60000; schema.num_obs).
    Returns one row per quality level, best quality first, with columns
    quality, <metric> (mean over seeds at the chosen sample_frac), sample_frac, num_obs
    (sample_frac * the training-set size), d_obs (relative change from the row above; NaN in the first row
    or next to a level that never clears), damage_frac, n_seeds, reached (False: no swept
    sample_frac clears the threshold; then <metric>, sample_frac, num_obs are NaN),
    max_<metric> (best mean over the level's sample fractions).
    """
    threshold = _check(metric, threshold)
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

def fit_power_law(n: np.ndarray, err: np.ndarray) -> tuple[float, float, float]:
    """Least-squares fit of err(n) = a * (n / N)^-b + c (N the training-set size) with a >= 0, c >= 0, b in (0, 3].

    n: (k,) sample sizes, k >= 3; err: (k,) error rates (1 - metric).
    For each exponent b the best (a, c) is a non-negative linear least-squares problem,
    so the fit is a 1-d search over b: a grid, then a bounded refinement around the best.
    """
    x = np.asarray(n, dtype=float) / DATASET.n_train
    err = np.asarray(err, dtype=float)

    def residual(b: float) -> float:
        return optimize.nnls(np.column_stack([x ** -b, np.ones_like(x)]), err)[1]

    costs = [residual(b) for b in _EXPONENT_GRID]
    i = int(np.argmin(costs))
    low, high = _EXPONENT_GRID[max(i - 1, 0)], _EXPONENT_GRID[min(i + 1, len(_EXPONENT_GRID) - 1)]
    b = optimize.minimize_scalar(residual, bounds=(low, high), method="bounded",
                                 options={"xatol": 1e-10}).x
    b = b if residual(b) <= costs[i] else _EXPONENT_GRID[i]
    (a, c), _ = optimize.nnls(np.column_stack([x ** -b, np.ones_like(x)]), err)
    return float(a), float(b), float(c)


def power_law_crossing(a: float, b: float, c: float, *, threshold: float) -> float:
    """The n where 1 - err(n) = threshold for err(n) = a * (n / N)^-b + c (N the training-set size).

    Returns inf when the curve's floor c is at or above the target error (never crosses) or
    the crossing overflows a float, 0 when the curve is flat (a = 0) and already below it.
    """
    target = 1 - threshold
    if c >= target:
        return np.inf
    if a == 0:
        return 0.0
    with np.errstate(over="ignore"):  # a tiny exponent b can put the crossing beyond 1e308
        return float(DATASET.n_train * np.power(a / (target - c), 1 / b))


def isotonic_increasing(values: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to `values` in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight]
    for v in np.asarray(values, dtype=float):
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, w2), (m1, w1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2])
    return np.concatenate([np.full(int(w), m) for m, w in blocks])


def loglinear_crossing(n: np.ndarray, values: np.ndarray, *, threshold: float) -> float:
    """The n where the isotonic (non-decreasing) fit of values, linear in log n, clears threshold.

    n sorted ascending. Returns inf when no fitted value clears it, n[0] when the first does.
    """
    fitted = isotonic_increasing(values)
    above = np.flatnonzero(fitted > threshold)
    if above.size == 0:
        return np.inf
    i = int(above[0])
    if i == 0:
        return float(n[0])
    t = (threshold - fitted[i - 1]) / (fitted[i] - fitted[i - 1])
    return float(np.exp(np.log(n[i - 1]) + t * (np.log(n[i]) - np.log(n[i - 1]))))


def crossing(n: np.ndarray, values: np.ndarray, *, threshold: float, method: str = "power_law") -> tuple[float, str]:
    """(n where the fitted curve crosses threshold, method used).

    n: (k,) sample sizes; values: (k,) metric means (NaN allowed, ignored).
    method: "power_law" (falls back to "loglinear" with fewer than 3 sizes) or "loglinear".
    Returns inf for a curve that never crosses.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    keep = np.isfinite(values)
    n, values = np.asarray(n, dtype=float)[keep], np.asarray(values, dtype=float)[keep]
    order = np.argsort(n)
    n, values = n[order], values[order]
    if n.size == 0:
        return np.nan, method
    if method == "power_law" and n.size >= _POWER_LAW_MIN_POINTS:
        a, b, c = fit_power_law(n, 1 - values)
        return power_law_crossing(a, b, c, threshold=threshold), method
    return loglinear_crossing(n, values, threshold=threshold), "loglinear"


def _seed_mean(grid: np.ndarray) -> np.ndarray:
    """Mean over seeds (axis 0) ignoring absent trials (NaN); NaN where no seed has a value."""
    present = ~np.isnan(grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, grid, 0.0).sum(axis=0) / present.sum(axis=0)


def bootstrap_crossings(grid: np.ndarray, n: np.ndarray, *, threshold: float, method: str,
                        n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> np.ndarray:
    """Crossings of the mean curve over seeds resampled with replacement.

    grid: (n_seeds, k) metric per seed and sample size (NaN where a trial is absent).
    Returns (n_boot,) crossings, inf where a resample never crosses.
    """
    rng = np.random.default_rng(random_state)
    draws = rng.integers(0, grid.shape[0], size=(n_boot, grid.shape[0]))
    return np.array([crossing(n, _seed_mean(grid[d]), threshold=threshold, method=method)[0] for d in draws])


def _interval(samples: np.ndarray) -> tuple[float, float]:
    """Percentile interval at CI_LEVEL; "nearest" ranks keep inf (never crosses) exact."""
    tail = (1 - CI_LEVEL) / 2
    low, high = np.quantile(samples, [tail, 1 - tail], method="nearest")
    return float(low), float(high)


def interpolated_table(df: pd.DataFrame, *, metric: str = "acc", threshold: float | None = None,
                       model: str = DEFAULT_MODEL, damage_mode: str = DEFAULT_DAMAGE_MODE,
                       method: str = "power_law", n_boot: int = DEFAULT_N_BOOT,
                       random_state: int = 0, n_total: int | None = None) -> pd.DataFrame:
    """Observations needed to clear `threshold`, per quality level, from a fitted learning curve.

    Arguments as in `seed_table`, plus method ("power_law": err(n) = a n^-b + c, default;
    "loglinear": isotonic fit, linear in log n), n_boot (bootstrap resamples of the seeds,
    default 200) and random_state (the bootstrap's seed).
    Returns one row per quality level, best first, with columns quality, num_obs (the
    crossing n; NaN when the curve never crosses), sample_frac (num_obs / the training-set size),
    ci_low, ci_high (95 % bootstrap interval of num_obs over seeds, NaN with one seed; inf
    when resamples never cross), d_obs (relative change from the row above),
    d_num_obs_d_quality (observations per unit of quality between this row and the one
    above: the talk's d data / d quality), d_num_obs_d_quality_lo, d_num_obs_d_quality_hi
    (its 95 % bootstrap interval over seeds, both levels resampled together; NaN with one
    seed), elasticity (d_obs over the relative change of
    quality), damage_frac, n_seeds, reached, extrapolated (the crossing lies outside the
    swept sample sizes), method (the one used).
    """
    threshold = _check(metric, threshold)
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    rows = _level_rows(df, model=model, damage_mode=damage_mode)
    records, samples = [], {}
    for quality, level in rows.groupby("quality", sort=True):
        grid = level.pivot_table(index="seed", columns="sample_frac", values=metric, aggfunc="mean")
        n = num_obs(grid.columns.to_numpy(), n_total=n_total)
        estimate, used = crossing(n, _seed_mean(grid.to_numpy()), threshold=threshold, method=method)
        if len(grid) >= 2:
            samples[quality] = bootstrap_crossings(grid.to_numpy(), n, threshold=threshold, method=method,
                                                   n_boot=n_boot, random_state=random_state)
        low, high = _interval(samples[quality]) if quality in samples else (np.nan, np.nan)
        records.append({
            "quality": quality, "num_obs": estimate if np.isfinite(estimate) else np.nan,
            "ci_low": low, "ci_high": high, "damage_frac": level["damage_frac"].iloc[0],
            "n_seeds": len(grid), "reached": bool(np.isfinite(estimate)),
            "extrapolated": bool(np.isfinite(estimate) and not n.min() < estimate <= n.max()),
            "method": used,
        })
    table = pd.DataFrame(records).sort_values("quality", ascending=False, ignore_index=True)
    table["sample_frac"] = table["num_obs"] / (DATASET.n_train if n_total is None else n_total)
    table = _with_changes(table)
    step = table["quality"] - table["quality"].shift(1)
    table["d_num_obs_d_quality"] = (table["num_obs"] - table["num_obs"].shift(1)) / step
    table["d_num_obs_d_quality_lo"], table["d_num_obs_d_quality_hi"] = _slope_intervals(table, samples)
    table["elasticity"] = table["d_obs"] / (step / table["quality"].shift(1))
    return table[["quality", "num_obs", "sample_frac", "ci_low", "ci_high", "d_obs", "d_num_obs_d_quality",
                  "d_num_obs_d_quality_lo", "d_num_obs_d_quality_hi", "elasticity", "damage_frac", "n_seeds",
                  "reached", "extrapolated", "method"]]


def _slope_intervals(table: pd.DataFrame, samples: dict[float, np.ndarray]) -> tuple[list[float], list[float]]:
    """95 % bootstrap intervals of d_num_obs_d_quality, row by row (best quality first).

    samples: {quality: (n_boot,) bootstrap crossings}. Every level draws its resamples with
    the same random_state, so with the same seeds at two levels resample i picks the same
    seeds at both and the slope of resample i pairs them. NaN where d_num_obs_d_quality is
    NaN (first row, a level that never crosses) or a level has one seed.
    """
    lows, highs = [np.nan], [np.nan]
    for i in range(1, len(table)):
        above, here = table["quality"].iloc[i - 1], table["quality"].iloc[i]
        if np.isnan(table["d_num_obs_d_quality"].iloc[i]) or above not in samples or here not in samples:
            lows.append(np.nan)
            highs.append(np.nan)
            continue
        with np.errstate(invalid="ignore"):  # inf - inf: both resamples never cross, no slope
            slopes = (samples[here] - samples[above]) / (here - above)
        low, high = _interval(slopes[~np.isnan(slopes)]) if (~np.isnan(slopes)).any() else (np.nan, np.nan)
        lows.append(low)
        highs.append(high)
    return lows[:len(table)], highs[:len(table)]
