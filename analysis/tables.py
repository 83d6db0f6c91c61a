"""The talk's "Observations needed for > 90 % accuracy / > 98 % AUC" tables, as DataFrames.

Two versions, both per quality level (quality = 1 - damage_frac) of one model and one
damage mode:

- `seed_table`: the talk's method, the smallest swept sample_frac whose mean metric over
  seeds clears the threshold (strictly: metric > threshold), its num_obs = frac * the
  training-set size (60,000 for Fashion-MNIST),
  and d_obs, the relative change of num_obs from the next-better quality level.
- `interpolated_table`: a monotone learning curve fitted per level (a family of
  datavsmath.analysis.curves, by default the one that extrapolates best), solved for the n
  where it crosses the threshold, with how it was found (interpolated, extrapolated ×k,
  beyond the limit), a bootstrap CI over seeds, P(reachable) and the marginal rate
  d(num_obs)/d(quality) between adjacent levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import quality_rows
from datavsmath.analysis.curves import (
    DEFAULT_CURVE,
    EXTRAPOLATION_LIMIT,
    FittedCurve,
    check_curve,
    describe_crossing,
    fit_curve,
    refit,
)
from datavsmath.analysis.curves import fit_power_law as fit_power_law
from datavsmath.analysis.curves import isotonic_increasing as isotonic_increasing
from datavsmath.analysis.curves import loglinear_crossing as loglinear_crossing
from datavsmath.analysis.curves import power_law_crossing as power_law_crossing
from datavsmath.analysis.schema import num_obs
from datavsmath.analysis.support import has_interval
from datavsmath.analysis.training_size import training_size
from datavsmath.trainables.metrics import METRICS

DEFAULT_THRESHOLDS = {"acc": 0.90, "auc": 0.98}
DEFAULT_MODEL = "cnn"
# The talk's size x damage sweep used constant damage ("0 becomes 1, always").
DEFAULT_DAMAGE_MODE = "constant"
METHODS = ("power_law", "loglinear")
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

def crossing(n: np.ndarray, values: np.ndarray, *, threshold: float, curve: str = "power_law") -> tuple[float, str]:
    """(n where the fitted curve crosses threshold, curve family used).

    n: (k,) sample sizes; values: (k,) metric means (NaN allowed, ignored).
    curve: one of datavsmath.analysis.curves.CURVES (default "power_law"; a family falls back
    to "loglinear" with fewer sizes than it needs). Returns inf for a curve that never crosses,
    NaN without points.
    """
    fitted = fit_curve(n, values, curve=check_curve(curve))
    return fitted.crossing(threshold), fitted.family


def _seed_mean(grid: np.ndarray) -> np.ndarray:
    """Mean over seeds (axis 0) ignoring absent trials (NaN); NaN where no seed has a value."""
    present = ~np.isnan(grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, grid, 0.0).sum(axis=0) / present.sum(axis=0)


@dataclass(frozen=True)
class LevelFit:
    """One quality level's curve: n (k,) swept sizes, the estimate fitted to the mean over
    seeds, and (n_boot,) crossings and asymptotes of its family refitted to each bootstrap
    draw of the seeds (empty with one seed)."""

    n: np.ndarray
    estimate: FittedCurve
    crossings: np.ndarray
    asymptotes: np.ndarray
    n_seeds: int


def seed_draws(n_seeds: int, *, n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> np.ndarray:
    """(n_boot, n_seeds) seed positions resampled with replacement; (0, n_seeds) with one seed."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    if n_seeds < 2:
        return np.zeros((0, n_seeds), dtype=int)
    return np.random.default_rng(random_state).integers(0, n_seeds, size=(n_boot, n_seeds))


def fit_level(grid: np.ndarray, n: np.ndarray, *, threshold: float, curve: str = DEFAULT_CURVE,
              n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> LevelFit:
    """The curve of one level and its bootstrap over seeds.

    grid: (n_seeds, k) metric per seed and sample size (NaN where a trial is absent); n: (k,).
    curve: as in `fit_curve`; "auto" chooses the family (and a mix's weights) once, on the
    mean over seeds, and every draw refits that family (warm-started from the estimate).
    """
    estimate = fit_curve(n, _seed_mean(grid), curve=check_curve(curve))
    boots = [refit(estimate, n, _seed_mean(grid[d])) for d in seed_draws(len(grid), n_boot=n_boot,
                                                                        random_state=random_state)]
    return LevelFit(n=np.asarray(n, dtype=float), estimate=estimate,
                    crossings=np.array([b.crossing(threshold) for b in boots]),
                    asymptotes=np.array([b.asymptote for b in boots]), n_seeds=len(grid))


def bootstrap_crossings(grid: np.ndarray, n: np.ndarray, *, threshold: float, curve: str = "power_law",
                        n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> np.ndarray:
    """Crossings of the mean curve over seeds resampled with replacement (`fit_level`).

    grid: (n_seeds, k) metric per seed and sample size (NaN where a trial is absent).
    Returns (n_boot,) crossings, inf where a resample never crosses.
    """
    return fit_level(grid, n, threshold=threshold, curve=curve, n_boot=n_boot, random_state=random_state).crossings


def _interval(samples: np.ndarray) -> tuple[float, float]:
    """Percentile interval at CI_LEVEL; "nearest" ranks keep inf (never crosses) exact."""
    tail = (1 - CI_LEVEL) / 2
    low, high = np.quantile(samples, [tail, 1 - tail], method="nearest")
    return float(low), float(high)


def p_reachable(fit: LevelFit, threshold: float) -> float:
    """The share of bootstrap draws whose curve's asymptote exceeds `threshold`; NaN with one seed."""
    return float(np.mean(fit.asymptotes > threshold)) if fit.asymptotes.size else np.nan


def found_text(fit: LevelFit, threshold: float, *, limit: float = EXTRAPOLATION_LIMIT) -> str:
    """How the level's crossing was found (curves.describe_crossing); a curve that never
    crosses adds its asymptote (parametric families) and P(reachable)."""
    estimate = fit.estimate.crossing(threshold)
    text = describe_crossing(estimate, largest=fit.n.max(), smallest=fit.n.min(), limit=limit)
    if not np.isinf(estimate):
        return text
    if fit.estimate.extrapolates:
        text = f"never (asymptote {fit.estimate.asymptote:.4f})"
    p = p_reachable(fit, threshold)
    return text if np.isnan(p) or not has_interval(fit.n_seeds) else f"{text}; reachable with probability {p:.2f}"


def _level_record(fit: LevelFit, threshold: float, *, limit: float) -> dict:
    """The crossing columns of one level's row."""
    estimate, largest = fit.estimate.crossing(threshold), float(fit.n.max())
    within = bool(np.isfinite(estimate) and estimate <= limit * largest)
    low, high = _interval(fit.crossings) if fit.crossings.size else (np.nan, np.nan)
    return {"num_obs": estimate if within else np.nan, "ci_low": low, "ci_high": high,
            "reached": bool(np.isfinite(estimate)),
            "extrapolated": bool(np.isfinite(estimate) and not fit.n.min() < estimate <= largest),
            "extrapolation": estimate / largest if np.isfinite(estimate) else np.nan,
            "found": found_text(fit, threshold, limit=limit), "p_reachable": p_reachable(fit, threshold),
            "curve": fit.estimate.family}


def interpolated_table(df: pd.DataFrame, *, metric: str = "acc", threshold: float | None = None,
                       model: str = DEFAULT_MODEL, damage_mode: str = DEFAULT_DAMAGE_MODE,
                       curve: str = DEFAULT_CURVE, n_boot: int = DEFAULT_N_BOOT, random_state: int = 0,
                       n_total: int | None = None, limit: float = EXTRAPOLATION_LIMIT) -> pd.DataFrame:
    """Observations needed to clear `threshold`, per quality level, from a fitted learning curve.

    Arguments as in `seed_table`, plus curve (a family of datavsmath.analysis.curves.CURVES,
    default "auto": per level, the family that best predicts its upper half, or pow3 mixed
    with pow2 by an inner backtest; datavsmath.analysis.curves.fit_curve), n_boot (bootstrap
    resamples of the seeds, default 200), random_state (the bootstrap's seed) and limit
    (default 4: a crossing past limit x the largest swept size is not given as a number).
    Returns one row per quality level, best first, with columns quality, num_obs (the
    crossing n; NaN when the curve never crosses or crosses past the limit), sample_frac
    (num_obs / the training-set size), ci_low, ci_high (95 % bootstrap interval of the
    crossing over seeds, NaN with one seed; inf when resamples never cross), d_obs (relative
    change from the row above), d_num_obs_d_quality (observations per unit of quality
    between this row and the one above: the talk's d data / d quality),
    d_num_obs_d_quality_lo, d_num_obs_d_quality_hi (its 95 % bootstrap interval over seeds,
    both levels resampled together; NaN with one seed), elasticity (d_obs over the relative
    change of quality), damage_frac, n_seeds, reached (the curve crosses at all),
    extrapolated (the crossing lies outside the swept sample sizes), extrapolation (crossing
    / largest swept size), found ("interpolated", "extrapolated ×k", "beyond 4× the data
    swept", or "never ...; reachable with probability p"), p_reachable (share of bootstrap
    draws whose asymptote exceeds the threshold; NaN with one seed), curve (the family used).
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
        fit = fit_level(grid.to_numpy(), n, threshold=threshold, curve=curve, n_boot=n_boot,
                        random_state=random_state)
        if fit.crossings.size:
            samples[quality] = fit.crossings
        records.append({"quality": quality, "damage_frac": level["damage_frac"].iloc[0], "n_seeds": len(grid),
                        **_level_record(fit, threshold, limit=limit)})
    table = pd.DataFrame(records).sort_values("quality", ascending=False, ignore_index=True)
    table["sample_frac"] = table["num_obs"] / n_total
    table = _with_changes(table)
    step = table["quality"] - table["quality"].shift(1)
    table["d_num_obs_d_quality"] = (table["num_obs"] - table["num_obs"].shift(1)) / step
    table["d_num_obs_d_quality_lo"], table["d_num_obs_d_quality_hi"] = _slope_intervals(table, samples)
    table["elasticity"] = table["d_obs"] / (step / table["quality"].shift(1))
    return table[["quality", "num_obs", "sample_frac", "ci_low", "ci_high", "d_obs", "d_num_obs_d_quality",
                  "d_num_obs_d_quality_lo", "d_num_obs_d_quality_hi", "elasticity", "damage_frac", "n_seeds",
                  "reached", "extrapolated", "extrapolation", "found", "p_reachable", "curve"]]


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
