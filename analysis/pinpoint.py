"""Where a learning curve crosses a target, and how sure that is, from the trial points an
adaptive sweep has so far: the estimator that datavsmath.sweeps.adaptive's searcher refits
after every finished trial.

The curve (pow3 of datavsmath.analysis.curves, the family that extrapolates safely from few
points) is fitted to every trial's own (n, metric) point, seeds and sizes alike; its interval
is a wild bootstrap (the fit plus each point's own residual with a random sign, refitted), so
it narrows as points are added where the crossing is, and it keeps the noise of each size
where it was measured: a learning curve scatters more at small n (rf on Fashion-MNIST: 2-5x
between seeds below 3,000 observations than above 30,000), and a bootstrap that pools the
residuals would give a crossing at small n the calm of the large sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from datavsmath.analysis.curves import FittedCurve, fit_one, refit
from datavsmath.analysis.support import size_bound

FAMILY = "pow3"
N_BOOT = 40  # while the searcher refits after each trial
# For the intervals a finished search reports: with 40 draws the 2.5 and 97.5 % quantiles are
# the 1st and 39th values, and two runs on the same points differ in width by 20 % or more.
SUMMARY_N_BOOT = 400
CI_LEVEL = 0.95
# Below this share of draws reaching the target, the crossing is confidently unreachable.
UNREACHABLE_BELOW = 0.05
# A bootstrap of the residuals needs this many beyond pow3's 3 parameters: from 4 points (one
# left) it resamples near-zero residuals by chance and gives an interval of ±1 % around a
# crossing 4 % off. With fewer, the interval is unbounded.
MIN_RESIDUAL_DOF = 5


@dataclass(frozen=True)
class Estimate:
    """A crossing: estimate (inf when the fit never reaches the target), low, high (95 %
    wild-bootstrap interval; inf where draws never reach), p_reachable (share of draws
    whose asymptote exceeds the target) and the number of points behind it."""

    estimate: float
    low: float
    high: float
    p_reachable: float
    n_points: int
    fitted: FittedCurve | None = field(default=None, repr=False, compare=False)

    @property
    def beyond(self) -> bool:
        """Whether the whole interval lies past what the report gives a number for
        (datavsmath.analysis.support.size_bound of the largest size fitted): more points
        would not change what it says ("beyond the data")."""
        return self.fitted is not None and self.fitted.n.size > 0 and self.low > size_bound(self.fitted.n[-1])

    @property
    def relative_width(self) -> float:
        """Half the interval's width over the estimate (inf when either is not finite)."""
        if not (np.isfinite(self.estimate) and np.isfinite(self.low) and np.isfinite(self.high)) \
                or self.estimate <= 0:
            return np.inf
        return (self.high - self.low) / 2 / self.estimate

    def excess(self, n_more: np.ndarray, *, target: float) -> float:
        """How many times wider this crossing's interval is than it would be with one more point
        at each size of `n_more` (m,) as well (e.g. every candidate cell not yet run): the square
        root of the ratio of the two variances of log(crossing), to first order (the delta
        method on the pow3 fit; the points' scatter cancels). >= 1; inf while the estimate is
        not finite or the fit does not cross `target`."""
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


def _modified_residuals(fitted: FittedCurve, values: np.ndarray) -> np.ndarray:
    """The fit's residuals r_i / sqrt(1 - h_i) (h: the leverages of the linearised fit). Raw
    residuals are smaller than the noise by about sqrt((k - 3) / k) for k points, so a
    bootstrap from few points would give too narrow an interval (Davison and Hinkley 1997, 6.2)."""
    design, inverse = _design(fitted)
    leverage = np.einsum("ij,jk,ik->i", design, inverse, design)
    return (values - fitted.predict(fitted.n)) / np.sqrt(1 - np.clip(leverage, 0.0, 0.99))


def estimate_crossing(n: np.ndarray, values: np.ndarray, *, target: float, n_boot: int = N_BOOT,
                      random_state: int = 0) -> Estimate:
    """The crossing of `target` by the curve through the points (n (k,), values (k,)), with a
    95 % wild bootstrap interval of `n_boot` draws (default N_BOOT; each draw flips the sign of
    each point's modified residual at random, Rademacher weights, and refits).

    With fewer than 4 distinct sizes the estimate is NaN and the interval unbounded; with fewer
    than 3 + MIN_RESIDUAL_DOF points the estimate is the fit's and the interval unbounded."""
    n, values = np.asarray(n, dtype=float), np.asarray(values, dtype=float)
    if np.unique(n).size < 4:
        return Estimate(np.nan, 0.0, np.inf, np.nan, n.size)
    order = np.argsort(n, kind="stable")
    n, values = n[order], values[order]
    fitted = fit_one(FAMILY, n, values)
    if n.size < 3 + MIN_RESIDUAL_DOF:
        return Estimate(fitted.crossing(target), 0.0, np.inf, np.nan, n.size, fitted)
    residuals = _modified_residuals(fitted, values)
    rng = np.random.default_rng(random_state)
    signs = rng.choice([-1.0, 1.0], size=(n_boot, n.size))
    boots = [refit(fitted, n, fitted.predict(n) + residuals * sign) for sign in signs]
    crossings = np.array([b.crossing(target) for b in boots])
    tail = (1 - CI_LEVEL) / 2
    low, high = np.quantile(crossings, [tail, 1 - tail], method="nearest")
    return Estimate(fitted.crossing(target), float(low), float(high),
                    float(np.mean([b.asymptote > target for b in boots])), n.size, fitted)


def summary_crossing(n: np.ndarray, values: np.ndarray, *, target: float) -> Estimate:
    """estimate_crossing with SUMMARY_N_BOOT draws: the interval a finished search reports."""
    return estimate_crossing(n, values, target=target, n_boot=SUMMARY_N_BOOT)
