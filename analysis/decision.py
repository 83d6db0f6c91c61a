"""The buy-or-clean decision the talk points at: iso-accuracy contours on the
(num_obs, quality) plane, clean-equivalent observations, the cheapest route to a target
accuracy, and what label repair buys back. Pure functions on the tidy frame (datavsmath.analysis.schema).

Learning curves are those of datavsmath.analysis.tables: per quality level (quality = 1 - damage_frac)
of one model and damage mode, the mean metric over seeds against num_obs (sample_frac * the
training-set size), fitted with `tables.crossing`'s methods ("power_law" err(n) = a n^-b + c,
or "loglinear", an isotonic fit linear in log n). Intervals are 95 % percentile bootstraps
over seeds: seeds are resampled with replacement, by seed id, jointly for every level (and
every repair), so a resample keeps the pairing of the trials that share a seed. With the
same seeds at every level the draws are those of `tables.interpolated_table`, whose
num_obs CI equals the iso-accuracy contour's at the same target.

The cost model of `decision_table` (all costs in units of money, prices per label):

- A data set holds n0 labels at quality q0 (the share of correct labels).
- Collecting a new label costs price_label; new labels arrive at the current quality q0.
- Auditing a label costs price_audit: an auditor checks it and corrects it when wrong.
  Labels are audited at random, so auditing a of n labels at quality q removes the share
  a / n of its n (1 - q) errors, giving q' = 1 - (1 - q)(1 - a / n); reaching q' takes
  a = n (q' - q) / (1 - q) audits (`audit_fraction`), and q' = 1 means auditing all n.
- A plan reaches quality q' (a swept level, q' >= q0) with n_final = max(n_needed(q'), n0)
  labels, n_needed(q') being where the level's fitted curve crosses the target: it buys
  n_final - n0 labels and audits n_final (q' - q0) / (1 - q0) of them (new labels are
  audited like old ones), at cost price_label * bought + price_audit * audited.
- Routes: "collect" (q' = q0: buy only), "clean" (q' > q0 and nothing bought: n0 audited
  labels already suffice), "both" (q' > q0 and labels bought), each at its cheapest q';
  with a `repair` column, "repair_<r>" for every automatic repair r (prune, relabel):
  buy labels at q0 until the measured curve of repaired trials at q0 crosses the target,
  plus price_second per second of repair compute (repair_seconds scaled linearly with
  n_final). An infinite cost means the route cannot reach the target on the swept grid.

Default prices: price_label 1.0 sets the unit (one new label at the current quality);
price_audit 0.2, because checking a shown label and its proposed class is a yes/no look,
about a fifth of the effort of choosing one of the K classes from scratch; price_second 0,
because cleanlab's CPU seconds cost next to nothing against human labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import (
    SWEPT_DAMAGED_MODES,
    _bounds,
    finished,
    models_in_order,
    quality_rows,
    seed_summary,
)
from datavsmath.analysis.schema import DATASET, frac_key, num_obs
from datavsmath.analysis.tables import (
    DEFAULT_DAMAGE_MODE,
    DEFAULT_MODEL,
    DEFAULT_N_BOOT,
    METHODS,
    _check,
    _interval,
    _level_rows,
    _seed_mean,
    fit_power_law,
    loglinear_crossing,
    power_law_crossing,
)
from datavsmath.trainables.checks import NON_NEGATIVE, POSITIVE, UNIT, check_choice, check_number

DEFAULT_PRICE_LABEL = 1.0
DEFAULT_PRICE_AUDIT = 0.2
DEFAULT_PRICE_SECOND = 0.0
DEFAULT_N_TARGETS = 5
REPAIR_COLUMN = "repair"
NO_REPAIR = "none"
REPAIR_ORDER = ("none", "prune", "relabel")
DETECTION_COLUMNS = {"precision": "detection_precision", "recall": "detection_recall"}
BASE_ROUTES = ("collect", "clean", "both")
# Fewer distinct sample sizes than this cannot pin down a power law (as in datavsmath.analysis.tables).
_POWER_LAW_MIN_POINTS = 3


# --- fitted curves ----------------------------------------------------------------------

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
    boot_means: np.ndarray  # (n_boot, k); (0, k) without replicates

    def crossings(self, threshold: float) -> np.ndarray:
        """(1 + n_boot,) crossings: the estimate's, then each draw's."""
        return np.array([self.estimate.crossing(threshold), *(c.crossing(threshold) for c in self.boots)])


def _draws(n_seeds: int, *, n_boot: int, random_state: int) -> np.ndarray:
    """(n_boot, n_seeds) resampled seed positions, drawn as `tables.bootstrap_crossings` does;
    (0, n_seeds) with fewer than two seeds."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    if n_seeds < 2:
        return np.zeros((0, n_seeds), dtype=int)
    return np.random.default_rng(random_state).integers(0, n_seeds, size=(n_boot, n_seeds))


def _level(rows: pd.DataFrame, *, metric: str, seeds: list[int], draws: np.ndarray, method: str,
           n_total: int | None) -> Level:
    """The Level of one quality's rows (quality_rows output, one quality); n_total the
    training-set size (schema.num_obs)."""
    pivot = rows.pivot_table(index="seed", columns="sample_frac", values=metric, aggfunc="mean")
    n = num_obs(pivot.columns.to_numpy(), n_total=n_total)
    grid = pivot.reindex(seeds).to_numpy(dtype=float)
    boot_means = np.array([_seed_mean(grid[d]) for d in draws]).reshape(len(draws), len(n))
    return Level(quality=float(rows["quality"].iloc[0]), damage_frac=float(rows["damage_frac"].iloc[0]), n=n,
                 grid=grid, n_seeds=len(pivot), estimate=fit_curve(n, _seed_mean(grid), method=method),
                 boots=tuple(fit_curve(n, m, method=method) for m in boot_means), boot_means=boot_means)


def _levels(rows: pd.DataFrame, *, metric: str, seeds: list[int], draws: np.ndarray, method: str,
            n_total: int | None) -> dict[float, Level]:
    """{quality: Level}, best quality first."""
    return {q: _level(level, metric=metric, seeds=seeds, draws=draws, method=method, n_total=n_total)
            for q, level in sorted(rows.groupby("quality"), key=lambda item: -item[0])}


def _seeds(rows: pd.DataFrame) -> list[int]:
    return sorted(int(s) for s in rows["seed"].dropna().unique())


def _ci(samples: np.ndarray) -> tuple[float, float]:
    """95 % interval of bootstrap samples, NaN ones dropped; (NaN, NaN) when none are left."""
    samples = samples[~np.isnan(samples)]
    return _interval(samples) if samples.size else (np.nan, np.nan)


# --- repair ------------------------------------------------------------------------------

def has_repair(df: pd.DataFrame) -> bool:
    """Whether the results sweep the `repair` axis: the column exists and a finished trial
    has a repair other than none."""
    return REPAIR_COLUMN in df.columns and bool((finished(df)[REPAIR_COLUMN].fillna(NO_REPAIR) != NO_REPAIR).any())


def repair_values(df: pd.DataFrame) -> list[str]:
    """The repairs among finished trials, none, prune, relabel first; ["none"] without the column."""
    if REPAIR_COLUMN not in df.columns:
        return [NO_REPAIR]
    present = set(finished(df)[REPAIR_COLUMN].fillna(NO_REPAIR))
    return [r for r in REPAIR_ORDER if r in present] + sorted(present - set(REPAIR_ORDER))


def of_repair(df: pd.DataFrame, repair: str) -> pd.DataFrame:
    """The rows of one repair; without a `repair` column every row is repair none."""
    if REPAIR_COLUMN not in df.columns:
        return df if repair == NO_REPAIR else df.iloc[0:0]
    return df[df[REPAIR_COLUMN].fillna(NO_REPAIR) == repair]


# --- iso-accuracy contours and clean-equivalent observations -----------------------------

def _spread(low: float, high: float, *, count: int = DEFAULT_N_TARGETS) -> list[float]:
    """`count` targets evenly inside (low, high), rounded to 4 decimals; [] when high <= low."""
    if not high > low:
        return []
    return sorted({round(float(t), 4) for t in np.linspace(low, high, count + 2)[1:-1]})


def _targets(targets: Sequence[float] | None, *, metric: str, low: float, high: float) -> list[float]:
    chosen = _spread(low, high) if targets is None else [float(t) for t in targets]
    return [_check(metric, t) for t in chosen]


def _setup(df: pd.DataFrame, *, metric: str, model: str, damage_mode: str, method: str, n_boot: int,
           random_state: int, n_total: int | None) -> tuple[dict[float, Level], list[int], np.ndarray]:
    """(levels of repair none, shared seed ids, draws) of one model and damage mode."""
    _check(metric, None)
    check_choice("method", method, METHODS)
    rows = _level_rows(of_repair(df, NO_REPAIR), model=model, damage_mode=damage_mode)
    every = quality_rows(df, model=model, damage_mode=damage_mode)
    seeds = _seeds(every)
    draws = _draws(len(seeds), n_boot=n_boot, random_state=random_state)
    return _levels(rows, metric=metric, seeds=seeds, draws=draws, method=method, n_total=n_total), seeds, draws


def _measured_range(levels: dict[float, Level]) -> tuple[float, float]:
    means = np.concatenate([_seed_mean(level.grid) for level in levels.values()])
    return float(np.nanmin(means)), float(np.nanmax(means))


def iso_accuracy(df: pd.DataFrame, *, targets: Sequence[float] | None = None, metric: str = "acc",
                 model: str = DEFAULT_MODEL, damage_mode: str = DEFAULT_DAMAGE_MODE, method: str = "power_law",
                 n_boot: int = DEFAULT_N_BOOT, random_state: int = 0, n_total: int | None = None) -> pd.DataFrame:
    """Iso-accuracy contours on the (num_obs, quality) plane: for each target, the n at
    which every quality level's fitted curve reaches it.

    targets: metric values in (0, 1) (default: 5 evenly inside the range of the measured
    seed means). Other arguments as in `tables.interpolated_table` (repair none only);
    n_total: the training-set size num_obs counts in (default the dataset's, schema.num_obs).
    Returns one row per (target, quality), targets ascending, best quality first: target,
    quality, damage_frac, num_obs (NaN where the level never reaches the target), ci_low,
    ci_high (95 % bootstrap over seeds; NaN with one seed; inf where resamples never
    reach), reached, extrapolated (outside the swept sizes), n_seeds, method.
    """
    levels, _, _ = _setup(df, metric=metric, model=model, damage_mode=damage_mode, method=method, n_boot=n_boot,
                          random_state=random_state, n_total=n_total)
    low, high = _measured_range(levels)
    records = []
    for target in _targets(targets, metric=metric, low=low, high=high):
        for level in levels.values():
            crossings = level.crossings(target)
            estimate = crossings[0]
            ci_low, ci_high = _ci(crossings[1:])
            records.append({
                "target": target, "quality": level.quality, "damage_frac": level.damage_frac,
                "num_obs": estimate if np.isfinite(estimate) else np.nan, "ci_low": ci_low, "ci_high": ci_high,
                "reached": bool(np.isfinite(estimate)),
                "extrapolated": bool(np.isfinite(estimate) and not level.n.min() < estimate <= level.n.max()),
                "n_seeds": level.n_seeds, "method": level.estimate.method})
    columns = ["target", "quality", "damage_frac", "num_obs", "ci_low", "ci_high", "reached", "extrapolated",
               "n_seeds", "method"]
    return pd.DataFrame(records, columns=columns)


def clean_equivalent(df: pd.DataFrame, *, metric: str = "acc", model: str = DEFAULT_MODEL,
                     damage_mode: str = DEFAULT_DAMAGE_MODE, method: str = "power_law",
                     n_boot: int = DEFAULT_N_BOOT, random_state: int = 0, n_total: int | None = None) -> pd.DataFrame:
    """How many clean observations a damaged set of n is worth: the clean (quality 1.0)
    curve inverted at the damaged set's measured mean metric.

    Arguments as in `iso_accuracy`. Needs quality 1.0 trials (damage_frac 0).
    Returns one row per damaged quality level (best first) and swept sample_frac:
    quality, damage_frac, sample_frac, num_obs (the damaged set's size), <metric> (its
    mean over seeds), clean_equivalent (clean observations reaching that metric; inf
    when the clean curve never does), ci_low, ci_high (95 % bootstrap over seeds, the
    damaged mean and the clean curve resampled together), clean_per_damaged
    (clean_equivalent / num_obs: what one damaged label is worth), extrapolated (the
    clean_equivalent lies outside the clean curve's swept sizes), n_seeds.
    """
    levels, _, _ = _setup(df, metric=metric, model=model, damage_mode=damage_mode, method=method, n_boot=n_boot,
                          random_state=random_state, n_total=n_total)
    if 1.0 not in levels:
        raise ValueError(f"clean_equivalent needs quality 1.0 (damage_frac 0) trials of model={model!r}; "
                         f"qualities present: {sorted(levels)}")
    clean = levels[1.0]
    records = [_equivalent_record(clean, level, j, metric=metric, n_total=n_total)
               for level in levels.values() if level.quality < 1.0 for j in range(len(level.n))]
    columns = ["quality", "damage_frac", "sample_frac", "num_obs", metric, "clean_equivalent", "ci_low", "ci_high",
               "clean_per_damaged", "extrapolated", "n_seeds"]
    return pd.DataFrame([r for r in records if r is not None], columns=columns)


def _equivalent_record(clean: Level, level: Level, j: int, *, metric: str, n_total: int | None) -> dict | None:
    """One row of `clean_equivalent`: column j of a damaged level; None where it has no value."""
    value = _seed_mean(level.grid)[j]
    if np.isnan(value):
        return None
    estimate = clean.estimate.crossing(value)
    boots = np.array([curve.crossing(m) if np.isfinite(m) else np.nan
                      for curve, m in zip(clean.boots, level.boot_means[:, j])])
    ci_low, ci_high = _ci(boots)
    n = float(level.n[j])
    size = DATASET.n_train if n_total is None else n_total
    return {"quality": level.quality, "damage_frac": level.damage_frac, "sample_frac": n / size,
            "num_obs": n, metric: float(value), "clean_equivalent": estimate, "ci_low": ci_low, "ci_high": ci_high,
            "clean_per_damaged": estimate / n,
            "extrapolated": bool(np.isfinite(estimate) and not clean.n.min() <= estimate <= clean.n.max()),
            "n_seeds": level.n_seeds}


# --- the buy-or-clean decision ----------------------------------------------------------

def audit_fraction(quality: float, target_quality: float) -> float:
    """The share of a set at `quality` to audit at random (and correct) for it to reach
    `target_quality`: (q' - q) / (1 - q); 0 when q' = q. Both in [0, 1], q' >= q."""
    quality = check_number("quality", quality, UNIT)
    target_quality = check_number("target_quality", target_quality, UNIT)
    if target_quality < quality:
        raise ValueError(f"target_quality must be at least quality {quality:g}, got {target_quality:g}")
    return 0.0 if target_quality == quality else (target_quality - quality) / (1 - quality)


@dataclass(frozen=True)
class Plan:
    """Per sample (estimate, then each bootstrap draw), arrays (S,): labels in the end,
    labels bought, labels audited, and the cost; inf cost where the target is out of reach."""

    quality_to: float
    n_final: np.ndarray
    bought: np.ndarray
    audited: np.ndarray
    cost: np.ndarray


def plan(n_needed: np.ndarray, *, current_n: float, fraction: float, price_label: float, price_audit: float,
         quality_to: float) -> Plan:
    """Buy labels until `n_needed` (S,) and audit `fraction` of the whole set (cost model above)."""
    n_needed = np.asarray(n_needed, dtype=float)
    n_final = np.maximum(n_needed, current_n)
    reach = np.isfinite(n_final)
    bought = np.where(reach, n_final - current_n, np.inf)
    audited = np.where(reach, n_final * fraction, np.inf) if fraction > 0 else np.zeros_like(n_final)
    spent = price_label * np.where(reach, bought, 0.0) + price_audit * np.where(reach, audited, 0.0)
    cost = np.where(np.isnan(n_needed), np.nan, np.where(reach, spent, np.inf))  # NaN: no curve to read
    return Plan(quality_to, n_final, bought, audited, cost)


def _cheapest(plans: list[Plan], *, allowed: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(cost (S,), chosen plan index (S,)) of the cheapest allowed plan per sample."""
    if not plans:
        return np.array([np.inf]), np.array([-1])
    costs = np.stack([np.where(ok & ~np.isnan(p.cost), p.cost, np.inf) for p, ok in zip(plans, allowed)])
    chosen = np.argmin(costs, axis=0)
    return costs.min(axis=0), chosen


def _route_record(route: str, plans: list[Plan], cost: np.ndarray, chosen: np.ndarray) -> dict:
    """The point estimate (sample 0) and interval (samples 1..) of one route."""
    picked = plans[int(chosen[0])] if np.isfinite(cost[0]) else None
    ci_low, ci_high = _ci(cost[1:]) if cost.size > 1 else (np.nan, np.nan)
    return {"route": route, "cost": float(cost[0]), "ci_low": ci_low, "ci_high": ci_high,
            "reached": bool(np.isfinite(cost[0])),
            "quality_to": np.nan if picked is None else picked.quality_to,
            "n_final": np.nan if picked is None else float(picked.n_final[0]),
            "n_bought": np.nan if picked is None else float(picked.bought[0]),
            "n_audited": np.nan if picked is None else float(picked.audited[0])}


def _base_routes(levels: dict[float, Level], target: float, *, q0: float, n0: float, price_label: float,
                 price_audit: float) -> dict[str, tuple[list[Plan], np.ndarray, np.ndarray]]:
    """collect, clean and both: {route: (plans, cost (S,), chosen (S,))}."""
    plans = [plan(level.crossings(target), current_n=n0, fraction=audit_fraction(q0, q), price_label=price_label,
                  price_audit=price_audit, quality_to=q)
             for q, level in levels.items() if q >= q0]
    at_q0 = [p.quality_to == q0 for p in plans]
    bought = [p.bought > 0 for p in plans]  # inf where out of reach
    masks = {"collect": [np.full(p.cost.shape, same) for p, same in zip(plans, at_q0)],
             "clean": [~b & (not same) for b, same in zip(bought, at_q0)],
             "both": [b & (not same) for b, same in zip(bought, at_q0)]}
    return {route: (plans, *_cheapest(plans, allowed=masks[route])) for route in BASE_ROUTES}


def _seconds_per_label(rows: pd.DataFrame) -> float:
    """Mean repair_seconds / n_train of rows; 0 when either is not recorded."""
    if "repair_seconds" not in rows.columns or rows.empty:
        return 0.0
    ratio = rows["repair_seconds"].astype(float) / rows["n_train"].astype(float)
    ratio = ratio[np.isfinite(ratio)]
    return float(ratio.mean()) if len(ratio) else 0.0


def _repair_levels(df: pd.DataFrame, *, q0: float, metric: str, model: str, damage_mode: str, method: str,
                   seeds: list[int], draws: np.ndarray, n_total: int | None) -> dict[str, tuple[Level, float]]:
    """{repair: (its level at q0, seconds per label)} for every repair other than none with trials at q0."""
    out = {}
    for repair in repair_values(df):
        if repair == NO_REPAIR:
            continue
        rows = quality_rows(of_repair(df, repair), model=model, damage_mode=damage_mode)
        rows = rows[rows["quality"] == q0]
        if not rows.empty:
            out[repair] = (_level(rows, metric=metric, seeds=seeds, draws=draws, method=method, n_total=n_total),
                           _seconds_per_label(rows))
    return out


def _repair_route(level: Level, seconds: float, target: float, *, q0: float, n0: float, price_label: float,
                  price_second: float) -> tuple[list[Plan], np.ndarray, np.ndarray]:
    """Buy at q0 until the repaired curve reaches the target; pay the repair's seconds."""
    bought = plan(level.crossings(target), current_n=n0, fraction=0.0, price_label=price_label, price_audit=0.0,
                  quality_to=q0)
    finite = np.isfinite(bought.n_final)  # an unreachable target (inf) adds no seconds: no 0 * inf warning
    cost = bought.cost + price_second * seconds * np.where(finite, bought.n_final, 0.0)
    repaired = Plan(np.nan, bought.n_final, bought.bought, bought.audited, cost)
    return [repaired], cost, np.zeros(cost.shape, dtype=int)


def _current(levels: dict[float, Level], *, current_quality: float | None,
             current_n: float | None) -> tuple[float, float]:
    """(q0, n0): defaults the lowest swept quality and its median swept size."""
    q0 = min(levels) if current_quality is None else frac_key(check_number("current_quality", current_quality, UNIT))
    if q0 not in levels:
        raise ValueError(f"current_quality must be one of the swept quality levels {sorted(levels)}, got {q0:g}")
    sizes = np.sort(levels[q0].n)
    n0 = float(sizes[len(sizes) // 2]) if current_n is None else check_number("current_n", current_n, POSITIVE)
    return q0, n0


def _value_at(level: Level, n0: float) -> float:
    """The level's measured seed mean at n0, interpolated in log n."""
    means = _seed_mean(level.grid)
    keep = np.isfinite(means)
    return float(np.interp(np.log(n0), np.log(level.n[keep]), means[keep]))


def decision_table(df: pd.DataFrame, *, targets: Sequence[float] | None = None,
                   price_label: float = DEFAULT_PRICE_LABEL, price_audit: float = DEFAULT_PRICE_AUDIT,
                   price_second: float = DEFAULT_PRICE_SECOND, current_quality: float | None = None,
                   current_n: float | None = None, metric: str = "acc", model: str = DEFAULT_MODEL,
                   damage_mode: str = DEFAULT_DAMAGE_MODE, method: str = "power_law", n_boot: int = DEFAULT_N_BOOT,
                   random_state: int = 0, n_total: int | None = None) -> pd.DataFrame:
    """What each route to a target costs (cost model in the module docstring).

    price_label > 0 (default 1.0), price_audit >= 0 (default 0.2), price_second >= 0
    (default 0): see the module docstring. current_quality: a swept quality level (default
    the lowest); current_n > 0 labels (default the median swept size at that level).
    targets: metric values in (0, 1) (default: 5 evenly between the measured mean at the
    current set and the best measured mean). Other arguments as in `iso_accuracy`.
    Returns one row per (target, route), targets ascending, routes collect, clean, both,
    then repair_<r> when the results have a `repair` column: target, route, cost (inf: the
    route cannot reach the target), ci_low, ci_high (95 % bootstrap over seeds; NaN with
    one seed), cheapest (the lowest cost for the target, ties all marked), p_cheapest
    (share of resamples where the route is cheapest; NaN with one seed), reached,
    quality_to (the audited quality chosen; NaN for repairs), n_final, n_bought, n_audited,
    current_quality, current_n.
    """
    price_label = check_number("price_label", price_label, POSITIVE)
    price_audit = check_number("price_audit", price_audit, NON_NEGATIVE)
    price_second = check_number("price_second", price_second, NON_NEGATIVE)
    levels, seeds, draws = _setup(df, metric=metric, model=model, damage_mode=damage_mode, method=method,
                                  n_boot=n_boot, random_state=random_state, n_total=n_total)
    q0, n0 = _current(levels, current_quality=current_quality, current_n=current_n)
    repairs = _repair_levels(df, q0=q0, metric=metric, model=model, damage_mode=damage_mode, method=method,
                             seeds=seeds, draws=draws, n_total=n_total)
    chosen = _targets(targets, metric=metric, low=_value_at(levels[q0], n0), high=_measured_range(levels)[1])
    frames = []
    for target in chosen:
        routes = _base_routes(levels, target, q0=q0, n0=n0, price_label=price_label, price_audit=price_audit)
        for repair, (level, seconds) in repairs.items():
            routes[f"repair_{repair}"] = _repair_route(level, seconds, target, q0=q0, n0=n0,
                                                       price_label=price_label, price_second=price_second)
        frames.append(_target_rows(routes, target=target))
    columns = ["target", "route", "cost", "ci_low", "ci_high", "cheapest", "p_cheapest", "reached", "quality_to",
               "n_final", "n_bought", "n_audited"]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return table[columns].assign(current_quality=q0, current_n=n0)


def _target_rows(routes: dict[str, tuple[list[Plan], np.ndarray, np.ndarray]], *, target: float) -> pd.DataFrame:
    """The rows of one target, with cheapest and p_cheapest across its routes."""
    costs = np.stack([cost for _, cost, _ in routes.values()])
    costs = np.where(np.isnan(costs), np.inf, costs)  # no curve: never the cheapest
    best = costs.min(axis=0)
    is_best = (costs == best) & np.isfinite(best)
    records = []
    for i, (route, (plans, cost, chosen)) in enumerate(routes.items()):
        record = _route_record(route, plans, cost, chosen)
        record.update(target=target, cheapest=bool(is_best[i, 0]),
                      p_cheapest=float(is_best[i, 1:].mean()) if costs.shape[1] > 1 else np.nan)
        records.append(record)
    return pd.DataFrame(records)


def cheapest_routes(decision: pd.DataFrame) -> pd.DataFrame:
    """One row per target of a `decision_table`: target, route (the cheapest; "none" when no
    route reaches the target), cost, ci_low, ci_high, p_cheapest, then cost_<route> for
    every route."""
    records = []
    for target, rows in decision.groupby("target", sort=True):
        best = rows[rows["cheapest"]]
        first = best.iloc[0] if not best.empty else None
        record = {"target": target, "route": " / ".join(best["route"]) if first is not None else "none",
                  **{k: np.inf if first is None else first[k] for k in ("cost", "ci_low", "ci_high")},
                  "p_cheapest": np.nan if first is None else first["p_cheapest"]}
        record.update({f"cost_{r.route}": r.cost for r in rows.itertuples()})
        records.append(record)
    return pd.DataFrame(records)


# --- what repair buys back ----------------------------------------------------------------

def _repair_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Finished trials per (model, damage mode, repair) at the largest sample_frac of that
    model and mode's repaired trials; clean trials join as damage_frac 0 (quality_rows).
    Adds `series` (the damage mode a row's curve belongs to)."""
    done = finished(df)
    frames = [done.head(0).assign(series=[])]
    for mode in [m for m in SWEPT_DAMAGED_MODES if m in set(done["damage_mode"])]:
        for model in models_in_order(done.loc[done["damage_mode"] == mode, "model"].unique().tolist()):
            pair = done[(done["model"] == model) & (done["damage_mode"] == mode)]
            repaired = pair[pair[REPAIR_COLUMN].fillna(NO_REPAIR) != NO_REPAIR]
            largest = (repaired if not repaired.empty else pair)["sample_frac"].max()
            for repair in repair_values(df):
                rows = quality_rows(of_repair(df, repair), model=model, damage_mode=mode)
                frames.append(rows[rows["sample_frac"] == largest].assign(series=mode))
    return pd.concat(frames, ignore_index=True)


def repair_curves(df: pd.DataFrame, *, band: str = "minmax") -> pd.DataFrame:
    """Accuracy and AUC against damage_frac, per damage_mode, model and repair, with seed
    bands (aggregate.seed_summary; band "minmax" or "ci95"). Needs a `repair` column.

    Returns seed_summary rows by damage_mode, model, repair, damage_frac, sample_frac.
    """
    if REPAIR_COLUMN not in df.columns:
        raise ValueError("repair_curves needs a 'repair' column in the results")
    rows = _repair_rows(df)
    summary = seed_summary(rows, by=["series", "model", REPAIR_COLUMN, "damage_frac", "sample_frac"], band=band)
    return summary.rename(columns={"series": "damage_mode"})


def detection_curves(df: pd.DataFrame, *, band: str = "minmax") -> pd.DataFrame:
    """Detection precision and recall of the flagged labels against damage_frac, per
    damage_mode, model and repair other than none, as `repair_curves` (same rows and
    bands): columns as seed_summary's plus precision, precision_lo, precision_hi, recall,
    recall_lo, recall_hi (NaN where not recorded, e.g. recall at damage_frac 0)."""
    missing = [c for c in (REPAIR_COLUMN, *DETECTION_COLUMNS.values()) if c not in df.columns]
    if missing:
        raise ValueError(f"detection_curves needs the columns {missing} in the results")
    rows = _repair_rows(df)
    rows = rows[rows[REPAIR_COLUMN].fillna(NO_REPAIR) != NO_REPAIR]
    by = ["series", "model", REPAIR_COLUMN, "damage_frac", "sample_frac"]
    summary = seed_summary(rows, by=by, band=band)
    records = []
    for key, group in finished(rows).groupby(by, sort=True):
        record = dict(zip(by, key))
        for name, column in DETECTION_COLUMNS.items():
            values = group[column].astype(float)
            record[name] = float(values.mean()) if values.notna().any() else np.nan
            record[f"{name}_lo"], record[f"{name}_hi"] = _bounds(values, band=band)
        records.append(record)
    stats = pd.DataFrame(records, columns=[*by, *(f"{n}{s}" for n in DETECTION_COLUMNS for s in ("", "_lo", "_hi"))])
    return summary.merge(stats, on=by, how="left").rename(columns={"series": "damage_mode"})
