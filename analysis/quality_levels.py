"""Learning curves per quality level: the measurements that the contours
(datavsmath.analysis.decision) and the routes (datavsmath.analysis.routes) read.

A level is one model's trials at one quality (quality = 1 - damage_frac) of one damage mode
and one repair: the metric per seed against num_obs (sample_frac * the dataset's
training-set size). Its crossing of a target is datavsmath.analysis.curves.estimate_crossing
of that grid, the one estimate the tables and the adaptive searcher give too, with the same
`curve` (default "auto"), draws and interval.

`value_at` (the current value) is read off the measured seed means, not a curve (past the
largest swept size: the fitted curve, without an interval); its
interval is a 95 % percentile bootstrap over seeds (seed ids resampled with replacement),
given with at least `support.MIN_SEEDS_FOR_INTERVAL` seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from datavsmath.analysis.curves import DEFAULT_CURVE, N_BOOT, Crossing, check_curve, estimate_crossing, fit_curve
from datavsmath.analysis.estimate_limits import MIN_SEEDS_FOR_INTERVAL
from datavsmath.analysis.schema import num_obs
from datavsmath.analysis.tables import _interval, _seed_mean


@dataclass(frozen=True)
class Level:
    """One quality level: n (k,) swept num_obs, grid (n_seeds, k) metric per seed id of the
    shared seed index (NaN where absent), the curve family its crossings use (curves.CURVES),
    n_boot and random_state of their draws, boot_means (n_boot, k) seed means of the
    bootstrap over seeds (for `value_at`; (0, k) without enough seeds), and stream: None, or
    the seed of a shuffle of the crossing draws, so that draw i of two levels is not the same
    random draw (estimate_crossing draws each level with the same random_state)."""

    quality: float
    damage_frac: float
    n: np.ndarray
    grid: np.ndarray
    n_seeds: int
    curve: str = DEFAULT_CURVE
    n_boot: int = N_BOOT
    random_state: int = 0
    boot_means: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    stream: int | None = None
    _found: dict[float, Crossing] = field(default_factory=dict, repr=False, compare=False)

    def crossing(self, threshold: float) -> Crossing:
        """curves.estimate_crossing of the level's grid at `threshold` (computed once)."""
        threshold = float(threshold)
        if threshold not in self._found:
            # Seeds of the shared index that this level lacks are dropped: the grid is then the
            # one a table of the level alone passes, and so are the draws.
            grid = self.grid[np.isfinite(self.grid).any(axis=1)]
            self._found[threshold] = estimate_crossing(self.n, grid, threshold=threshold, curve=self.curve,
                                                       n_boot=self.n_boot, random_state=self.random_state)
        return self._found[threshold]

    def crossings(self, threshold: float) -> np.ndarray:
        """(1 + n_boot,) crossings: the estimate, then its n_boot draws (NaN where the crossing
        has no interval; shuffled by `stream` when set)."""
        found = self.crossing(threshold)
        if not found.draws.size:
            return np.concatenate([[found.estimate], np.full(self.n_boot, np.nan)])
        drawn = found.draws
        if self.stream is not None:
            drawn = drawn[np.random.default_rng([self.random_state, self.stream]).permutation(drawn.size)]
        return np.concatenate([[found.estimate], drawn])

    @property
    def largest(self) -> float:
        """The largest swept size with a value."""
        return float(self.n[np.isfinite(_seed_mean(self.grid))].max())

    def value_at(self, n0: float) -> np.ndarray:
        """(1 + n_boot,) measured mean at n0 (interpolated in log n; below the swept sizes, the
        smallest's): the estimate's, then each draw's of the bootstrap over seeds. Past the
        largest swept size, the level's fitted curve (curves.fit_curve, its `curve`) there,
        with NaN draws: an extrapolation has no interval from the seeds."""
        means = np.vstack([_seed_mean(self.grid)[None, :], self.boot_means.reshape(-1, len(self.n))])
        if np.isfinite(n0) and n0 > self.largest:
            keep = np.isfinite(means[0])
            fitted = fit_curve(self.n[keep], means[0][keep], curve=self.curve)
            return np.concatenate([[float(np.clip(fitted.predict(np.array([n0]))[0], 0, 1))],
                                   np.full(len(means) - 1, np.nan)])
        return np.array([_interp_log(self.n, row, n0) for row in means])


def _interp_log(n: np.ndarray, values: np.ndarray, n0: float) -> float:
    keep = np.isfinite(values)
    if not keep.any():
        return np.nan
    return float(np.interp(np.log(n0), np.log(n[keep]), values[keep]))


def draws(n_seeds: int, *, n_boot: int, random_state: int) -> np.ndarray:
    """(n_boot, n_seeds) resampled seed positions for `value_at`'s interval; (0, n_seeds)
    with fewer than MIN_SEEDS_FOR_INTERVAL seeds."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    if n_seeds < MIN_SEEDS_FOR_INTERVAL:
        return np.zeros((0, n_seeds), dtype=int)
    return np.random.default_rng(random_state).integers(0, n_seeds, size=(n_boot, n_seeds))


def level(rows: pd.DataFrame, *, metric: str, seeds: list[int], n_total: int, curve: str = DEFAULT_CURVE,
          n_boot: int = N_BOOT, random_state: int = 0, draws: np.ndarray | None = None,
          stream: int | None = None) -> Level:
    """The Level of one quality's rows (aggregate.quality_rows output, one quality); n_total
    the dataset's training-set size (schema.num_obs); curve, n_boot, random_state: its
    crossings' (curves.estimate_crossing); draws: seed positions of `value_at`'s bootstrap
    (default none); stream: as in Level."""
    check_curve(curve)
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    pivot = rows.pivot_table(index="seed", columns="sample_frac", values=metric, aggfunc="mean")
    n = num_obs(pivot.columns.to_numpy(), n_total=n_total)
    grid = pivot.reindex(seeds).to_numpy(dtype=float)
    chosen = np.zeros((0, len(seeds)), dtype=int) if draws is None else draws
    boot_means = np.array([_seed_mean(grid[d]) for d in chosen]).reshape(len(chosen), len(n))
    return Level(quality=float(rows["quality"].iloc[0]), damage_frac=float(rows["damage_frac"].iloc[0]), n=n,
                 grid=grid, n_seeds=len(pivot), curve=curve, n_boot=n_boot, random_state=random_state,
                 boot_means=boot_means, stream=stream)


def levels(rows: pd.DataFrame, *, metric: str, seeds: list[int], n_total: int, curve: str = DEFAULT_CURVE,
           n_boot: int = N_BOOT, random_state: int = 0, first_stream: int | None = None) -> dict[float, Level]:
    """{quality: Level}, best quality first; with first_stream, the levels' streams count up
    from it (draws shuffled apart, Level)."""
    by_quality = sorted(rows.groupby("quality"), key=lambda item: -item[0])
    return {q: level(group, metric=metric, seeds=seeds, n_total=n_total, curve=curve, n_boot=n_boot,
                     random_state=random_state, stream=None if first_stream is None else first_stream + i)
            for i, (q, group) in enumerate(by_quality)}


def seed_ids(rows: pd.DataFrame) -> list[int]:
    """The distinct seeds of rows, ascending."""
    return sorted(int(s) for s in rows["seed"].dropna().unique())


def ci(samples: np.ndarray) -> tuple[float, float]:
    """95 % interval of draws, NaN ones dropped; (NaN, NaN) when none are left."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[~np.isnan(samples)]
    return _interval(samples) if samples.size else (np.nan, np.nan)
