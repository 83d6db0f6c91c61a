"""The spec's `report:` keys: what the report's tables describe and the user's situation.

    report:
      current: {model: logreg, n: 426, quality: 0.9, damage_mode: constant}   # what you have now
      target: {acc: [0.95, 0.97]}          # what to reach: a value or a list per metric
      prices: {label: 1.0, audit: 0.2, compute_second: 0, train: {xgb: 5}}
      model: logreg                        # the talk's tables' model
      thresholds: {acc: 0.9, auc: 0.98}    # the talk's tables' thresholds
      curve: auto                          # the learning-curve family (CURVES; auto: chosen per curve)

The older `price_label` and `price_audit` keys are read as prices.label and prices.audit. Every
key is optional; datavsmath.analysis.situation gives the defaults. The same checks serve the
API's keywords and `datavsmath report`'s flags (`check_situation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datavsmath.trainables.checks import (
    POSITIVE,
    POSITIVE_PRICE,
    PRICE,
    UNIT,
    UNIT_OPEN,
    UNIT_OPEN_LEFT,
    check_choice,
    check_keys,
    check_number,
    echo,
)
from datavsmath.trainables.damage import ALL_DAMAGE_MODES
from datavsmath.trainables.metrics import METRICS

CURRENT_KEYS = ("model", "n", "quality", "damage_mode", "test_quality")
# current.quality / current.test_quality: a number, or this word: estimated from the sweep
# (datavsmath.analysis.label_quality).
AUTO = "auto"
PRICE_KEYS = ("label", "audit", "compute_second", "train")
OLD_PRICE_KEYS = {"price_label": "label", "price_audit": "audit"}
REPORT_KEYS = ("current", "target", "prices", "model", "thresholds", "curve", *OLD_PRICE_KEYS)
# The learning-curve families of datavsmath.analysis.curves, and "auto" (the default): the
# family that best predicts each curve's upper half, or pow3 mixed with pow2 where a backtest
# inside the curve says the mix extrapolates better.
CURVE_FAMILIES = ("pow3", "pow4", "mmf4", "wbl4", "exp3", "last1", "power_law", "loglinear")
CURVES = ("auto", *CURVE_FAMILIES)


def _mapping(name: str, raw: Any, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name} must be a mapping with keys {', '.join(keys)}, got {echo(raw)}")
    check_keys(name, sorted(raw, key=str), keys)
    return dict(raw)


def _quality(name: str, value: Any, interval: Any) -> float | str:
    """A label quality: a number in `interval`, or AUTO (estimated from the sweep)."""
    if value == AUTO:
        return AUTO
    if isinstance(value, str):
        raise ValueError(f"{name} must be a number in {interval} or {AUTO!r}, got {echo(value)}")
    return check_number(name, value, interval)


def check_current(raw: Any, *, models: Sequence[str] | None = None, name: str = "current") -> dict[str, Any]:
    """{model, n > 0, quality in [0, 1] or "auto", damage_mode, test_quality in (0, 1] or "auto"},
    each optional; model one of `models` when given."""
    current = _mapping(name, raw, CURRENT_KEYS)
    if "model" in current and models is not None:
        current["model"] = check_choice(f"{name}.model", current["model"], list(models))
    if "n" in current:
        current["n"] = check_number(f"{name}.n", current["n"], POSITIVE)
    for key, interval in (("quality", UNIT), ("test_quality", UNIT_OPEN_LEFT)):
        if key in current:
            current[key] = _quality(f"{name}.{key}", current[key], interval)
    if "damage_mode" in current:
        current["damage_mode"] = check_choice(f"{name}.damage_mode", current["damage_mode"], ALL_DAMAGE_MODES)
    return current


def check_target(raw: Any, *, name: str = "target") -> dict[str, list[float]]:
    """{metric: ascending distinct values in (0, 1)} of a mapping metric -> value or list."""
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{name} must be a mapping metric -> value or list of values, e.g. {{acc: 0.95}}, "
                         f"got {echo(raw)}")
    out = {}
    for metric, values in raw.items():
        check_choice(name, metric, METRICS)
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        if not values:
            raise ValueError(f"{name}.{metric} must hold at least one value, got []")
        out[metric] = sorted({check_number(f"{name}.{metric}", v, UNIT_OPEN) for v in values})
    return out


def check_prices(raw: Any, *, models: Sequence[str] | None = None, name: str = "prices") -> dict[str, Any]:
    """{label in (0, 1e12], audit, compute_second in [0, 1e12], train {model: price}}, each optional."""
    prices = _mapping(name, raw, PRICE_KEYS)
    for key in ("label", "audit", "compute_second"):
        if key in prices:
            prices[key] = check_number(f"{name}.{key}", prices[key], POSITIVE_PRICE if key == "label" else PRICE)
    if "train" in prices:
        train = prices["train"]
        if not isinstance(train, Mapping):
            raise ValueError(f"{name}.train must be a mapping model -> price, got {echo(train)}")
        prices["train"] = {(check_choice(f"{name}.train", m, list(models)) if models is not None else str(m)):
                           check_number(f"{name}.train.{m}", p, PRICE) for m, p in train.items()}
    return prices


def check_situation(*, current: Any = None, target: Any = None, prices: Any = None,
                    models: Sequence[str] | None = None) -> dict[str, Any]:
    """The normal form {current, target, prices} of the given keywords (None: left out)."""
    out: dict[str, Any] = {}
    if current is not None:
        out["current"] = check_current(current, models=models)
    if target is not None:
        out["target"] = check_target(target)
    if prices is not None:
        out["prices"] = check_prices(prices, models=models)
    return out


def check_report(raw: Any, *, models: Sequence[str]) -> dict[str, Any]:
    """The normal form of a spec's `report:` mapping (keys REPORT_KEYS); ValueError names the
    first bad key or value as report.<key>."""
    report = _mapping("report", raw, REPORT_KEYS)
    out: dict[str, Any] = {}
    if "model" in report:
        out["model"] = check_choice("report.model", report["model"], list(models))
    for old in OLD_PRICE_KEYS:  # kept as written, so a stored spec reads back as it was
        if old in report:
            out[old] = check_number(f"report.{old}", report[old], POSITIVE_PRICE if old == "price_label" else PRICE)
    if "thresholds" in report:
        thresholds = report["thresholds"]
        if not isinstance(thresholds, Mapping) or not thresholds:
            raise ValueError(f"report.thresholds must be a mapping metric -> value, got {echo(thresholds)}")
        out["thresholds"] = {check_choice("report.thresholds", metric, METRICS):
                             check_number(f"report.thresholds.{metric}", value, UNIT_OPEN)
                             for metric, value in thresholds.items()}
    if "curve" in report:
        out["curve"] = check_choice("report.curve", report["curve"], CURVES)
    if "current" in report:
        out["current"] = check_current(report["current"], models=models, name="report.current")
    if "target" in report:
        out["target"] = check_target(report["target"], name="report.target")
    if "prices" in report:
        out["prices"] = check_prices(report["prices"], models=models, name="report.prices")
    return out
