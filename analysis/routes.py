"""Three routes to a target, and their combinations, priced from the measured curves.

From the user's situation (datavsmath.analysis.situation: model m0 with n0 labels at quality q0)
to each target value of a metric:

- bigger data, "buy labels": buy labels at q0 until m0's curve at q0 reaches the target.
- better math, "switch to M": train another model M of the sweep at n0 labels and q0, plus
  buying labels if its curve needs more; cost: its training price (prices.train, 0 unless set).
- better data, "audit labels": audit labels at random to a swept quality q' > q0 (the cheapest
  q'), buying first where the curve at q' needs more; "repair: <r>": let cleanlab repair
  (prune, relabel) as measured by the sweep's repaired trials at q0, buying if needed, at
  compute_second per second of repair (repair_seconds scaled linearly with the set's size);
  "ranked audit (a of labels)": audit the share a (the spec's audit_frac) of the final set
  that cleanlab doubts most, as measured by the sweep's `audit` trials at q0, at prices.audit
  per label audited; "relabel each item k times": label every item of the final set k times
  (the spec's vote_k) and keep the majority, as measured by the `vote` trials at q0: k - 1
  more labels for each item held, k for each new one, at prices.label each.
- combinations the curves support: "switch to M + audit", "switch to M + repair: <r>",
  "switch to M + ranked audit (...)", "switch to M + relabel each item k times".

The cost model: a new label costs prices.label and arrives at quality q0; auditing a label
costs prices.audit and corrects it when wrong. Audits are random, so auditing a of n labels at
quality q gives q' = 1 - (1 - q)(1 - a / n): reaching q' audits n (q' - q) / (1 - q) labels
(`audit_fraction`). A plan ends with n_final = max(n_needed, n0) labels, n_needed the size
where the route's curve crosses the target; it buys n_final - n0 and audits n_final's share.

Each curve's crossing of a target is datavsmath.analysis.curves.estimate_crossing (the one
estimate the tables and the adaptive searcher give, with the same `curve`, default "auto"),
with its draws. Each route has its cost (the crossings' estimates), a 95 % percentile
interval over the draws and p_cheapest, the share of draws in which it is the cheapest route;
draw i of one curve is paired with a random draw of another (the curves' uncertainties taken
as independent), and a curve whose crossing has no interval gives none. A route whose
n_final lies past estimate_limits.size_bound of its curve's largest swept size, or past the dataset's
training-set size, is "beyond the data" (bound: the smaller of the two; bound_by: which)
(infinite cost in that draw), and one whose curve never reaches the target "not reached".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import finished, models_in_order, quality_rows
from datavsmath.analysis.curves import DEFAULT_CURVE, Crossing, check_curve
from datavsmath.analysis.estimate_limits import BEYOND, is_beyond, route_bound
from datavsmath.analysis.quality_levels import Level, ci, draws, level, levels, seed_ids
from datavsmath.analysis.repair_effect import of_repair, repair_values
from datavsmath.analysis.situation import Situation
from datavsmath.analysis.tables import DEFAULT_N_BOOT
from datavsmath.trainables.checks import UNIT, check_number
from datavsmath.trainables.repair import AUDIT as AUDIT_REPAIR
from datavsmath.trainables.repair import NO_REPAIR
from datavsmath.trainables.repair import VOTE as VOTE_REPAIR

BUY, AUDIT, RANKED_AUDIT = "buy labels", "audit labels", "ranked audit"
KINDS = ("bigger data", "better math", "better data", "combination")
PRICED, NOT_REACHED, ALREADY = "priced", "not reached", "already there"
COLUMNS = ["metric", "target", "route", "kind", "model", "quality_to", "repair", "cost", "ci_low", "ci_high",
           "p_cheapest", "cheapest", "status", "bound", "bound_by", "n_final", "n_bought", "n_audited", "n_first",
           "n_seeds", "audit_frac", "vote_k"]
# Past the sizes swept, buy in rounds: first up to this quantile of the crossing, then measure
# and refit (benchmarks/bench_lcdb.py replays it on LCDB's real curves: with the 30 %, 50 %,
# then 75 % quantiles no target was missed in 3 rounds, labels bought / needed median 1.5).
FIRST_ROUND_LEVEL = 0.3


def audit_fraction(quality: float, target_quality: float) -> float:
    """The share of a set at `quality` to audit at random (and correct) for it to reach
    `target_quality`: (q' - q) / (1 - q); 0 when q' = q. Both in [0, 1], q' >= q."""
    quality = check_number("quality", quality, UNIT)
    target_quality = check_number("target_quality", target_quality, UNIT)
    if target_quality < quality:
        raise ValueError(f"target_quality must be at least quality {quality:g}, got {target_quality:g}")
    return 0.0 if target_quality == quality else (target_quality - quality) / (1 - quality)


@dataclass(frozen=True)
class Option:
    """One way to run a route: a curve (model, quality, repair) and what using it costs
    beyond labels: a fixed price and a price per label of the final set."""

    model: str
    quality: float
    repair: str
    curve: Level
    fixed: float
    per_label: float
    audit_frac: float = 0.0  # the ranked audit: the share of the final set audited
    vote_k: int = 1  # the vote: labels per item of the final set (k - 1 bought for each item held)


@dataclass(frozen=True)
class Priced:
    """An option priced for one target, arrays (S,) = the estimate then each draw; interval:
    the cost at the ends of the crossing's own 95 % interval (NaN, NaN where it has none)."""

    option: Option
    n_final: np.ndarray
    bought: np.ndarray
    audited: np.ndarray
    cost: np.ndarray  # inf: not reached or beyond the data; NaN: no curve
    beyond: np.ndarray
    interval: tuple[float, float] = (np.nan, np.nan)
    first: float = np.nan  # buy to this size first, then refit (extrapolated crossings)


def price(option: Option, target: float, *, situation: Situation) -> Priced:
    """What reaching `target` along `option` costs (module docstring)."""
    priced = _price(option, option.curve.crossings(target), situation=situation)
    found = option.curve.crossing(target)
    if not found.has_interval:
        return priced
    priced = replace(priced, first=first_round(found, n0=situation.n, n_final=float(priced.n_final[0])))
    # The cost grows with the crossing: its interval is the cost at the crossing's interval,
    # the one the tables give (a learned interval is the model's quantiles, not its draws').
    ends = _price(option, np.array([found.low, found.high]), situation=situation).cost
    return replace(priced, interval=(float(ends[0]), float(ends[1])))


def first_round(found: Crossing, *, n0: float, n_final: float, level: float = FIRST_ROUND_LEVEL) -> float:
    """The size to buy up to first when the crossing lies past the sizes swept: its `level`
    quantile (default FIRST_ROUND_LEVEL), where that is above the current n0 and below the
    plan's n_final; then measure the curve there and refit. NaN where one purchase is the plan
    (the crossing is inside the sizes swept, or no quantile lies between)."""
    if not (np.isfinite(n_final) and n_final > found.largest):
        return np.nan
    first = found.quantile(level)
    return float(first) if np.isfinite(first) and n0 < first < n_final else np.nan


def _price(option: Option, needed: np.ndarray, *, situation: Situation) -> Priced:
    """The option priced at crossings `needed` (S,)."""
    n0, prices = situation.n, situation.prices
    n_final = np.maximum(needed, n0)
    reach = np.isfinite(n_final)
    past = is_beyond(n_final, largest_swept=option.curve.largest) | (n_final > situation.n_total)
    beyond = past & (needed > n0)  # n0 itself is the user's
    fraction = audit_fraction(situation.quality, option.quality)
    finite = np.where(reach, n_final, 0.0)  # an unreachable target adds nothing: no 0 * inf warning
    bought = finite - n0 * reach + (option.vote_k - 1) * finite
    audited = finite * (fraction + option.audit_frac)
    cost = prices.label * bought + prices.audit * audited + option.fixed + option.per_label * finite
    cost = np.where(np.isnan(needed), np.nan, np.where(reach & ~beyond, cost, np.inf))
    return Priced(option, n_final, np.where(reach, bought, np.inf), np.where(reach, audited, np.inf), cost, beyond)


def _seconds_per_label(rows: pd.DataFrame) -> float:
    """Mean repair_seconds / n_train of rows; 0 when either is not recorded."""
    if "repair_seconds" not in rows.columns or rows.empty:
        return 0.0
    ratio = rows["repair_seconds"].astype(float) / rows["n_train"].astype(float)
    ratio = ratio[np.isfinite(ratio)]
    return float(ratio.mean()) if len(ratio) else 0.0


@dataclass(frozen=True)
class Curves:
    """The curves the routes read: {(model, repair): {quality: Level}} at qualities >= q0,
    the seconds of repair per label, the shared seed ids and the draws per crossing."""

    by_setup: dict[tuple[str, str], dict[float, Level]]
    seconds: dict[tuple[str, str], float]
    seeds: list[int]
    n_boot: int
    budgets: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)  # (audit_frac, vote_k)


def fit_curves(df: pd.DataFrame, situation: Situation, *, metric: str, curve: str = DEFAULT_CURVE,
               n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> Curves:
    """Every model's curves of the situation's damage mode at qualities >= q0 (repair none)
    and its repaired curves at q0; each level's draws shuffled by its own stream (Level)."""
    check_curve(curve)
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    done = finished(df)
    models = models_in_order(done["model"].unique().tolist())
    seeds = seed_ids(done)
    by_setup, seconds, budgets, streams = {}, {}, {}, 0
    for model in models:
        for repair in repair_values(df):
            rows = quality_rows(of_repair(df, repair), model=model, damage_mode=situation.damage_mode)
            rows = rows[rows["quality"] >= situation.quality] if repair == NO_REPAIR else \
                rows[rows["quality"] == situation.quality]
            rows = rows[rows["sample_frac"].notna()]
            if rows.empty:
                continue
            by_setup[(model, repair)] = levels(rows, metric=metric, seeds=seeds, n_total=situation.n_total,
                                               curve=curve, n_boot=n_boot, random_state=random_state,
                                               first_stream=streams)
            streams += len(by_setup[(model, repair)])
            seconds[(model, repair)] = _seconds_per_label(rows)
            budgets[(model, repair)] = _budgets(rows, repair)
    return Curves(by_setup, seconds, seeds, n_boot, budgets)


def _budgets(rows: pd.DataFrame, repair: str) -> tuple[float, int]:
    """(audit_frac, vote_k) the trials of `repair` spent: the ranked audit's share of the labels
    audited (0 for other repairs) and the vote's labels per item (1 for other repairs)."""
    def recorded(column: str, default: float) -> float:
        values = rows[column].dropna().astype(float) if column in rows.columns else pd.Series(dtype=float)
        return float(values.median()) if len(values) else default

    audit_frac = recorded("audit_frac", 0.0) if repair == AUDIT_REPAIR else 0.0
    vote_k = int(recorded("vote_k", 1)) if repair == VOTE_REPAIR else 1
    return audit_frac, vote_k


def repair_route(repair: str, *, audit_frac: float, vote_k: int) -> str:
    """A measured repair's route name: "ranked audit (10% of labels)", "relabel each item 3
    times", "repair: prune"."""
    if repair == AUDIT_REPAIR:
        return f"{RANKED_AUDIT} ({audit_frac:.0%} of labels)"
    if repair == VOTE_REPAIR:
        return f"relabel each item {vote_k} times"
    return f"repair: {repair}"


def route_options(curves: Curves, situation: Situation) -> dict[tuple[str, str], list[Option]]:
    """{(route, kind): options}: each route's ways, the cheapest of which it takes per draw."""
    m0, q0, prices = situation.model, situation.quality, situation.prices
    out: dict[tuple[str, str], list[Option]] = {}
    for (model, repair), by_quality in curves.by_setup.items():
        fixed = prices.training(model) if model != m0 else 0.0
        switch = f"switch to {model}" if model != m0 else ""
        if repair != NO_REPAIR:
            if q0 in by_quality:
                per_label = prices.compute_second * curves.seconds[(model, repair)]
                audit_frac, vote_k = curves.budgets.get((model, repair), (0.0, 1))
                route = repair_route(repair, audit_frac=audit_frac, vote_k=vote_k)
                name = " + ".join(p for p in (switch, route) if p)
                kind = "combination" if switch else "better data"
                out.setdefault((name, kind), []).append(Option(model, q0, repair, by_quality[q0], fixed, per_label,
                                                               audit_frac=audit_frac, vote_k=vote_k))
            continue
        for quality, curve in by_quality.items():
            if quality == q0:
                name, kind = (switch, "better math") if switch else (BUY, "bigger data")
            else:
                name, kind = (f"{switch} + audit", "combination") if switch else (AUDIT, "better data")
            out.setdefault((name, kind), []).append(Option(model, quality, repair, curve, fixed, 0.0))
    return out


def _cheapest(priced: list[Priced]) -> tuple[np.ndarray, np.ndarray]:
    """(cost (S,), chosen option index (S,)) of the cheapest option per sample: inf for the
    estimate (sample 0) where no option has a curve, NaN for a draw where none has one."""
    raw = np.stack([p.cost for p in priced])
    costs = np.where(np.isnan(raw), np.inf, raw)
    cheapest = np.where(np.isnan(raw).all(axis=0), np.nan, costs.min(axis=0))
    cheapest[0] = costs[:, 0].min()
    return cheapest, np.argmin(costs, axis=0)


def _record(route: str, kind: str, priced: list[Priced], *, n_seeds: int, n_total: int) -> dict:
    """A route's row: the estimate (sample 0), its interval (the draws, samples 1..) and what it does."""
    cost, chosen = _cheapest(priced)
    pick = priced[int(chosen[0])]
    if np.isfinite(cost[0]):
        status = PRICED
    elif all(np.isnan(p.cost[0]) for p in priced):
        status = NOT_REACHED
    else:
        status = BEYOND if any(p.beyond[0] for p in priced) else NOT_REACHED
    if status == BEYOND:  # the cheapest of the options that are only beyond the data
        pick = min((p for p in priced if p.beyond[0]), key=lambda p: p.n_final[0])
    # One option: the cost at its crossing's interval; several: the cheapest per draw.
    low, high = priced[0].interval if len(priced) == 1 else ci(cost[1:]) if cost.size > 1 else (np.nan, np.nan)
    show = status in (PRICED, BEYOND)
    return {"route": route, "kind": kind, "model": pick.option.model, "quality_to": pick.option.quality,
            "repair": pick.option.repair, "cost": float(cost[0]), "ci_low": low, "ci_high": high, "status": status,
            **dict(zip(("bound", "bound_by"), route_bound(pick.option.curve.largest, n_total))),
            "n_final": float(pick.n_final[0]) if show else np.nan,
            "n_bought": float(pick.bought[0]) if show else np.nan,
            "n_audited": float(pick.audited[0]) if show else np.nan,
            "n_first": pick.first if status == PRICED else np.nan, "n_seeds": n_seeds,
            "audit_frac": pick.option.audit_frac if pick.option.repair == AUDIT_REPAIR else np.nan,
            "vote_k": pick.option.vote_k if pick.option.repair == VOTE_REPAIR else np.nan, "_cost": cost}


def _mark_cheapest(records: list[dict]) -> None:
    """cheapest (the lowest estimate, ties all marked) and p_cheapest (the share of draws in
    which the route is cheapest; NaN for a route without draws, which the others meet at its
    estimate's cost in every draw)."""
    costs = np.stack([r.pop("_cost") for r in records])
    undrawn = np.isnan(costs[:, 1:]).all(axis=1) if costs.shape[1] > 1 else np.ones(len(records), dtype=bool)
    costs[undrawn, 1:] = costs[undrawn, :1]
    costs = np.where(np.isnan(costs), np.inf, costs)
    best = costs.min(axis=0)
    is_best = (costs == best) & np.isfinite(best)
    for i, record in enumerate(records):
        record["cheapest"] = bool(is_best[i, 0])
        record["p_cheapest"] = np.nan if undrawn[i] else float(is_best[i, 1:].mean())


def route_table(df: pd.DataFrame, situation: Situation, *, curve: str = DEFAULT_CURVE,
                n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> pd.DataFrame:
    """Every route to every target of the situation (module docstring).

    df: tidy results; situation: datavsmath.analysis.situation.resolve's; curve: the curves'
    family (datavsmath.analysis.curves.CURVES, default "auto"); n_boot, random_state: the
    crossings' draws (curves.estimate_crossing).
    Returns one row per (metric, target, route), targets ascending, routes in the order
    buy labels, switch to ..., audit labels, repair: ..., ranked audit (...), relabel each item
    k times, combinations: the COLUMNS
    (cost inf where not priced; status priced | beyond the data | not reached; bound: the
    largest size the route's curve may be read at, bound_by: which limit that is, the
    dataset's training rows or 4× the largest size swept (estimate_limits.route_bound); ci_low,
    ci_high, p_cheapest NaN without an interval; n_seeds the seeds behind it; audit_frac and
    vote_k the ranked audit's and the vote's budgets, NaN for the other routes).
    """
    records = []
    for metric, targets in situation.targets.items():
        curves = fit_curves(df, situation, metric=metric, curve=curve, n_boot=n_boot, random_state=random_state)
        options = route_options(curves, situation)
        order = sorted(options, key=lambda key: KINDS.index(key[1]))
        for target in targets:
            rows = [_record(name, kind, [price(o, target, situation=situation) for o in options[(name, kind)]],
                            n_seeds=len(curves.seeds), n_total=situation.n_total)
                    for name, kind in order]
            _mark_cheapest(rows)
            records += [{"metric": metric, "target": target, **r} for r in rows]
    return pd.DataFrame(records, columns=COLUMNS)


def current_value(df: pd.DataFrame, situation: Situation, *, metric: str, n_boot: int = DEFAULT_N_BOOT,
                  random_state: int = 0) -> tuple[float, float, float, int]:
    """(mean, ci_low, ci_high, n_seeds) of the metric at the current set, read off the measured
    curve in log n; the interval NaN with fewer than 3 seeds."""
    rows = quality_rows(of_repair(df, NO_REPAIR), model=situation.model, damage_mode=situation.damage_mode)
    rows = rows[rows["quality"] == situation.quality]
    seeds = seed_ids(rows)
    measured = level(rows, metric=metric, seeds=seeds, n_total=situation.n_total,
                     draws=draws(len(seeds), n_boot=n_boot, random_state=random_state))
    values = measured.value_at(situation.n)
    low, high = ci(values[1:]) if values.size > 1 else (np.nan, np.nan)
    return float(values[0]), low, high, len(seeds)
