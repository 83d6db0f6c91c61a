"""Learning curves fitted with the families of datavsmath.analysis.families (monotone, at most
1), and `auto`: the choice among them by how well each extrapolates.

A learning curve is a metric (acc or auc, in [0, 1]) against the number of training
observations n. Every parametric family is written in x = n / scale, scale the largest n
it was fitted on, and increases in x towards its asymptote (at most 1):

- pow3 ``a - b·x^-c``; pow4 ``a - b·(x + d)^-c``; mmf4 ``(a·b + c·x^d) / (b + x^d)`` (from a
  at x = 0 up to c); wbl4 ``c - b·exp(-a·x^d)``; exp3 ``c - b·exp(-a·x)``; pow2 ``1 - b·x^-c``
  (no floor below 1: the optimistic family `auto` mixes in, not offered on its own);
- power_law: the error power law err(n) = a·(n / N)^-b + c fitted by a 1-d search over b
  (N a fixed reference size), the report's curve before the portfolio existed;
- loglinear: the isotonic (non-decreasing) fit, linear in log n between the swept sizes and
  flat beyond them, so it never crosses a target the data did not reach;
- last1: loglinear inside the swept sizes, the last measured value beyond them.

Parametric fits are bounded least squares (scipy.optimize.least_squares) from several
starts, keeping the best. `auto` first chooses the family whose fit on the smaller sizes
best predicts the held-out upper half (`select_family`, with a parsimony margin); where that
is pow3 (and wherever too few sizes lie in the upper half to compare), it mixes in pow2 where
a backtest inside the curve's own sizes says the mix extrapolates better (`mix_weight`):
fitted on the sizes up to a quarter of the largest, the mix's weight is scored on the larger
ones, as a report reads a curve up to 4x past its largest size
(benchmarks/bench_backtest.py measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import optimize

from datavsmath.analysis.families import PARAMETRIC as PARAMETRIC
from datavsmath.analysis.families import POWER_LAW_SCALE
from datavsmath.analysis.families import Family as Family
from datavsmath.analysis.families import fit_family as fit_family
from datavsmath.analysis.families import fit_power_law as fit_power_law
from datavsmath.analysis.families import isotonic_increasing as isotonic_increasing
from datavsmath.analysis.families import loglinear_crossing as loglinear_crossing
from datavsmath.analysis.families import power_law_crossing as power_law_crossing
from datavsmath.analysis.support import EXTRAPOLATION_LIMIT
from datavsmath.sweeps.report_keys import CURVE_FAMILIES
from datavsmath.sweeps.report_keys import CURVES as CURVES

FAMILIES = CURVE_FAMILIES
DEFAULT_CURVE = "auto"
# auto's curve: pow3, mixed with the optimistic OTHER (pow3's weight in MIX_WEIGHTS).
BASE, OTHER = "pow3", "pow2"
MIX_WEIGHTS = np.linspace(0.0, 1.0, 11)
# auto's inner backtest fits on the sizes up to largest / MIMIC_RATIO, like a report reading
# a curve up to EXTRAPOLATION_LIMIT x its largest size, and needs at least MIN_INNER sizes to
# fit on (pow3's 3 parameters and one more) and MIN_OUTER to score; with fewer, pow3 alone.
MIMIC_RATIO = EXTRAPOLATION_LIMIT
MIN_INNER, MIN_OUTER = 4, 2
# The inner backtest extrapolates from fewer sizes than the final fit: its weight is taken
# this share of the way from pow3 alone (0: pow3, 1: the backtest's weight).
MIX_TRUST = 0.5
# The families `auto` first chooses among, fewest parameters first (ties go to the first).
AUTO_FAMILIES = ("last1", "pow3", "exp3", "power_law", "pow4", "mmf4", "wbl4")
# Held out for that choice: the sizes above largest / HOLDOUT_RATIO (at least the largest one).
HOLDOUT_RATIO = 2.0
# One held-out size cannot tell families apart (its noise decides); with fewer, auto takes pow3.
MIN_HELD_OUT = 2
# Parametric fits need at least this many distinct sizes; fewer fall back to loglinear.
MIN_POINTS = 3


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


def check_curve(curve: str) -> str:
    """`curve` when it is one of CURVES, else ValueError naming the allowed ones."""
    if curve not in CURVES:
        raise ValueError(f"curve must be one of {list(CURVES)}, got {curve!r}")
    return curve


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


def _noise(n: np.ndarray, values: np.ndarray, *, family: str = BASE) -> float:
    """The scatter of the points about a smooth curve: the RMS residual of `family` (default
    pow3) fitted to every point."""
    fitted = fit_one(family, n, values)
    return float(np.sqrt(np.mean((fitted.predict(fitted.n) - fitted.values) ** 2)))


def holdout_errors(n: np.ndarray, values: np.ndarray, *,
                   families: Sequence[str] = AUTO_FAMILIES) -> dict[str, float]:
    """Each family's mean absolute error on the held-out larger sizes (those above the largest
    / HOLDOUT_RATIO, at least the largest) when fitted on the rest. Families with no more fit
    points than they need are left out; {} when fewer than MIN_POINTS sizes are left to fit
    or fewer than MIN_HELD_OUT are held out."""
    n, values = _clean(n, values)
    held = np.maximum(n > n[-1] / HOLDOUT_RATIO, np.arange(n.size) == n.size - 1) if n.size else n.astype(bool)
    if (~held).sum() < MIN_POINTS or held.sum() < MIN_HELD_OUT:
        return {}
    errors = {}
    for family in families:
        if (~held).sum() < min_points(family) + 1:  # one point more than parameters: a fit, not an interpolation
            continue
        fitted = fit_one(family, n[~held], values[~held])
        errors[family] = float(np.mean(np.abs(fitted.predict(n[held]) - values[held])))
    return errors


def select_family(n: np.ndarray, values: np.ndarray, *, errors: dict[str, float] | None = None) -> str:
    """auto's first step: the family of AUTO_FAMILIES with the fewest parameters whose held-out
    error (`holdout_errors`) is within the points' scatter of the best one's (a richer family
    must predict better by more than the points scatter); pow3 when none was compared."""
    errors = holdout_errors(n, values) if errors is None else errors
    if not errors:
        return BASE
    best = min(errors, key=lambda f: errors[f])
    # The floor: on noiseless points the scatter and the errors are all rounding (1e-16), and
    # which family rounds lowest is chance.
    tolerance = max(_noise(n, values, family=best), 1e-9)
    close = [f for f in AUTO_FAMILIES if f in errors and errors[f] <= errors[best] + tolerance]
    return min(close, key=lambda f: (PARAMETRIC[f].n_params if f in PARAMETRIC else 0 if f == "last1" else 3,
                                     AUTO_FAMILIES.index(f)))


def mix_errors(n: np.ndarray, values: np.ndarray, *, other: str = OTHER) -> dict[float, float]:
    """The inner backtest: {pow3's weight w: mean absolute error on the sizes above the
    largest / MIMIC_RATIO of w·pow3 + (1 - w)·other, both fitted on the rest}, for w in
    MIX_WEIGHTS; {} with fewer than MIN_INNER sizes to fit on or MIN_OUTER to score.

    n: (k,) sizes; values: (k,) metric values (NaN ignored); other: a family of FAMILIES or
    PARAMETRIC (default OTHER, pow2).
    """
    n, values = _clean(n, values)
    inner = n <= n[-1] / MIMIC_RATIO if n.size else n.astype(bool)
    if inner.sum() < max(MIN_INNER, min_points(other) + 1) or (~inner).sum() < MIN_OUTER:
        return {}
    base, rest = (fit_one(f, n[inner], values[inner]).predict(n[~inner]) for f in (BASE, other))
    return {float(w): float(np.mean(np.abs(w * base + (1 - w) * rest - values[~inner]))) for w in MIX_WEIGHTS}


def mix_weight(n: np.ndarray, values: np.ndarray, *, other: str = OTHER, margin: bool = True,
               trust: float = MIX_TRUST, errors: dict[float, float] | None = None) -> float:
    """pow3's weight in auto's mix with `other` (1: pow3 alone), from the inner backtest
    (`mix_errors`): the weight with the least error (the larger among equals), taken `trust`
    of the way from 1 (default MIX_TRUST, 0.5). margin (default True): 1 unless that error is
    below pow3's own by more than the points' scatter (pow3's RMS residual on every point),
    as a richer curve must predict better than the points scatter to be chosen.

    n: (k,) sizes; values: (k,) metric values; errors: `mix_errors` when already run.
    Returns 1.0 with too few sizes to backtest.
    """
    errors = mix_errors(n, values, other=other) if errors is None else errors
    if not errors:
        return 1.0
    best = min(errors, key=lambda w: (errors[w], -w))
    if margin and errors[best] > errors[1.0] - _noise(n, values):
        return 1.0
    return round(1 - trust * (1 - best), 12)


def mix(weight: float, n: np.ndarray, values: np.ndarray, *, other: str = OTHER) -> FittedCurve:
    """weight·pow3 + (1 - weight)·other, each fitted to every point of (n, values); pow3
    alone (or loglinear with too few sizes) when the weight is 1 or either cannot be fitted."""
    base = fit_one(BASE, n, values)
    if weight >= 1.0 or base.family != BASE:
        return base
    rest = fit_one(other, n, values)
    if rest.family != other:
        return base
    return FittedCurve(f"{BASE}+{other}", base.n, base.values, scale=base.scale, parts=(base, rest),
                       weights=(float(weight), round(1 - float(weight), 12)))


def fit_curve(n: np.ndarray, values: np.ndarray, *, curve: str = DEFAULT_CURVE) -> FittedCurve:
    """The learning curve through (n, values) (NaN values ignored).

    n: (k,) sizes (num_obs); values: (k,) metric means in [0, 1]. curve: a family of
    FAMILIES, or "auto" (default), in two steps:

    1. the family of AUTO_FAMILIES chosen by its error on the held-out upper half of the sizes
       (`select_family`; pow3 with fewer than MIN_HELD_OUT sizes there);
    2. where that is pow3: pow3, or w·pow3 + (1 - w)·pow2 with w from the inner backtest that
       mimics a 4x extrapolation (`mix_weight`; family "pow3+pow2"); pow3 alone with too few
       sizes for it (fewer than MIN_INNER up to a quarter of the largest or MIN_OUTER above).

    Loglinear with too few sizes for the family. An auto curve's `errors` records both
    comparisons: each family's held-out error (step 1), and the inner backtest's error of pow3
    alone ("4x pow3"), pow2 alone ("4x pow2") and the best mix ("4x pow3+pow2").
    """
    check_curve(curve)
    if curve != "auto":
        return fit_one(curve, n, values)
    chosen = holdout_errors(n, values)
    family = select_family(n, values, errors=chosen)
    if family != BASE:
        return replace(fit_one(family, n, values), errors=chosen)
    errors = mix_errors(n, values)
    fitted = mix(mix_weight(n, values, errors=errors), n, values)
    backtest = ({f"4x {BASE}": errors[1.0], f"4x {OTHER}": errors[0.0], f"4x {BASE}+{OTHER}": min(errors.values())}
                if errors else {})
    return replace(fitted, errors={**chosen, **backtest})


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


def describe_crossing(crossing: float, *, largest: float, smallest: float,
                      limit: float = EXTRAPOLATION_LIMIT) -> str:
    """How a crossing was found: "interpolated" (inside the swept sizes), "extrapolated ×k"
    (k = crossing / largest swept), "beyond 4× the data swept" (past `limit`, default
    datavsmath.analysis.support.EXTRAPOLATION_LIMIT), "below the
    smallest size swept", or "never within the swept data" (inf); "" for NaN."""
    if np.isnan(crossing):
        return ""
    if np.isinf(crossing):
        return "never within the swept data"
    if crossing > largest * limit:
        return f"beyond {limit:g}× the data swept"
    if crossing > largest:
        return f"extrapolated ×{crossing / largest:.1f}"
    return "interpolated" if crossing >= smallest else "below the smallest size swept"
