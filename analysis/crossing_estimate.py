"""Where a learning curve crosses a target, and how sure that is, from the trial points an
adaptive sweep has so far: the estimator that datavsmath.sweeps.adaptive's searcher refits
after every finished trial.

The crossing, its interval and P(reachable) are datavsmath.analysis.curves.estimate_crossing's
(the one estimate of the analysis, as the tables, the routes and the answer give it) on the
points as a grid: the points at one size stacked as rows (one per seed), NaN-padded, with
the experiment's report curve (the spec's `report: {curve: ...}`, default "auto"). The
searcher's design aid, which cell to run next (`Estimate.excess`, `Estimate.narrowing`), is
the delta method on a pow3 fit of the same points: how much one more point at a size would
narrow the crossing of that fit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from datavsmath.analysis import curves
from datavsmath.analysis.curves import FittedCurve, fit_one
from datavsmath.analysis.estimate_limits import size_bound

FAMILY = "pow3"  # the design aid's fit
N_BOOT = 40  # while the searcher refits after each trial
# For the intervals a finished search reports: with 40 draws the 2.5 and 97.5 % quantiles are
# the 1st and 39th values, and two runs on the same points differ in width by 20 % or more.
SUMMARY_N_BOOT = 400
# The pow3 design aid needs a point more than its 3 parameters.
MIN_DESIGN_SIZES = 4


@dataclass(frozen=True)
class Estimate:
    """A crossing for the searcher: estimate (curves.Crossing's; inf only for a confident
    "never"), low, high (its 95 % interval; 0 and inf, unbounded, where the Crossing gives
    none), p_reachable (the share of its draws that reach the target at all, so that the
    searcher tells "unreachable" from "beyond the data"; NaN without draws; the Crossing's own
    p_reachable is P(within 4x)), the number of points behind it, fitted (the pow3 fit of the
    points, the design aid's; None with fewer than MIN_DESIGN_SIZES sizes) and crossing (the
    curves.Crossing itself)."""

    estimate: float
    low: float
    high: float
    p_reachable: float
    n_points: int
    fitted: FittedCurve | None = field(default=None, repr=False, compare=False)
    crossing: curves.Crossing | None = field(default=None, repr=False, compare=False)

    @property
    def beyond(self) -> bool:
        """Whether the whole interval lies past what the report gives a number for
        (datavsmath.analysis.estimate_limits.size_bound of the largest size with a point): more points
        would not change what it says ("beyond the data")."""
        found = self.crossing
        return found is not None and found.has_interval and bool(self.low > size_bound(found.largest))

    @property
    def past_data(self) -> bool:
        """Whether the target lies past the points (auto's learned extrapolation): more points
        at the sizes already run do not narrow its interval, a larger size may reach it."""
        return self.crossing is not None and self.crossing.family == curves.LEARNED

    @property
    def how(self) -> str:
        """The crossing as the report describes it (curves.Crossing.how)."""
        return self.crossing.how if self.crossing is not None else ""

    @property
    def relative_width(self) -> float:
        """Half the interval's width over the estimate (inf where there is no interval or
        either is not finite)."""
        if not (np.isfinite(self.estimate) and np.isfinite(self.low) and np.isfinite(self.high)) \
                or self.estimate <= 0:
            return np.inf
        return (self.high - self.low) / 2 / self.estimate

    def excess(self, n_more: np.ndarray, *, target: float) -> float:
        """How many times wider this crossing's interval is than it would be with one more point
        at each size of `n_more` (m,) as well (e.g. every candidate cell not yet run): the square
        root of the ratio of the two variances of log(crossing), to first order (the delta
        method on the pow3 fit; the points' scatter cancels). >= 1; inf while the estimate is
        not finite or the pow3 fit does not cross `target`."""
        grad = self._gradient(target)
        if grad is None:
            return np.inf
        fitted = self.fitted
        assert fitted is not None
        design, inverse = _design(fitted)
        more = _pow3_jacobian(np.asarray(n_more, dtype=float) / fitted.scale, fitted.params)
        variance_now = grad @ inverse @ grad
        variance_all = grad @ np.linalg.pinv(design.T @ design + more.T @ more) @ grad
        return float(np.sqrt(variance_now / variance_all)) if variance_all > 0 else np.inf

    def _gradient(self, target: float) -> np.ndarray | None:
        """d log(crossing) / d (a, b, c) of the pow3 fit, None when there is none that crosses."""
        fitted = self.fitted
        if fitted is None or fitted.family != FAMILY or not np.isfinite(self.estimate):
            return None
        a, b, c = fitted.params
        if a <= target or b <= 0:
            return None
        return np.array([-1 / (c * (a - target)), 1 / (c * b), np.log((a - target) / b) / c ** 2])

    def narrowing(self, n_new: np.ndarray, *, target: float) -> np.ndarray:
        """How much one more point at each size of `n_new` (m,) would shrink the variance of
        log(crossing), to first order (the delta method on the pow3 fit through the points;
        the points' own scatter cancels): (m,) values >= 0, larger is better. Zeros when the
        fit does not cross `target`."""
        n_new = np.asarray(n_new, dtype=float)
        grad = self._gradient(target)
        fitted = self.fitted
        if grad is None or fitted is None:
            return np.zeros(n_new.shape)
        _, inverse = _design(fitted)
        rows = _pow3_jacobian(n_new / fitted.scale, fitted.params)
        along = rows @ inverse @ grad
        return along ** 2 / (1 + np.einsum("ij,jk,ik->i", rows, inverse, rows))


def _pow3_jacobian(x: np.ndarray, params: tuple[float, ...]) -> np.ndarray:
    """(k, 3) derivatives of pow3 a - b·x^-c by (a, b, c) at sizes x (k,)."""
    _, b, c = params
    power = np.power(x, -c)
    return np.column_stack([np.ones_like(x), -power, b * power * np.log(x)])


def _design(fitted: FittedCurve) -> tuple[np.ndarray, np.ndarray]:
    """The (k, 3) Jacobian of the pow3 fit at its own points, and the (3, 3) pseudo-inverse of
    its Gram matrix (the linearised fit's parameter covariance over the noise variance)."""
    design = _pow3_jacobian(fitted.n / fitted.scale, fitted.params)
    return design, np.linalg.pinv(design.T @ design)


def grid_of(n: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sizes (k,) ascending, grid (rows, k)): the points at one size stacked as rows in the
    order given, NaN-padded (rows: the most points at one size)."""
    n, values = np.asarray(n, dtype=float).reshape(-1), np.asarray(values, dtype=float).reshape(-1)
    keep = np.isfinite(n) & np.isfinite(values)
    n, values = n[keep], values[keep]
    sizes = np.unique(n)
    columns = [values[n == size] for size in sizes]
    grid = np.full((max((c.size for c in columns), default=0), sizes.size), np.nan)
    for j, column in enumerate(columns):
        grid[:column.size, j] = column
    return sizes, grid


def estimate_crossing(n: np.ndarray, values: np.ndarray, *, target: float, curve: str = curves.DEFAULT_CURVE,
                      n_boot: int = N_BOOT, random_state: int = 0) -> Estimate:
    """The crossing of `target` by the curve through the points (n (k,), values (k,)):
    datavsmath.analysis.curves.estimate_crossing of their grid (`grid_of`) with `curve`
    (default "auto"; an experiment's is its spec's report curve), `n_boot` draws (default
    N_BOOT) and `random_state`, with the pow3 design aid fitted to the same points.

    NaN estimate without points."""
    sizes, grid = grid_of(n, values)
    if sizes.size == 0:
        return Estimate(np.nan, 0.0, np.inf, np.nan, 0)
    found = curves.estimate_crossing(sizes, grid, threshold=target, curve=curve, n_boot=n_boot,
                                     random_state=random_state)
    points = np.isfinite(grid.T)  # size by size: the fit's points ascending in n
    fitted = (fit_one(FAMILY, np.broadcast_to(sizes[:, None], points.shape)[points], grid.T[points])
              if sizes.size >= MIN_DESIGN_SIZES else None)
    low, high = (found.low, found.high) if found.has_interval else (0.0, np.inf)
    reachable = float(np.mean(np.isfinite(found.draws))) if found.draws.size else np.nan
    return Estimate(found.estimate, low, high, reachable, found.n_points, fitted, found)


def summary_crossing(n: np.ndarray, values: np.ndarray, *, target: float,
                     curve: str = curves.DEFAULT_CURVE) -> Estimate:
    """estimate_crossing with SUMMARY_N_BOOT draws: the interval a finished search reports."""
    return estimate_crossing(n, values, target=target, curve=curve, n_boot=SUMMARY_N_BOOT)


def estimators(report: Mapping[str, Any] | None) -> tuple[Callable[..., Estimate], Callable[..., Estimate]]:
    """(estimate_crossing, summary_crossing) with the curve of an experiment's report (a spec's
    normal `report:` mapping; its `curve`, default "auto"): the searcher's crossings are then the
    report's."""
    curve = curves.check_curve(str((report or {}).get("curve") or curves.DEFAULT_CURVE))
    return partial(estimate_crossing, curve=curve), partial(summary_crossing, curve=curve)
