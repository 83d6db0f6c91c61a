"""The answer, first: the user's situation and, per target, the cheapest route in one sentence
with its cost and interval, and the runner-up (datavsmath.analysis.routes). The same lines head
the report, end `datavsmath sweep` and make `Results.answer()`'s small DataFrame."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from datavsmath.analysis import routes
from datavsmath.analysis.curves import DEFAULT_CURVE
from datavsmath.analysis.estimate_limits import (
    BEYOND,
    bound_text,
    has_interval,
    no_interval_text,
)
from datavsmath.analysis.situation import Situation, resolve, training_size, with_test_quality
from datavsmath.analysis.tables import DEFAULT_N_BOOT
from datavsmath.trainables.repair import AUDIT, NO_REPAIR, VOTE

ANSWER_COLUMNS = ["metric", "target", "route", "cost", "ci_low", "ci_high", "p_cheapest", "runner_up",
                  "runner_up_cost", "sentence"]
METHOD_TEXT = ("95 % intervals of each curve's crossing (inside the swept sizes: the points' scatter about the "
               "fitted curve; past them with curve auto: the error of extrapolating LCDB's real learning curves)")


@dataclass(frozen=True)
class Answer:
    """situation (resolved), current {metric: (mean, ci_low, ci_high, n_seeds)}, routes (the
    route table), frame (one row per target: ANSWER_COLUMNS) and lines (the summary, in order)."""

    situation: Situation
    current: Mapping[str, tuple[float, float, float, int]]
    routes: pd.DataFrame
    frame: pd.DataFrame
    lines: tuple[str, ...]

    def _repr_html_(self) -> str:
        return answer_html(self)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.3g}"


def _interval_text(low: float, high: float, n_seeds: int) -> str:
    """" [18-31]", or " (no interval)" where the crossings gave none."""
    if np.isnan(low):
        return " (no interval)"
    high_text = "beyond the data" if np.isinf(high) else _number(high)
    return f" [{_number(low)}-{high_text}]"


def action(row: Any) -> str:
    """What a priced route does: "switch to xgb and buy 120 more labels"."""
    parts = []
    if str(row.route).startswith("switch to "):
        parts.append(f"switch to {row.model}")
    if row.repair == AUDIT:
        parts.append(f"audit the {row.n_audited:,.0f} labels cleanlab doubts most ({row.audit_frac:.0%} of them)")
    elif row.n_audited > 0:
        parts.append(f"audit {row.n_audited:,.0f} labels (to quality {row.quality_to:g})")
    if row.repair == VOTE:
        parts.append(f"label every item {row.vote_k:.0f} times and keep the majority")
    elif row.repair not in (NO_REPAIR, AUDIT):
        parts.append(f"let cleanlab {row.repair} the labels")
    if row.n_bought > 0:
        first = getattr(row, "n_first", np.nan)
        rounds = f" (in rounds: first to {first:,.0f} labels, then measure and refit)" if np.isfinite(first) else ""
        parts.append(f"buy {row.n_bought:,.0f} more labels{rounds}")
    return " and ".join(parts) or "nothing more"


def route_text(row: Any) -> str:
    """One route as a clause: "audit labels: audit 120 labels (to quality 1), cost 24 [18-31]"."""
    if row.status == BEYOND:
        return f"{row.route}: {bound_text(row.bound, row.bound_by)}"
    if row.status == routes.NOT_REACHED:
        return f"{row.route}: does not reach it on the swept curves"
    return f"{row.route}: {action(row)}, cost {_number(row.cost)}{_interval_text(row.ci_low, row.ci_high, row.n_seeds)}"


def target_sentence(rows: pd.DataFrame, *, metric: str, target: float, current: float) -> tuple[str, dict]:
    """The sentence of one target and its answer row."""
    head = f"To reach {metric} {target:.3f}"
    priced = rows[rows["status"] == routes.PRICED].sort_values("cost", kind="stable")
    record: dict = {"metric": metric, "target": target, "route": "none", "cost": np.inf, "ci_low": np.nan,
                    "ci_high": np.nan, "p_cheapest": np.nan, "runner_up": "", "runner_up_cost": np.nan}
    if current >= target:
        record.update(route="already there", cost=0.0)
        return f"{metric} {target:.3f}: already reached ({current:.3f} with what you have).", record
    if priced.empty:
        beyond = rows[rows["status"] == BEYOND]
        text = f"{head}: no route gets there within the data"
        if not beyond.empty:
            first = beyond.loc[beyond["bound"].idxmin()]
            text += f"; {', '.join(beyond['route'])}: {bound_text(first['bound'], first['bound_by'])}"
        never = rows[rows["status"] == routes.NOT_REACHED]
        if not never.empty:
            text += f"; {', '.join(never['route'])}: not reached on the swept curves"
        return text + ".", record
    best = priced.iloc[0]
    if action(best) == "nothing more":  # the fit already crosses the target where the measured mean falls short
        record.update(route=best.route, cost=0.0)
        return (f"{head}: the fitted curve says your current set gets there already (measured {current:.3f}: "
                f"the gap is within the curve's fit; more seeds would tell).", record)
    share = (f", cheapest in {best.p_cheapest:.0%} of draws" if np.isfinite(best.p_cheapest) else "")
    text = (f"{head}: {action(best)} (cost {_number(best.cost)}"
            f"{_interval_text(best.ci_low, best.ci_high, best.n_seeds)}{share}; {best.kind}).")
    others = [r for r in rows.itertuples() if r.route != best.route and r.status != routes.NOT_REACHED]
    others.sort(key=lambda r: (r.status != routes.PRICED, r.cost))
    if others:
        text += " Instead: " + "; ".join(route_text(r) for r in others[:2]) + "."
        record.update(runner_up=others[0].route, runner_up_cost=others[0].cost)
    record.update(route=best.route, cost=best.cost, ci_low=best.ci_low, ci_high=best.ci_high,
                  p_cheapest=best.p_cheapest)
    return text, record


def situation_line(situation: Situation, current: Mapping[str, tuple[float, float, float, int]]) -> str:
    """"Now: 426 labels at quality 0.9 (constant damage), logreg, acc 0.962 [0.950-0.970]"."""
    parts = []
    for metric, (mean, low, high, n_seeds) in current.items():
        interval = (f" [{low:.3f}-{high:.3f}]" if has_interval(n_seeds) and np.isfinite(low)
                    else f" ({no_interval_text(n_seeds)})")
        parts.append(f"{metric} {mean:.3f}{interval}")
    return f"Now: {situation.describe()}, " + ", ".join(parts) + "."


def summary_lines(situation: Situation, current: Mapping[str, tuple[float, float, float, int]],
                  table: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    """(the summary's lines, the answer frame) of a route table."""
    lines = [situation_line(situation, current)]
    if situation.defaults:
        lines.append(f"(Not stated, so the answer assumed: {_defaults(situation)}.)")
    lines += [f"Note: {note}." for note in situation.notes]
    measured = measured_on_damage(table)
    if measured:
        lines.append(f"Note: {measured}.")
    records = []
    for (metric, target), rows in table.groupby(["metric", "target"], sort=True):
        sentence, record = target_sentence(rows, metric=str(metric), target=float(target),
                                           current=current[str(metric)][0])
        lines.append(sentence)
        records.append({**record, "sentence": sentence})
    if not situation.targets or not any(situation.targets.values()):
        lines.append("No target above the current set: give one (target: {acc: 0.95}).")
    lines.append(f"Intervals: {METHOD_TEXT}.")
    return lines, pd.DataFrame(records, columns=ANSWER_COLUMNS)


def measured_on_damage(table: pd.DataFrame) -> str:
    """What a reader must know of the ranked audit and the vote, when the routes price them:
    they were measured on the sweep's own damage, where the true labels are known."""
    measured = [(name, how) for repair, name, how in (
        (AUDIT, "the ranked audit", "an audit sets a label to its true one"),
        (VOTE, "the repeated labels", "each extra label is a new draw of the same damage"))
        if (table["repair"] == repair).any()]
    if not measured:
        return ""
    names, hows = (" and ".join(part) for part in zip(*measured))
    verb = "were" if len(measured) > 1 else "was"
    return f"{names} {verb} measured on the sweep's own damage, where the true labels are known: {hows}"


def _defaults(situation: Situation) -> str:
    said = {"model": f"model {situation.model} (the best at the largest clean size swept)",
            "n": f"n {situation.n:,.0f} (the largest size swept{_all_of(situation)})",
            "quality": f"quality {situation.quality:g}",
            "target": "targets " + ", ".join(f"{m} {t:.3f}" for m, ts in situation.targets.items() for t in ts),
            "prices": (f"prices label {situation.prices.label:g}, audit {situation.prices.audit:g}, "
                       f"compute_second {situation.prices.compute_second:g}")}
    return "; ".join(said[k] for k in situation.defaults)


def _all_of(situation: Situation) -> str:
    return ", all of the training set" if situation.n == situation.n_total else ""


def answer(df: pd.DataFrame, *, current: Mapping[str, Any] | None = None, target: Any = None,
           prices: Mapping[str, Any] | None = None, n_total: int | None = None,
           facts: Mapping[str, Any] | None = None, curve: str = DEFAULT_CURVE, n_boot: int = DEFAULT_N_BOOT,
           random_state: int = 0) -> Answer:
    """The answer for the results `df` (tidy frame) in the stated situation.

    current, target, prices: datavsmath.analysis.situation's keywords (None: defaults).
    n_total: the dataset's training-set size (default: facts' n_train, else read off the
    results: situation.training_size); facts: a stored spec's dataset_facts.
    curve, n_boot, random_state: the curves' family (curves.CURVES, default "auto") and their
    crossings' draws (routes.route_table, curves.estimate_crossing).
    """
    size = n_total if n_total is not None else training_size(df, facts=facts)
    df, test_note = with_test_quality(df, current)
    situation = resolve(df, current=current, target=target, prices=prices, n_total=size)
    if test_note:
        situation = replace(situation, notes=(*situation.notes, test_note))
    table = routes.route_table(df, situation, curve=curve, n_boot=n_boot, random_state=random_state)
    values = {metric: routes.current_value(df, situation, metric=metric, n_boot=n_boot, random_state=random_state)
              for metric in situation.targets}
    lines, frame = summary_lines(situation, values, table)
    return Answer(situation, values, table, frame, tuple(lines))


def answer_html(result: Answer) -> str:
    """The summary as HTML: the lines as a list, the first (the situation) as a lead."""
    first, *rest = result.lines
    items = "".join(f"<li>{html.escape(line)}</li>" for line in rest)
    return f"<div class=\"answer\"><p class=\"situation\">{html.escape(first)}</p><ul>{items}</ul></div>"
