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

from datavsmath.analysis.estimate_limits import EXTRAPOLATION_LIMIT
from datavsmath.analysis.families import MIN_POINTS as MIN_POINTS
from datavsmath.analysis.families import PARAMETRIC as PARAMETRIC
from datavsmath.analysis.families import Family as Family
from datavsmath.analysis.families import FittedCurve as FittedCurve
from datavsmath.analysis.families import _clean
from datavsmath.analysis.families import fit_family as fit_family
from datavsmath.analysis.families import fit_one as fit_one
from datavsmath.analysis.families import fit_power_law as fit_power_law
from datavsmath.analysis.families import isotonic_increasing as isotonic_increasing
from datavsmath.analysis.families import loglinear_crossing as loglinear_crossing
from datavsmath.analysis.families import min_points as min_points
from datavsmath.analysis.families import power_law_crossing as power_law_crossing
from datavsmath.analysis.families import refit as refit
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


def check_curve(curve: str) -> str:
    """`curve` when it is one of CURVES, else ValueError naming the allowed ones."""
    if curve not in CURVES:
        raise ValueError(f"curve must be one of {list(CURVES)}, got {curve!r}")
    return curve


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


def describe_crossing(crossing: float, *, largest: float, smallest: float,
                      limit: float = EXTRAPOLATION_LIMIT) -> str:
    """How a crossing was found: "interpolated" (inside the swept sizes), "extrapolated ×k"
    (k = crossing / largest swept), "beyond 4× the data swept" (past `limit`, default
    datavsmath.analysis.estimate_limits.EXTRAPOLATION_LIMIT), "below the
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


# --- the one crossing estimate -----------------------------------------------------------

N_BOOT = 200
CI_LEVEL = 0.95
# A wild bootstrap needs this many points beyond the family's parameters: from fewer it
# resamples near-zero residuals by chance and gives too narrow an interval (±1 % around a
# crossing 4 % off from 4 pow3 points). With fewer, no interval.
MIN_RESIDUAL_DOF = 5
# The learned extrapolation (datavsmath.analysis.extrapolation) needs this many sizes.
MIN_LEARNED_SIZES = 3
LEARNED = "learned"


@dataclass(frozen=True)
class Crossing:
    """Where a learning curve crosses a threshold, and how sure that is.

    estimate: the size n (inf only for a confident "never": a fitted family whose asymptote
    stays below the threshold); low, high: the 95 % interval (NaN where none can be given);
    p_reachable: the probability that the curve crosses within `limit` x the largest size
    (NaN where none can be given); family: the curve used ("learned" for auto's extrapolation,
    a family of FAMILIES, or "pow3+pow2"); how: "interpolated", "extrapolated ×k", "beyond 4×
    the data swept", "never (asymptote a)" or "below the smallest size swept"; interval: what
    the interval is made of (or why there is none); draws: (n_boot,) crossings drawn from the
    estimate's uncertainty (empty where no interval), for costs that combine several curves;
    largest, smallest: the sizes with a value; n_seeds: the most seeds at a size; fitted: the
    family fitted to the seed means (behind a learned estimate: the pow3 fit, for plots and
    the searcher's design).
    """

    estimate: float
    low: float
    high: float
    p_reachable: float
    family: str
    how: str
    interval: str
    draws: np.ndarray = field(repr=False, compare=False)
    largest: float
    smallest: float
    n_seeds: int
    n_points: int
    fitted: FittedCurve | None = field(default=None, repr=False, compare=False)

    @property
    def has_interval(self) -> bool:
        return bool(np.isfinite(self.low) or np.isfinite(self.high))

    @property
    def beyond(self) -> bool:
        """Whether the crossing is confidently past the limit: the estimate is, and so is the
        whole interval where there is one (what the report calls "beyond the data")."""
        return bool(np.isfinite(self.estimate) and self.estimate > self.bound
                    and not (np.isfinite(self.low) and self.low <= self.bound))

    @property
    def within_limit(self) -> bool:
        """Whether the estimate is a number the report gives (finite, at most limit x largest)."""
        return bool(np.isfinite(self.estimate) and self.estimate <= self.bound)

    @property
    def bound(self) -> float:
        """The largest size the report gives a number for: EXTRAPOLATION_LIMIT x the largest."""
        return EXTRAPOLATION_LIMIT * self.largest

    def quantile(self, level: float) -> float:
        """The crossing's quantile at `level` in [0, 1], from its draws (NaN without an interval)."""
        return float(np.quantile(self.draws, level, method="nearest")) if self.draws.size else np.nan


def _grid(n: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, grid) with sizes ascending, the sizes without any value dropped; grid (n_seeds, k)."""
    n = np.asarray(n, dtype=float).reshape(-1)
    grid = np.asarray(grid, dtype=float)
    grid = grid.reshape(1, -1) if grid.ndim == 1 else grid
    if grid.shape[1] != n.size:
        raise ValueError(f"grid must have one column per size: {grid.shape[1]} columns for {n.size} sizes")
    keep = np.isfinite(n) & (n > 0) & np.isfinite(grid).any(axis=0)
    order = np.argsort(n[keep], kind="stable")
    return n[keep][order], grid[:, keep][:, order]


def _means(grid: np.ndarray) -> np.ndarray:
    present = np.isfinite(grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present, grid, 0.0).sum(axis=0) / present.sum(axis=0)


def _n_params(family: str) -> int:
    if family in PARAMETRIC:
        return PARAMETRIC[family].n_params
    return 3 if family == "power_law" else 0


def _wild_fits(fitted: FittedCurve, n: np.ndarray, grid: np.ndarray, *, n_boot: int,
               random_state: int) -> list[FittedCurve]:
    """The fitted family refitted to `n_boot` wild-bootstrap draws of the grid: each present
    cell is the fit plus its own residual (inflated by sqrt(k / (k - p)) for the fit's p
    parameters on k points) with a random sign, and the draw's curve is fitted to its seed
    means. Each cell keeps its own scatter: a learning curve scatters more at small n."""
    present = np.isfinite(grid)
    k = int(present.sum())
    curve = np.broadcast_to(fitted.predict(n), grid.shape)
    residual = np.where(present, grid - curve, 0.0) * np.sqrt(k / max(k - _n_params(fitted.family), 1))
    signs = np.random.default_rng(random_state).choice([-1.0, 1.0], size=(n_boot, *grid.shape))
    draws = np.where(present, curve + residual * signs, np.nan)
    return [refit(fitted, n, _means(d)) for d in draws]


def _interval(draws: np.ndarray) -> tuple[float, float]:
    """The percentile interval at CI_LEVEL; "nearest" ranks keep inf (never crosses) exact."""
    tail = (1 - CI_LEVEL) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], method="nearest")
    return float(low), float(high)


def _how(estimate: float, fitted: FittedCurve | None, *, largest: float, smallest: float, low: float = np.nan,
         p_reachable: float = np.nan) -> str:
    """describe_crossing, with what the interval adds: "never (asymptote a)" for a fitted
    family that stays below the target; past the limit, "beyond" only when the whole interval
    is (else "probably beyond ..., P(within 4×) p": the truth may well lie within)."""
    text = describe_crossing(estimate, largest=largest, smallest=smallest)
    if np.isinf(estimate) and fitted is not None and fitted.extrapolates:
        return f"never (asymptote {fitted.asymptote:.4f})"
    past = np.isfinite(estimate) and estimate > EXTRAPOLATION_LIMIT * largest
    if past and np.isfinite(low) and low <= EXTRAPOLATION_LIMIT * largest:
        return f"probably {text}, P(within {EXTRAPOLATION_LIMIT:g}×) {p_reachable:.2f}"
    return text


LEARNED_INTERVAL = ("the error of extrapolating LCDB's real learning curves with the same gap to the target, "
                    "slopes and noise (quantile model, benchmarks/bench_lcdb.py)")


def _learned(n: np.ndarray, grid: np.ndarray, thresholds: np.ndarray, *, n_boot: int,
             random_state: int) -> list[Crossing]:
    """auto past the data: the calibrated quantiles of datavsmath.analysis.extrapolation's
    model, never below the largest size (the data did not reach the target); `fitted` is
    the pow3 fit of the seed means (for plots and the searcher's design)."""
    from datavsmath.analysis import extrapolation

    fitted = fit_one(BASE, n, _means(grid))
    quantiles, reach = extrapolation.predict(extrapolation.load(), extrapolation.features(n, grid, thresholds))
    largest, smallest = float(n[-1]), float(n[0])
    u = np.random.default_rng(random_state).uniform(size=n_boot)
    out = []
    for q, p in zip(np.maximum(quantiles, 0.0), reach):
        estimate = largest * 2 ** float(q[extrapolation.QUANTILES.index(0.5)])
        draws = largest * np.exp2(np.maximum(extrapolation.quantile_at(q, u), 0.0))
        low = largest * 2 ** float(q[0])
        out.append(Crossing(estimate, low, largest * 2 ** float(q[-1]), float(p), LEARNED,
                            _how(estimate, None, largest=largest, smallest=smallest, low=low, p_reachable=float(p)),
                            LEARNED_INTERVAL,
                            draws, largest, smallest, int(np.isfinite(grid).sum(axis=0).max()),
                            int(np.isfinite(grid).sum()), fitted))
    return out


def _fitted(n: np.ndarray, grid: np.ndarray, thresholds: np.ndarray, *, curve: str, n_boot: int,
            random_state: int) -> list[Crossing]:
    """The crossings of the fitted `curve` (auto: its chosen family), with the wild bootstrap's
    interval where there are enough points."""
    fitted = fit_curve(n, _means(grid), curve=curve)
    largest, smallest = float(n[-1]), float(n[0])
    n_points, n_seeds = int(np.isfinite(grid).sum()), int(np.isfinite(grid).sum(axis=0).max())
    needed = _n_params(fitted.family) + MIN_RESIDUAL_DOF
    # loglinear and last1 (the isotonic fit, no parameters) are bootstrapped too: the crossing
    # of the monotone curve through the redrawn means.
    fits = [] if n_points < needed else _wild_fits(fitted, n, grid, n_boot=n_boot, random_state=random_state)
    why = (f"no interval: {n_points} points, a {fitted.family} interval needs {needed}" if n_points < needed
           else f"the scatter of {n_points} points about the fitted {fitted.family} curve (wild bootstrap, "
                f"{n_boot} draws): seed noise, not the error of the family itself")
    out = []
    for threshold in thresholds:
        estimate = float(fitted.crossing(threshold))
        draws = np.array([f.crossing(threshold) for f in fits])
        low, high = _interval(draws) if fits else (np.nan, np.nan)
        p = float(np.mean(draws <= EXTRAPOLATION_LIMIT * largest)) if fits else np.nan
        how = _how(estimate, fitted, largest=largest, smallest=smallest, low=low, p_reachable=p)
        out.append(Crossing(estimate, low, high, p, fitted.family, how, why, draws, largest, smallest, n_seeds,
                            n_points, fitted))
    return out


def estimate_crossings(n: np.ndarray, grid: np.ndarray, *, thresholds: Sequence[float],
                       curve: str = DEFAULT_CURVE, n_boot: int = N_BOOT, random_state: int = 0) -> list[Crossing]:
    """`estimate_crossing` for several thresholds of one curve at once (one fit, one bootstrap):
    a list of Crossing, one per threshold, in order."""
    check_curve(curve)
    values = np.atleast_1d(np.asarray(thresholds, dtype=float))
    outside = ~((values > 0) & (values < 1))
    if outside.any():
        raise ValueError(f"threshold must be in (0, 1), got {values[outside][0]}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    n, grid = _grid(n, grid)
    if n.size == 0:
        return [Crossing(np.nan, np.nan, np.nan, np.nan, curve, "", "no points", np.zeros(0), np.nan, np.nan, 0, 0)
                for _ in values]
    means = _means(grid)
    inside = np.array([np.isfinite(loglinear_crossing(n, means, threshold=t)) for t in values], dtype=bool)
    learned = (curve == "auto") & ~inside & (n.size >= MIN_LEARNED_SIZES)
    out: list[Crossing | None] = [None] * values.size
    for mask, estimate in ((learned, _learned), (~learned, _fitted)):
        if mask.any():
            kwargs = {} if estimate is _learned else {"curve": curve}
            found = estimate(n, grid, values[mask], n_boot=n_boot, random_state=random_state, **kwargs)
            for i, crossing in zip(np.flatnonzero(mask), found):
                out[i] = crossing
    return [c for c in out if c is not None]


def estimate_crossing(n: np.ndarray, grid: np.ndarray, *, threshold: float, curve: str = DEFAULT_CURVE,
                      n_boot: int = N_BOOT, random_state: int = 0) -> Crossing:
    """Where the learning curve through a grid of measurements crosses `threshold`.

    The one estimate behind every crossing the analysis gives: the tables, the routes and
    the answer, the contours and the adaptive searcher.

    Parameters
    ----------
    n : array of shape (k,)
        Training sizes (num_obs), any order; sizes without a value are dropped.
    grid : array of shape (n_seeds, k) or (k,)
        The metric per seed (rows) and size (columns), in [0, 1]; NaN where a trial is absent.
    threshold : float
        The value to cross, in (0, 1).
    curve : str, default "auto"
        A family of FAMILIES or "auto". With "auto", a target that the monotone fit of the
        seed means reaches inside the swept sizes is read off auto's fitted family
        (`fit_curve`); a target past them is extrapolated by the model learned on LCDB's
        real curves (datavsmath.analysis.extrapolation), whose interval holds the error of
        extrapolating real curves (from MIN_LEARNED_SIZES sizes). With a family: that
        family, inside and past the data.
    n_boot : int, default 200
        Draws behind the interval: wild-bootstrap refits of a fitted family, or draws from
        the learned quantiles.
    random_state : int, default 0

    Returns
    -------
    Crossing
        estimate, low, high, p_reachable, family, how and what the interval is made of.
        A fitted family's interval is its wild bootstrap over the grid's cells (the seeds'
        and sizes' scatter about the curve), given from MIN_RESIDUAL_DOF more points than
        the family has parameters, whatever the number of seeds; with fewer, none (NaN).
    """
    return estimate_crossings(n, grid, thresholds=[threshold], curve=curve, n_boot=n_boot,
                              random_state=random_state)[0]
