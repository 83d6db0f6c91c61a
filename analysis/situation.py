"""The user's situation, stated once: what they have now (`current`), what they want to reach
(`target`) and what things cost (`prices`), with the defaults the answer uses and says it used.

The same three keywords are a spec's `report:` keys, the API's `Results.decision()` /
`Results.answer()` keywords and `datavsmath report` flags:

- current: {model, n, quality, damage_mode, test_quality}, each optional. Defaults: the model
  with the best mean accuracy at the largest clean sample_frac swept; n: the largest size swept
  for it at that quality (all of the training set when sample_frac 1 was swept); quality 1.0
  (clean labels); damage_mode: the first damaged mode swept for the model (it names the curves
  of quality < 1). quality "auto": the labels as given (damage_frac 0) are the current set, and
  their quality is estimated from the sweep (datavsmath.analysis.label_quality) and stated.
  test_quality (a number in (0, 1] or "auto", the estimate): the test labels are that good, so
  every accuracy is corrected to what a clean test set would show (`with_test_quality`).
- target: {metric: value or [values]}, metrics acc and auc, values in (0, 1). Default: three
  accuracy targets spread between the current accuracy and the best the sweep reached (or,
  when the current set is the best, those that cut its error by a tenth, a quarter and a half).
- prices: {label, audit, compute_second, train}: one new label (default 1.0, the unit), auditing
  one label (0.2), one second of repair compute (0) and, per model, one training of it
  ({model: price}, default 0 for every model).

The dataset's facts (its training-set size) come from the stored spec's dataset_facts or from
the results themselves (`training_size`), never from a default dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import SWEPT_DAMAGED_MODES, cross_candidates, finished, models_in_order, quality_rows
from datavsmath.analysis.estimate_limits import bound_text, route_bound
from datavsmath.analysis.label_quality import LabelQuality, corrected_for_test_quality, label_quality
from datavsmath.analysis.quality_levels import level
from datavsmath.analysis.repair_effect import of_repair
from datavsmath.analysis.schema import frac_key, num_obs
from datavsmath.analysis.training_size import training_size as training_size
from datavsmath.sweeps.report_keys import AUTO, check_current, check_prices, check_situation, check_target
from datavsmath.trainables.checks import (
    DatavsmathError,
    check_choice,
)
from datavsmath.trainables.damage import NO_DAMAGE
from datavsmath.trainables.datasets.common import DatasetInfo
from datavsmath.trainables.metrics import METRICS
from datavsmath.trainables.repair import NO_REPAIR

DEFAULT_PRICES = {"label": 1.0, "audit": 0.2, "compute_second": 0.0}
DEFAULT_N_TARGETS = 3
# Default targets when the current set is the best measured: a tenth, a quarter and half of its error cut.
ERROR_CUTS = (0.1, 0.25, 0.5)
# Below this gap between the current and the best measured value, the spread of default targets
# would be seed noise: the targets go toward 1 instead.
_MIN_TARGET_GAP = 1e-3


class SituationError(DatavsmathError, ValueError):
    """The stated situation (current, target, prices) cannot be answered from these results:
    a value out of range, a model or damage mode not swept, an n past the data."""


@dataclass(frozen=True)
class Prices:
    """label > 0, audit >= 0, compute_second >= 0 (money per unit) and train {model: >= 0}."""

    label: float = DEFAULT_PRICES["label"]
    audit: float = DEFAULT_PRICES["audit"]
    compute_second: float = DEFAULT_PRICES["compute_second"]
    train: Mapping[str, float] = field(default_factory=dict)

    def training(self, model: str) -> float:
        """One training of `model` (0 unless priced)."""
        return float(self.train.get(model, 0.0))


@dataclass(frozen=True)
class Situation:
    """The resolved situation: current model, n (labels), quality and damage_mode (the mode
    whose curves describe quality < 1; "none" with only clean trials), value {metric: mean at
    the current set}, targets {metric: ascending targets}, prices, n_total (the dataset's
    training-set size), defaults (the names of what was defaulted: model, n, quality, target,
    prices) and notes (what a reader must know: a quality snapped to a swept level, ...)."""

    model: str
    n: float
    quality: float
    damage_mode: str
    value: Mapping[str, float]
    targets: Mapping[str, tuple[float, ...]]
    prices: Prices
    n_total: int
    defaults: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    estimated: LabelQuality | None = None  # quality "auto": the estimate of the labels as given

    def describe(self) -> str:
        """"426 labels at quality 0.9 (constant damage), logreg"; with quality auto, "426 labels as
        given (estimated quality 0.870 [0.840-0.900]), logreg"."""
        if self.estimated is not None:
            e = self.estimated
            interval = f" [{e.low:.3f}-{e.high:.3f}]" if np.isfinite(e.low) else " (raw, no interval)"
            return f"{self.n:,.0f} labels as given (estimated quality {e.estimate:.3f}{interval}), {self.model}"
        noise = "" if self.quality == 1.0 else f" ({self.damage_mode} damage)"
        return f"{self.n:,.0f} labels at quality {self.quality:g}{noise}, {self.model}"

    def defaults_text(self) -> str:
        """"defaults used: model, n, target" or ""."""
        return f"defaults used: {', '.join(self.defaults)}" if self.defaults else ""


def info_from_results(df: pd.DataFrame) -> DatasetInfo:
    """The dataset's facts as the results record them, for results without a stored spec: its
    name (the `dataset` column, else "unknown"), K classes (the confusion matrices' size),
    the training-set size (`training_size`) and the test-set size (a confusion matrix's total)."""
    done = finished(df)
    names = done["dataset"].dropna().unique() if "dataset" in done.columns else []
    matrices = [m for m in done["confusion"] if m is not None] if "confusion" in done.columns else []
    k = len(matrices[0]) if matrices else int(max(2, done["damage_mode"].nunique()))
    n_test = int(np.sum(matrices[0])) if matrices else 0
    return DatasetInfo(name=str(names[0]) if len(names) else "unknown", class_names=tuple(str(i) for i in range(k)),
                       input_shape=(), n_train=training_size(df), n_test=n_test)


def parse_prices(raw: Mapping[str, Any] | None, *, models: Sequence[str] | None = None) -> Prices:
    """Prices of a `prices` mapping (report_keys.check_prices; each key optional, defaults
    DEFAULT_PRICES); `models` limits train's keys."""
    checked = check_prices(raw or {}, models=models)
    return Prices(**{key: checked.get(key, value) for key, value in DEFAULT_PRICES.items()},
                  train=checked.get("train", {}))


def _best_clean_model(done: pd.DataFrame) -> str:
    """The model with the best mean accuracy at the largest clean sample_frac swept."""
    clean = of_repair(done, NO_REPAIR)
    clean = clean[clean["damage_frac"] == 0] if (clean["damage_frac"] == 0).any() else clean
    largest = clean[clean["sample_frac"] == clean["sample_frac"].max()]
    means = largest.groupby("model")["acc"].mean()
    return str(means.idxmax())


def _damage_mode(df: pd.DataFrame, model: str, quality: float, given: str | None) -> str:
    """The damage mode whose curves describe the current set: `given` (one swept for the
    model), else the first damaged mode crossed with sample_frac for the model, else the first
    damaged mode it has; else the mode of its clean trials ("none", or a damaged mode swept
    only at damage_frac 0)."""
    done = finished(df)
    rows = done[done["model"] == model]
    swept = [m for m in (NO_DAMAGE, *SWEPT_DAMAGED_MODES) if m in set(rows["damage_mode"])]
    clean = [m for m in swept if (rows.loc[rows["damage_mode"] == m, "damage_frac"] == 0).any()]
    if given is not None:
        given = check_choice("current.damage_mode", given, [NO_DAMAGE, *SWEPT_DAMAGED_MODES])
        if given == NO_DAMAGE and clean and NO_DAMAGE not in swept:
            return clean[0]  # clean labels, recorded under the damaged mode swept at damage_frac 0
        if given not in swept:
            raise SituationError(f"current.damage_mode {given!r} was not swept for {model}; swept: "
                                 f"{', '.join(repr(m) for m in swept)}")
        return given
    crossed = [mode for m, mode in cross_candidates(df) if m == model]
    if crossed:
        return crossed[0]
    present = set(rows.loc[rows["damage_frac"] > 0, "damage_mode"])
    modes = [m for m in SWEPT_DAMAGED_MODES if m in present]
    if quality < 1.0 and not modes:
        raise SituationError(f"current.quality {quality:g} needs damaged trials of {model}; it has none")
    return modes[0] if modes else NO_DAMAGE if NO_DAMAGE in clean or not clean else clean[0]


def _check_n(n: float, *, n_total: int, largest: float, model: str, notes: list[str]) -> None:
    """A stated n: at most the dataset's training rows; past the largest size swept, read off
    the curve's extrapolation up to the routes' limit (estimate_limits.size_bound), never beyond it."""
    if n > n_total:
        raise SituationError(f"current.n must be at most the dataset's {n_total:,} training rows, got {n:,.0f}")
    bound, by = route_bound(largest, n_total)
    if n > bound:
        raise SituationError(f"current.n {n:,.0f} is {bound_text(bound, by)}: the largest size swept for {model} is "
                             f"{largest:,.0f}; sweep larger sizes to read it")
    if n > largest:
        notes.append(f"{n:,.0f} labels lie past the largest size swept for {model} ({largest:,.0f}); the current "
                     f"value is read off its fitted curve, extrapolated ×{n / largest:.1f}")


def _snap_quality(rows: pd.DataFrame, quality: float, notes: list[str]) -> float:
    """The swept quality level nearest `quality` (a note when it differs)."""
    swept = sorted(set(rows["quality"]))
    if not swept:
        raise ValueError("no finished trials for the current model and damage mode")
    nearest = min(swept, key=lambda q: (abs(q - quality), -q))
    if nearest != quality:
        notes.append(f"quality {quality:g} was not swept; the answer uses the nearest swept level {nearest:g}")
    return nearest


def _default_targets(value: float, best: float) -> tuple[float, ...]:
    """DEFAULT_N_TARGETS targets spread between value and best (best included); when best is
    no better, those that cut the current error 1 - value by ERROR_CUTS."""
    if best > value + _MIN_TARGET_GAP:
        points = np.linspace(value, best, DEFAULT_N_TARGETS + 1)[1:]
    else:
        points = value + (1 - value) * np.array(ERROR_CUTS)
    return tuple(sorted({round(float(t), 3) for t in points if value < round(float(t), 3) < 1}))


def resolve(df: pd.DataFrame, *, current: Mapping[str, Any] | None = None, target: Any = None,
            prices: Mapping[str, Any] | Prices | None = None, n_total: int) -> Situation:
    """The Situation of the results `df` (tidy frame) for the given keywords (module
    docstring; each None: its defaults). n_total: the dataset's training-set size
    (`training_size`). ValueError names a bad key or value."""
    done = finished(df)
    if done.empty:
        raise ValueError("the results have no finished trial")
    models = models_in_order(done["model"].unique().tolist())
    try:
        current = check_current(current or {}, models=models)
        chosen = {m: tuple(v) for m, v in check_target(target).items()} if target is not None else None
        parsed = prices if isinstance(prices, Prices) else parse_prices(prices, models=models)
    except ValueError as exc:
        raise SituationError(str(exc)) from exc
    defaults = [k for k in ("model", "n", "quality") if k not in current]
    notes: list[str] = []
    model = current["model"] if "model" in current else _best_clean_model(done)
    estimated = _estimated(df, current, notes)
    quality = frac_key(1.0 if estimated is not None else current.get("quality", 1.0))
    mode = _damage_mode(df, model, quality, current.get("damage_mode"))
    rows = quality_rows(of_repair(df, NO_REPAIR), model=model, damage_mode=mode)
    quality = _snap_quality(rows, quality, notes)
    rows = rows[rows["quality"] == quality]
    largest = float(num_obs(rows["sample_frac"].max(), n_total=n_total))
    n = current.get("n", largest)
    if "n" in current:
        _check_n(n, n_total=n_total, largest=largest, model=model, notes=notes)
    value = {m: float(level(rows, metric=m, seeds=sorted(set(rows["seed"])), n_total=n_total).value_at(n)[0])
             for m in METRICS}
    smallest = float(num_obs(rows["sample_frac"].min(), n_total=n_total))
    if n < smallest:
        notes.append(f"{n:,.0f} labels lie outside the sizes swept for {model} at quality {quality:g} "
                     f"({smallest:,.0f} to {largest:,.0f}); the current accuracy is read at the nearest of them")
    if chosen is None:
        defaults.append("target")
        best = float(of_repair(done, NO_REPAIR).groupby(["model", "damage_mode", "damage_frac", "sample_frac"])["acc"]
                     .mean().max())
        chosen = {"acc": _default_targets(value["acc"], best)}
    if prices is None:
        defaults.append("prices")
    return Situation(model=model, n=float(n), quality=quality, damage_mode=mode, value=value, targets=chosen,
                     prices=parsed, n_total=int(n_total), defaults=tuple(defaults), notes=tuple(notes),
                     estimated=estimated)


def _estimated(df: pd.DataFrame, current: Mapping[str, Any], notes: list[str]) -> LabelQuality | None:
    """The estimate of the labels' quality when current.quality is "auto" (a note says how)."""
    if current.get("quality") != AUTO:
        return None
    try:
        estimated = label_quality(df)
    except ValueError as exc:
        raise SituationError(f"current.quality auto: {exc}") from exc
    notes.append(f"quality auto: {estimated.describe()}; the curves are read at your labels as given (damage_frac "
                 "0), and the sweep's damage levels lie below them")
    return estimated


def with_test_quality(df: pd.DataFrame, current: Mapping[str, Any] | None) -> tuple[pd.DataFrame, str]:
    """(df, note): with current.test_quality (a number in (0, 1], or "auto": the estimated quality
    of the labels as given), every accuracy corrected to a clean test set through the
    transition matrix of current.damage_mode (default random: symmetric noise) and a note
    saying so; without it, (df, "")."""
    raw = (current or {}).get("test_quality")
    if raw is None:
        return df, ""
    try:
        test_quality = check_current({"test_quality": raw})["test_quality"]
    except ValueError as exc:
        raise SituationError(str(exc)) from exc
    how = ""
    if test_quality == AUTO:
        try:
            estimated = label_quality(df)
        except ValueError as exc:
            raise SituationError(f"current.test_quality auto: {exc}") from exc
        test_quality, how = estimated.estimate, f" (quality auto: {estimated.method}, from the sweep)"
    mode = (current or {}).get("damage_mode", "random")
    mode = mode if mode in SWEPT_DAMAGED_MODES and mode not in ("matrix", "confusion") else "random"
    note = (f"accuracies are corrected to a clean test set from test labels of quality {test_quality:.3f}{how}, "
            f"with {mode} noise (measured = q a + (1 - q)(1 - a)/(K - 1) for random noise)")
    return corrected_for_test_quality(df, test_quality=float(test_quality), damage_mode=mode), note


def _pairs(flag: str, text: str) -> list[tuple[str, Any]]:
    """"model=logreg,n=426" -> [("model", "logreg"), ("n", 426.0)]: numbers read as floats."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{flag} must be key=value pairs separated by commas, e.g. {FLAG_EXAMPLES[flag]}, "
                             f"got {text!r}")
        try:
            parsed: Any = float(value)
        except ValueError:
            parsed = value.strip()
        pairs.append((key.strip(), parsed))
    return pairs


FLAG_EXAMPLES = {"--current": "model=logreg,n=426,quality=0.9", "--target": "acc=0.95,acc=0.97",
                 "--prices": "label=1,audit=0.2,compute_second=0,train.xgb=5"}


def from_flags(*, current: str | None = None, target: str | None = None,
               prices: str | None = None) -> dict[str, Any]:
    """The situation's keywords {current, target, prices} of `datavsmath report` flags (texts as
    in FLAG_EXAMPLES; None: not given, left out). Values are checked by `resolve`."""
    out: dict[str, Any] = {}
    if current is not None:
        out["current"] = dict(_pairs("--current", current))
    if target is not None:
        targets: dict[str, list[Any]] = {}
        for metric, value in _pairs("--target", target):
            targets.setdefault(metric, []).append(value)
        out["target"] = targets
    if prices is not None:
        parsed: dict[str, Any] = {}
        for key, value in _pairs("--prices", prices):
            if key.startswith("train."):
                parsed.setdefault("train", {})[key.removeprefix("train.")] = value
            else:
                parsed[key] = value
        out["prices"] = parsed
    return check_situation(**out)
