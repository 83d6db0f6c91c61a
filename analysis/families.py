"""The learning-curve families, each fitted alone: the parametric ones (bounded least squares
from several starts, monotone and at most 1), the error power law, and the isotonic
interpolation in log n. datavsmath.analysis.curves builds fitted curves and `auto`'s choice
on them.

Every parametric family is written in x = n / scale (scale: the largest n it was fitted on)
and increases in x towards its asymptote (at most 1): pow3 ``a - b·x^-c``; pow4
``a - b·(x + d)^-c``; mmf4 ``(a·b + c·x^d) / (b + x^d)``; wbl4 ``c - b·exp(-a·x^d)``; exp3
``c - b·exp(-a·x)``; pow2 ``1 - b·x^-c``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import optimize

# The power law's reference size: numerical scaling only, the fit does not depend on it.
POWER_LAW_SCALE = 60000.0
_EXPONENT_RANGE = (1e-3, 3.0)
_EXPONENT_GRID = np.geomspace(*_EXPONENT_RANGE, 40)
# Parametric fits need at least this many distinct sizes; fewer fall back to loglinear.
MIN_POINTS = 3


# --- parametric families --------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    """One parametric family: names of its parameters, their bounds, the curve in x and its
    inverse (the x where it reaches a value: 0 when it starts above it, inf when never)."""

    name: str
    names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    inverse: Callable[[float, np.ndarray], float]
    asymptote: Callable[[np.ndarray], float]
    starts: Callable[[np.ndarray, np.ndarray], list[list[float]]]

    @property
    def n_params(self) -> int:
        return len(self.names)


def _root(power: float, ratio: float) -> float:
    """ratio ** (1 / power), inf where it overflows."""
    with np.errstate(over="ignore", divide="ignore"):
        return float(np.power(ratio, 1.0 / power))


def _pow3_inverse(t: float, p: np.ndarray) -> float:
    a, b, c = p
    if a <= t:
        return np.inf
    return 0.0 if b == 0 else _root(c, b / (a - t))


def _pow4_inverse(t: float, p: np.ndarray) -> float:
    a, b, c, d = p
    if a <= t:
        return np.inf
    return 0.0 if b == 0 else max(_root(c, b / (a - t)) - d, 0.0)


def _mmf4_value(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    a, b, c, d = p
    xd = np.power(x, d)
    return (a * b + c * xd) / (b + xd)


def _mmf4_inverse(t: float, p: np.ndarray) -> float:
    a, b, c, d = p
    if c <= t:
        return np.inf
    return 0.0 if t <= a else _root(d, b * (t - a) / (c - t))


def _weibull_inverse(t: float, p: np.ndarray) -> float:
    c, b, a, d = p
    if c <= t:
        return np.inf
    if b <= c - t:
        return 0.0
    return _root(d, -np.log((c - t) / b) / a)


def _exp3_inverse(t: float, p: np.ndarray) -> float:
    c, b, a = p
    return _weibull_inverse(t, np.array([c, b, a, 1.0]))


def _top(y: np.ndarray) -> list[float]:
    """Candidate asymptotes: a little above the best value, and 1."""
    best = float(np.max(y))
    return [min(best + 0.01, 1.0), min(best + 0.05, 1.0), 1.0]


def _pow3_starts(x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    return [[a, max(a - float(y[0]), 1e-3) * float(x[0]) ** c, c] for a in _top(y)[::2] for c in (0.3, 1.0)]


def _pow4_starts(x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    return [[*s, d] for s in _pow3_starts(x, y)[:2] for d in (0.0, 0.05)]


def _mmf4_starts(x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    low = max(float(y[0]) - 0.1, 0.0)
    return [[low, float(np.median(x)) ** d, c, d] for c in _top(y)[::2] for d in (0.5, 1.5)]


def _weibull_starts(x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    return [[c, max(c - float(y[0]), 1e-3) * 2, a, d] for c in _top(y)[::2] for a, d in ((3.0, 1.0), (10.0, 0.3))]


def _pow2_inverse(t: float, p: np.ndarray) -> float:
    return _pow3_inverse(t, np.array([1.0, *p]))


def _pow2_starts(x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    return [s[1:] for s in _pow3_starts(x, y) if s[0] == 1.0]


def _exp3_starts(x: np.ndarray, y: np.ndarray) -> list[list[float]]:
    return [[c, max(c - float(y[0]), 1e-3) * 2, a] for c in _top(y)[::2] for a in (2.0, 20.0)]


PARAMETRIC = {
    "pow3": Family("pow3", ("a", "b", "c"), (0.0, 0.0, 1e-3), (1.0, 100.0, 3.0),
                   lambda x, p: p[0] - p[1] * np.power(x, -p[2]), _pow3_inverse, lambda p: float(p[0]), _pow3_starts),
    "pow4": Family("pow4", ("a", "b", "c", "d"), (0.0, 0.0, 1e-3, 0.0), (1.0, 100.0, 3.0, 10.0),
                   lambda x, p: p[0] - p[1] * np.power(x + p[3], -p[2]), _pow4_inverse, lambda p: float(p[0]),
                   _pow4_starts),
    "mmf4": Family("mmf4", ("a", "b", "c", "d"), (0.0, 1e-8, 0.0, 1e-2), (1.0, 1e4, 1.0, 5.0),
                   _mmf4_value, _mmf4_inverse, lambda p: float(p[2]), _mmf4_starts),
    "wbl4": Family("wbl4", ("c", "b", "a", "d"), (0.0, 0.0, 1e-6, 1e-2), (1.0, 10.0, 1e4, 5.0),
                   lambda x, p: p[0] - p[1] * np.exp(-p[2] * np.power(x, p[3])), _weibull_inverse,
                   lambda p: float(p[0]), _weibull_starts),
    "exp3": Family("exp3", ("c", "b", "a"), (0.0, 0.0, 1e-6), (1.0, 10.0, 1e4),
                   lambda x, p: p[0] - p[1] * np.exp(-p[2] * x), _exp3_inverse, lambda p: float(p[0]), _exp3_starts),
    "pow2": Family("pow2", ("b", "c"), (0.0, 1e-3), (100.0, 3.0),
                   lambda x, p: 1 - p[0] * np.power(x, -p[1]), _pow2_inverse, lambda p: 1.0, _pow2_starts),
}
# The families fitted otherwise (FittedCurve, fit_one): the error power law, the last value
# carried on, and the isotonic interpolation in log n. A spec names a family of these or of
# PARAMETRIC (but pow2, which only auto's mix uses) by the names of
# datavsmath.sweeps.report_keys.CURVE_FAMILIES, which owns that list.
OTHER_FAMILIES = ("power_law", "last1", "loglinear")


def _interior(start: Sequence[float], family: Family) -> np.ndarray:
    """A start moved just inside the family's bounds (least_squares needs it strictly inside)."""
    lower, upper = np.array(family.lower), np.array(family.upper)
    span = upper - lower
    return np.clip(np.asarray(start, dtype=float), lower + 1e-9 * span, upper - 1e-9 * span)


def _mmf4_monotone(p: np.ndarray) -> np.ndarray:
    """mmf4 rises only when its start a is below its asymptote c: clip a to c."""
    return np.array([min(p[0], p[2]), p[1], p[2], p[3]])


def fit_family(name: str, x: np.ndarray, y: np.ndarray, *,
               starts: Sequence[Sequence[float]] | None = None) -> tuple[np.ndarray, float]:
    """(parameters, sum of squared residuals) of a parametric family fitted to (x, y).

    x: (k,) positive sizes in the family's units, ascending; y: (k,) metric values.
    starts: initial parameter vectors (default: the family's own several starts); the
    best of the bounded least-squares fits is kept.
    """
    family = PARAMETRIC[name]
    fix = _mmf4_monotone if name == "mmf4" else (lambda p: p)

    def residual(p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            r = family.value(x, fix(p)) - y
        return np.where(np.isfinite(r), r, 1e3)

    best, best_cost = None, np.inf
    for start in starts if starts is not None else family.starts(x, y):
        try:
            fit = optimize.least_squares(residual, _interior(start, family), bounds=(family.lower, family.upper),
                                         method="trf", x_scale="jac", max_nfev=200)
        except ValueError:  # a start whose residuals are not finite
            continue
        if 2 * fit.cost < best_cost:
            best, best_cost = fix(fit.x), 2 * float(fit.cost)
    if best is None:
        raise ValueError(f"curve {name} could not be fitted to {len(x)} points")
    return best, best_cost


# --- the power law and the isotonic interpolation -------------------------------------

def fit_power_law(n: np.ndarray, err: np.ndarray) -> tuple[float, float, float]:
    """Least-squares fit of err(n) = a * (n / N)^-b + c (N = 60000, a scaling constant) with
    a >= 0, c >= 0, b in (0, 3].

    n: (k,) sample sizes, k >= 3; err: (k,) error rates (1 - metric).
    For each exponent b the best (a, c) is a non-negative linear least-squares problem,
    so the fit is a 1-d search over b: a grid, then a bounded refinement around the best.
    """
    x = np.asarray(n, dtype=float) / POWER_LAW_SCALE
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
    """The n where 1 - err(n) = threshold for err(n) = a * (n / N)^-b + c (N as in `fit_power_law`).

    Returns inf when the curve's floor c is at or above the target error (never crosses) or
    the crossing overflows a float, 0 when the curve is flat (a = 0) and already below it.
    """
    target = 1 - threshold
    if c >= target:
        return np.inf
    if a == 0:
        return 0.0
    with np.errstate(over="ignore"):  # a tiny exponent b can put the crossing beyond 1e308
        return float(POWER_LAW_SCALE * np.power(a / (target - c), 1 / b))


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


# --- one fitted curve ------------------------------------------------------------------

@dataclass(frozen=True)
class FittedCurve:
    """A learning curve fitted to (n, values): n (k,) ascending sizes, values (k,) metric
    means; family the one used ("pow3+pow2" for auto's mix); params its parameters in
    x = n / scale (power_law: (a, b, c) of the error law; empty for loglinear, last1 and a
    mix); parts and weights: a mix's fitted families and their weights (summing to 1; empty
    for one family); errors: the inner backtest `auto` ran ({} when none was run; see
    `mix_errors`)."""

    family: str
    n: np.ndarray
    values: np.ndarray
    params: tuple[float, ...] = ()
    scale: float = 1.0
    errors: dict[str, float] = field(default_factory=dict)
    parts: tuple[FittedCurve, ...] = ()
    weights: tuple[float, ...] = ()

    def predict(self, n: np.ndarray) -> np.ndarray:
        """The curve at sizes n (any shape)."""
        n = np.asarray(n, dtype=float)
        if self.parts:
            return sum((w * part.predict(n) for w, part in zip(self.weights, self.parts, strict=True)),
                       np.zeros(n.shape))
        if self.family in PARAMETRIC:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return PARAMETRIC[self.family].value(n / self.scale, np.array(self.params))
        if self.family == "power_law":
            a, b, c = self.params
            return 1 - (a * np.power(n / POWER_LAW_SCALE, -b) + c)
        fitted = isotonic_increasing(self.values)
        inside = np.interp(np.log(n), np.log(self.n), fitted)
        return np.where(n > self.n[-1], self.values[-1], inside) if self.family == "last1" else inside

    @property
    def asymptote(self) -> float:
        """The value the curve tends to as n grows (loglinear and last1: their last value)."""
        if self.parts:
            return float(sum(w * part.asymptote for w, part in zip(self.weights, self.parts, strict=True)))
        if self.family in PARAMETRIC:
            return PARAMETRIC[self.family].asymptote(np.array(self.params))
        if self.family == "power_law":
            return 1 - self.params[2]
        return float(self.values[-1] if self.family == "last1" else isotonic_increasing(self.values)[-1])

    @property
    def extrapolates(self) -> bool:
        """Whether the curve goes on rising past the swept sizes (a parametric family, the
        power law or a mix of them), so that its asymptote says where it stops."""
        return bool(self.parts) or self.family in PARAMETRIC or self.family == "power_law"

    def crossing(self, threshold: float) -> float:
        """The n where the curve first exceeds `threshold`: inf when it never does (or beyond
        any float), NaN for a curve without points."""
        if self.n.size == 0:
            return np.nan
        if self.parts:
            return _mix_crossing(self, threshold)
        if self.family in PARAMETRIC:
            return PARAMETRIC[self.family].inverse(threshold, np.array(self.params)) * self.scale
        if self.family == "power_law":
            return power_law_crossing(*self.params, threshold=threshold)
        return loglinear_crossing(self.n, self.values, threshold=threshold)


def _mix_crossing(curve: FittedCurve, threshold: float) -> float:
    """The crossing of a mix of rising parts, found in log n between its parts' crossings
    (the mix is below `threshold` where the first part crosses, above it where the last
    does); inf when its asymptote is not above `threshold` or it crosses beyond any float,
    0 when it starts above it."""
    if curve.asymptote <= threshold:
        return np.inf
    ends = [part.crossing(threshold) for part in curve.parts]

    def excess(log_n: float) -> float:
        return float(curve.predict(np.exp(log_n))) - threshold

    low = np.log(min(ends)) if min(ends) > 0 else np.log(curve.n[0]) - 50.0
    if excess(low) >= 0:
        return 0.0
    high = np.log(max(ends)) if np.isfinite(max(ends)) else low
    while excess(high) < 0:  # a part that never crosses: step out until the mix does
        high += 10.0
        if high > np.log(np.finfo(float).max):
            return np.inf
    return float(np.exp(optimize.brentq(excess, low, high, xtol=1e-12)))


def _clean(n: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite points, sorted by n."""
    n, values = np.asarray(n, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(values) & np.isfinite(n) & (n > 0)
    order = np.argsort(n[keep])
    return n[keep][order], values[keep][order]


def min_points(family: str) -> int:
    """The fewest distinct sizes a family is fitted on (a parametric one: its parameters, at least 3)."""
    if family in PARAMETRIC:
        return max(PARAMETRIC[family].n_params, MIN_POINTS)
    return MIN_POINTS if family == "power_law" else 1


def fit_one(family: str, n: np.ndarray, values: np.ndarray, *,
            start: Sequence[float] | None = None) -> FittedCurve:
    """`family` fitted to (n, values) (NaN values ignored); loglinear where there are fewer
    sizes than the family needs. start: one initial parameter vector (a warm start, e.g. the
    estimate's parameters for a bootstrap draw) instead of the family's several starts."""
    n, values = _clean(n, values)
    if n.size < min_points(family):
        return FittedCurve("loglinear", n, values)
    if family in PARAMETRIC:
        scale = float(n[-1])
        params, _ = fit_family(family, n / scale, values, starts=None if start is None else [start])
        return FittedCurve(family, n, values, tuple(float(p) for p in params), scale)
    if family == "power_law":
        return FittedCurve(family, n, values, fit_power_law(n, 1 - values))
    return FittedCurve(family, n, values)


def refit(estimate: FittedCurve, n: np.ndarray, values: np.ndarray) -> FittedCurve:
    """The estimate's family (a mix: each part, the weights kept) fitted to other values at
    the same sizes (a bootstrap draw), warm-started from the estimate's parameters."""
    if estimate.parts:
        parts = tuple(refit(part, n, values) for part in estimate.parts)
        if any(p.family != e.family for p, e in zip(parts, estimate.parts, strict=True)):
            return parts[0]
        return replace(estimate, n=parts[0].n, values=parts[0].values, parts=parts, errors={})
    start = estimate.params if estimate.family in PARAMETRIC else None
    return fit_one(estimate.family, n, values, start=start)
