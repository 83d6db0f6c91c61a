"""Learning curves per quality level, with their bootstrap over seeds: the measurements that
the contours (datavsmath.analysis.decision) and the routes (datavsmath.analysis.routes) read.

A level is one model's trials at one quality (quality = 1 - damage_frac) of one damage mode
and one repair: the mean metric over seeds against num_obs (sample_frac * the dataset's
training-set size), fitted with `tables.crossing`'s methods ("power_law" err(n) = a n^-b + c,
or "loglinear", an isotonic fit linear in log n).

Intervals are 95 % percentile bootstraps over seeds: seeds are resampled with replacement, by
seed id, jointly for every level that shares the draws, so a resample keeps the pairing of the
trials that share a seed. With fewer than `support.MIN_SEEDS_FOR_INTERVAL` seeds there are no
draws and no interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from datavsmath.analysis.schema import num_obs
from datavsmath.analysis.support import MIN_SEEDS_FOR_INTERVAL
from datavsmath.analysis.tables import (
    METHODS,
    _interval,
    _seed_mean,
    fit_power_law,
    loglinear_crossing,
    power_law_crossing,
)
from datavsmath.trainables.checks import check_choice

# Fewer distinct sample sizes than this cannot pin down a power law (as in datavsmath.analysis.tables).
_POWER_LAW_MIN_POINTS = 3


@dataclass(frozen=True)
class Curve:
    """A fitted learning curve: n (k,) ascending sizes with a value, values (k,) the metric,
    method the one used, params (a, b, c) of the power law (None for loglinear)."""

    n: np.ndarray
    values: np.ndarray
    method: str
    params: tuple[float, float, float] | None = None

    def crossing(self, threshold: float) -> float:
        """The n where the curve reaches `threshold` (as `tables.crossing`): inf when it
        never does, NaN for a curve without points."""
        if self.n.size == 0:
            return np.nan
        if self.params is not None:
            return power_law_crossing(*self.params, threshold=threshold)
        return loglinear_crossing(self.n, self.values, threshold=threshold)


def fit_curve(n: np.ndarray, values: np.ndarray, *, method: str = "power_law") -> Curve:
    """The learning curve through (n, values), NaN values ignored, as `tables.crossing` fits it.

    method: "power_law" (default; "loglinear" with fewer than 3 sizes) or "loglinear".
    """
    check_choice("method", method, METHODS)
    keep = np.isfinite(values)
    n, values = np.asarray(n, dtype=float)[keep], np.asarray(values, dtype=float)[keep]
    order = np.argsort(n)
    n, values = n[order], values[order]
    if method == "power_law" and n.size >= _POWER_LAW_MIN_POINTS:
        return Curve(n, values, method, fit_power_law(n, 1 - values))
    return Curve(n, values, "loglinear")


@dataclass(frozen=True)
class Level:
    """One quality level: n (k,) swept num_obs, grid (n_seeds, k) metric per seed id of the
    shared seed index (NaN where absent), its mean curve and one curve per bootstrap draw."""

    quality: float
    damage_frac: float
    n: np.ndarray
    grid: np.ndarray
    n_seeds: int
    estimate: Curve
    boots: tuple[Curve, ...]
    boot_means: np.ndarray  # (n_boot, k); (0, k) without enough seeds

    def crossings(self, threshold: float) -> np.ndarray:
        """(1 + n_boot,) crossings: the estimate's, then each draw's."""
        return np.array([self.estimate.crossing(threshold), *(c.crossing(threshold) for c in self.boots)])

    @property
    def largest(self) -> float:
        """The largest swept size with a value."""
        return float(self.n[np.isfinite(_seed_mean(self.grid))].max())

    def value_at(self, n0: float) -> np.ndarray:
        """(1 + n_boot,) measured mean at n0 (interpolated in log n; clamped to the swept
        sizes): the estimate's, then each draw's."""
        means = np.vstack([_seed_mean(self.grid)[None, :], self.boot_means])
        return np.array([_interp_log(self.n, row, n0) for row in means])


def _interp_log(n: np.ndarray, values: np.ndarray, n0: float) -> float:
    keep = np.isfinite(values)
    if not keep.any():
        return np.nan
    return float(np.interp(np.log(n0), np.log(n[keep]), values[keep]))


def draws(n_seeds: int, *, n_boot: int, random_state: int) -> np.ndarray:
    """(n_boot, n_seeds) resampled seed positions, drawn as `tables.bootstrap_crossings` does;
    (0, n_seeds) with fewer than MIN_SEEDS_FOR_INTERVAL seeds."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    if n_seeds < MIN_SEEDS_FOR_INTERVAL:
        return np.zeros((0, n_seeds), dtype=int)
    return np.random.default_rng(random_state).integers(0, n_seeds, size=(n_boot, n_seeds))


def level(rows: pd.DataFrame, *, metric: str, seeds: list[int], draws: np.ndarray, method: str,
          n_total: int) -> Level:
    """The Level of one quality's rows (aggregate.quality_rows output, one quality); n_total
    the dataset's training-set size (schema.num_obs)."""
    pivot = rows.pivot_table(index="seed", columns="sample_frac", values=metric, aggfunc="mean")
    n = num_obs(pivot.columns.to_numpy(), n_total=n_total)
    grid = pivot.reindex(seeds).to_numpy(dtype=float)
    boot_means = np.array([_seed_mean(grid[d]) for d in draws]).reshape(len(draws), len(n))
    return Level(quality=float(rows["quality"].iloc[0]), damage_frac=float(rows["damage_frac"].iloc[0]), n=n,
                 grid=grid, n_seeds=len(pivot), estimate=fit_curve(n, _seed_mean(grid), method=method),
                 boots=tuple(fit_curve(n, m, method=method) for m in boot_means), boot_means=boot_means)


def levels(rows: pd.DataFrame, *, metric: str, seeds: list[int], draws: np.ndarray, method: str,
           n_total: int) -> dict[float, Level]:
    """{quality: Level}, best quality first."""
    return {q: level(group, metric=metric, seeds=seeds, draws=draws, method=method, n_total=n_total)
            for q, group in sorted(rows.groupby("quality"), key=lambda item: -item[0])}


def seed_ids(rows: pd.DataFrame) -> list[int]:
    """The distinct seeds of rows, ascending."""
    return sorted(int(s) for s in rows["seed"].dropna().unique())


def ci(samples: np.ndarray) -> tuple[float, float]:
    """95 % interval of bootstrap samples, NaN ones dropped; (NaN, NaN) when none are left."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[~np.isnan(samples)]
    return _interval(samples) if samples.size else (np.nan, np.nan)
