"""The report's sections: each figure or table the data supports, or the reason it is absent
(datavsmath.analysis.report renders them). Every function takes the tidy frame
(datavsmath.analysis.schema) and returns Items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from datavsmath.analysis import aggregate, decision, plots, repair_effect, tables
from datavsmath.analysis.answer import Answer
from datavsmath.analysis.curves import DEFAULT_CURVE
from datavsmath.analysis.schema import FRAC_AXES
from datavsmath.trainables.damage import DAMAGED_MODES, NO_DAMAGE
from datavsmath.trainables.datasets import load_dataset
from datavsmath.trainables.datasets.built_in import DEFAULT_DATASET
from datavsmath.trainables.datasets.common import DatasetInfo
from datavsmath.trainables.metrics import METRICS
from datavsmath.trainables.models import MODEL_NAMES, default_params


@dataclass
class Item:
    """One section of the report: a figure or a table, or the reason it is absent."""

    key: str
    title: str
    figure: go.Figure | None = None
    table: pd.DataFrame | None = None
    note: str = ""
    # Shown under a figure or table: what a reader must know to read it right.
    caption: str = ""
    # For tables: kind ("seed" / "interpolated"), metric, model, damage_mode and target.
    meta: dict[str, str] = field(default_factory=dict)


# --- what the data supports ------------------------------------------------------------

def values_text(df: pd.DataFrame, axis: str) -> str:
    values = aggregate.distinct(df, axis)
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values) or "no finished trial"


def reduced_settings_note(curves: pd.DataFrame, *, overrides: Mapping[str, Mapping[str, Any]]) -> str:
    """What a reader of the size curves must know when models ran with other settings than
    the talk's (datavsmath.trainables.models.default_params): which, and the order of the models at
    the smallest sample_frac in this run, which the changed settings can alter. "" if none.

    curves: aggregate.size_curves output; overrides: the spec's {model: {param: value}}."""
    changed = [f"{model} {key} {value} (the talk's {default_params(model)[key]})"
               for model, params in overrides.items() if model in MODEL_NAMES
               for key, value in params.items() if default_params(model).get(key) != value]
    if not changed:
        return ""
    note = "Reduced settings: " + "; ".join(changed) + "."
    if not curves.empty:
        smallest = curves[curves["sample_frac"] == curves["sample_frac"].min()]
        order = smallest.sort_values("acc", ascending=False)
        ranking = " > ".join(f"{r.model} {r.acc:.2f}" for r in order.itertuples())
        note += (f" At sample_frac {smallest['sample_frac'].iloc[0]:g} this run ranks the models {ranking} by acc;"
                 " fewer epochs and boosting rounds cost most on small subsets, so this order can differ from"
                 " the talk's, which used the settings in brackets.")
    return note


def size_item(df: pd.DataFrame, *, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Item:
    """Figure 1: metrics against sample_frac per model, clean labels; captioned with the
    reduced-settings note when `overrides` change the talk's settings."""
    curves = aggregate.size_curves(df)
    title = "Model Architectures and Training Batch Size"
    if curves["sample_frac"].nunique() < 2:
        return Item("size", title, note="sample_frac was not swept with clean labels "
                                        f"(damage_frac 0); sample_frac values: {values_text(df, 'sample_frac')}")
    return Item("size", title, figure=plots.plot_size(curves),
                caption=reduced_settings_note(curves, overrides=overrides or {}))


def damage_item(df: pd.DataFrame) -> Item:
    """Figure 2: metrics against damage_frac per model, random and constant damage."""
    curves = aggregate.damage_curves(df)
    title = "Model Architectures and Random / Constant Bias"
    swept = curves.groupby("damage_mode")["damage_frac"].nunique() if not curves.empty else pd.Series(dtype=int)
    curves = curves[curves["damage_mode"].isin(swept[swept >= 2].index)]
    if curves.empty:
        return Item("damage", title, note="damage_frac was not swept with random or constant damage; "
                                          f"damage_frac values: {values_text(df, 'damage_frac')}, "
                                          f"damage_mode values: {values_text(df, 'damage_mode')}")
    return Item("damage", title, figure=plots.plot_damage(curves))


def cross_items(df: pd.DataFrame) -> list[Item]:
    """Figure 3: the size x damage cross product, one figure per (model, damage_mode)."""
    pairs = aggregate.cross_candidates(df)
    if not pairs:
        return [Item("cross", "Size x damage cross product",
                     note="no model has both sample_frac and damage_frac swept (two or more values each)")]
    return [Item(f"cross_{model}_{mode}", f"{model.upper()} Architecture and {mode} bias: size x damage",
                 figure=plots.plot_cross(aggregate.cross_curves(df, model=model, damage_mode=mode),
                                         model=model, damage_mode=mode))
            for model, mode in pairs]


@dataclass(frozen=True)
class TableSettings:
    """What the tables and the answer describe.

    model: the tables' model (default: the situation's model, the best at the largest clean
    size swept); thresholds: {metric: threshold in (0, 1)} of the talk's tables, default acc
    0.90 and auc 0.98 (the talk's); current, target, prices: the user's situation
    (datavsmath.analysis.situation; None: its defaults); curve: the learning-curve family of
    the interpolated tables (datavsmath.analysis.curves.CURVES, default "auto").
    """

    model: str | None = None
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(tables.DEFAULT_THRESHOLDS))
    current: Mapping[str, Any] | None = None
    target: Any = None
    prices: Mapping[str, Any] | None = None
    curve: str = DEFAULT_CURVE


def table_setups(df: pd.DataFrame, *, model: str | None = None) -> tuple[str | None, list[str], str]:
    """(model, damage modes, note) for the tables: `model` when given and present, else the
    first model; every damage mode crossed with sample_frac for it
    (aggregate.cross_candidates), else "none" (quality 1.0 only) when its clean sample_frac
    was swept."""
    models = aggregate.models_in_order(aggregate.finished(df)["model"].unique().tolist())
    if not models:
        return None, [], "no finished trials"
    if model is not None and model not in models:
        return model, [], f"the report's model {model} has no finished trials (models: {', '.join(models)})"
    model = model or models[0]
    modes = [mode for m, mode in aggregate.cross_candidates(df) if m == model]
    if modes:
        return model, modes, ""
    if aggregate.quality_rows(df, model=model, damage_mode=NO_DAMAGE)["sample_frac"].nunique() >= 2:
        return model, [NO_DAMAGE], ""
    return model, [], f"sample_frac was not swept for {model} (values: {values_text(df, 'sample_frac')})"


def table_items(df: pd.DataFrame, *, n_total: int, settings: TableSettings = TableSettings(),
                n_boot: int = tables.DEFAULT_N_BOOT) -> list[Item]:
    """Both tables (seed style, interpolated) per metric and damage mode, for the settings'
    model and thresholds (default acc > 0.90 and auc > 0.98); n_total: the dataset's
    training-set size."""
    model, modes, note = table_setups(df, model=settings.model)
    if model is None or not modes:
        return [Item("tables", "Observations needed", note=note)]
    items = []
    for mode in modes:
        for metric in METRICS:
            threshold = settings.thresholds.get(metric, tables.DEFAULT_THRESHOLDS[metric])
            where = f"{_target(metric, threshold)} ({_setup_text(model, mode)})"
            meta = {"metric": metric, "model": model, "damage_mode": mode, "target": _target(metric, threshold)}
            items.append(Item(f"seed_{metric}_{model}_{mode}", f"Observations needed for {where}, seed style",
                              table=tables.seed_table(df, metric=metric, threshold=threshold, model=model,
                                                      damage_mode=mode, n_total=n_total),
                              meta={"kind": "seed", **meta}))
            items.append(Item(f"interpolated_{metric}_{model}_{mode}", f"Observations needed for {where}, interpolated",
                              table=tables.interpolated_table(df, metric=metric, threshold=threshold, model=model,
                                                              damage_mode=mode, n_boot=n_boot, n_total=n_total,
                                                              curve=settings.curve),
                              meta={"kind": "interpolated", **meta}))
    return items


def _setup_text(model: str, damage_mode: str) -> str:
    return f"{model}, clean labels" if damage_mode == NO_DAMAGE else f"{model}, {damage_mode} damage"


def _target(metric: str, threshold: float) -> str:
    return f"{metric} > {threshold:.2f}"


def economics_items(table_list: list[Item]) -> list[Item]:
    """Figure 4: num_obs against quality per damage mode, from the computed tables."""
    by_setup: dict[tuple[str, str], dict[str, dict[str, pd.DataFrame]]] = {}
    for item in table_list:
        if item.table is None:
            continue
        setup = by_setup.setdefault((item.meta["model"], item.meta["damage_mode"]), {"seed": {}, "interpolated": {}})
        setup[item.meta["kind"]][item.meta["target"]] = item.table
    items = []
    for (model, mode), pair in by_setup.items():
        key, title = f"economics_{model}_{mode}", f"An economic argument for quality ({_setup_text(model, mode)})"
        if next(iter(pair["seed"].values()))["quality"].nunique() < 2:
            items.append(Item(key, title, note="needs two or more quality levels (damage_frac values)"))
            continue
        figure = plots.plot_economics(aggregate.stack_tables(pair["seed"]),
                                      aggregate.stack_tables(pair["interpolated"]))
        items.append(Item(key, title, figure=figure))
    return items or [Item("economics", "An economic argument for quality", note="no table could be computed")]


ROUTES_CAPTION = (
    "Cost model: a new label costs prices.label and arrives at the current quality; auditing a label costs "
    "prices.audit and corrects it when wrong; audits are random, so raising quality q to q' audits "
    "n (q' - q) / (1 - q) labels. buy labels: the current model at the current quality; switch to M: another "
    "model of the sweep (its training price, 0 unless set); audit labels: audit to a swept quality level; "
    "repair: cleanlab's measured curves (prices.compute_second per second of repair); combinations as measured. "
    "'beyond the data': the route needs more than 4x the largest size swept. Intervals: 95 % intervals of the "
    "curves' crossings (curves.estimate_crossing: the points' scatter about the fitted curve inside the swept "
    "sizes; with curve auto past them, the error of extrapolating LCDB's real learning curves); p_cheapest: share "
    "of draws in which the route is cheapest.")


def decision_items(df: pd.DataFrame, *, model: str, damage_modes: Sequence[str], n_total: int,
                   n_boot: int = tables.DEFAULT_N_BOOT, curve: str = DEFAULT_CURVE) -> list[Item]:
    """Iso-accuracy contours and clean-equivalent observations (datavsmath.analysis.decision) of
    `model` per damaged mode of `damage_modes`, then what repair buys back; n_total: the
    dataset's training-set size; curve: the curves' family (default "auto")."""
    damaged = [mode for mode in damage_modes if mode != NO_DAMAGE]
    if not damaged:
        items = [Item("contours", "Iso-accuracy contours", note="needs two or more quality levels "
                      "(damage_frac values), each with two or more sample_frac values")]
    else:
        items = [item for mode in damaged
                 for item in _contour_items(df, model=model, damage_mode=mode, n_boot=n_boot, n_total=n_total,
                                            curve=curve)]
    return items + repair_items(df)


def _contour_items(df: pd.DataFrame, *, model: str, damage_mode: str, n_boot: int, n_total: int,
                   curve: str = DEFAULT_CURVE) -> list[Item]:
    """The contours and clean equivalents of one model and damage mode."""
    setup, suffix = _setup_text(model, damage_mode), f"{model}_{damage_mode}"
    contours = decision.iso_accuracy(df, model=model, damage_mode=damage_mode, n_boot=n_boot, n_total=n_total,
                                     curve=curve)
    title = f"Iso-accuracy contours ({setup})"
    items = [Item(f"iso_accuracy_{suffix}", title, figure=plots.plot_iso_accuracy(contours))
             if contours["reached"].any() else Item(f"iso_accuracy_{suffix}", title,
                                                     note="no quality level reaches any target accuracy")]
    title = f"Clean-equivalent observations ({setup})"
    try:
        equivalent = decision.clean_equivalent(df, model=model, damage_mode=damage_mode, n_boot=n_boot,
                                               n_total=n_total, curve=curve)
        items.append(Item(f"clean_equivalent_{suffix}", title, table=equivalent, caption=(
            "clean_equivalent: the clean observations that reach the damaged set's accuracy (the clean curve "
            "inverted); clean_per_damaged: what one damaged label is worth in clean labels (1: as much as a clean "
            "one); within_noise: a ratio above 1 or an interval that holds the set's own size is seed noise, not "
            "an effect. Intervals: the clean curve's 95 % interval of its crossing at the damaged set's mean "
            "(curves.estimate_crossing).")))
    except ValueError as exc:
        items.append(Item(f"clean_equivalent_{suffix}", title, note=str(exc)))
    return items


def route_items(result: Answer) -> list[Item]:
    """Every route to every target of the answer, as a table and a figure."""
    situation = result.situation
    title = f"Routes to each target ({situation.describe()})"
    if result.routes.empty:
        return [Item("routes", title, note="no target above the current set")]
    prices = situation.prices
    priced = (f"prices: label {prices.label:g}, audit {prices.audit:g}, compute_second {prices.compute_second:g}"
              + "".join(f", train {m} {p:g}" for m, p in prices.train.items()) + ". ")
    shown = result.routes.drop(columns=["bound", "bound_by"])
    items = [Item("routes", title, table=shown, caption=priced + ROUTES_CAPTION)]
    finite = result.routes[np.isfinite(result.routes["cost"])]
    if not finite.empty:
        items.append(Item("routes_figure", f"What each route costs ({situation.describe()})",
                          figure=plots.plot_decision(result.routes, price_label=prices.label,
                                                     price_audit=prices.audit, current=situation.describe())))
    return items


def repair_items(df: pd.DataFrame) -> list[Item]:
    """What repair buys back and how well it detects the damage, when `repair` was swept."""
    title = "What repair buys back"
    if not repair_effect.has_repair(df):
        return [Item("repair", title, note="the results have no repair axis (every trial trained on its labels as "
                                           "given: repair none)")]
    curves = repair_effect.repair_curves(df)
    if curves.empty or curves.groupby(["damage_mode", "model"])["damage_frac"].nunique().max() < 2:
        return [Item("repair", title, note="repair was not crossed with two or more damage_frac values")]
    items = [Item("repair", title, figure=plots.plot_repair(curves))]
    title = "How well repair finds the damaged labels"
    if not set(repair_effect.DETECTION_COLUMNS.values()) <= set(df.columns):
        return [*items, Item("detection", title, note="the results record no detection precision and recall")]
    detection = repair_effect.detection_curves(df)
    if detection[["precision", "recall"]].isna().all().all():
        return [*items, Item("detection", title, note="no repaired trial has detection precision or recall")]
    return [*items, Item("detection", title, figure=plots.plot_detection(detection))]


def _training_labels(dataset: Mapping[str, Any] | None = None, *,
                     fingerprint: str | None = None) -> tuple[np.ndarray | None, str]:
    """The training labels of the sweep's dataset (its spec's `dataset`, default
    DEFAULT_DATASET) via datavsmath.trainables.datasets, or the reason they are unavailable.
    fingerprint: the one the sweep recorded; data read now with another one (the file
    changed since) is not used."""
    try:
        data = load_dataset(dict(dataset) if dataset else DEFAULT_DATASET)
    except (ImportError, OSError, ValueError) as exc:
        return None, f"the training labels could not be loaded ({type(exc).__name__}: {exc})"
    if fingerprint is not None and data.fingerprint != fingerprint:
        return None, (f"the dataset read now ({data.source}) is not the one the sweep ran on: fingerprint "
                      f"{data.fingerprint[:16]}… where the sweep recorded {fingerprint[:16]}…; the figure is left out")
    return data.y_train, ""


def transition_items(df: pd.DataFrame, *, info: DatasetInfo, caption: str = "") -> list[Item]:
    """Each damage mode's realized transition T as a heatmap, beside the damage
    bars; nothing for results that record none (sweeps of before the transition modes).
    caption: what the confusion reference was (coinciding_modes.reference_caption)."""
    transitions = aggregate.realized_transitions(df)
    if transitions.empty:
        return []
    return [Item("transitions", "Where damaged labels went, per damage mode",
                 figure=plots.plot_transitions(transitions, class_names=info.class_names), caption=caption)]


def label_damage_item(df: pd.DataFrame, *, labels: np.ndarray | None, info: DatasetInfo,
                      dataset: Mapping[str, Any] | None = None, fingerprint: str | None = None) -> Item:
    """Figure 5: the labels one true label receives under random and constant damage.

    labels: the training labels (default: read from `dataset`, the spec's config, when its
    fingerprint is the recorded `fingerprint`, or nothing is recorded); info: the dataset's
    facts (its K classes and their names; default Fashion-MNIST's)."""
    title = "What damage does to labels"
    modes = [m for m in DAMAGED_MODES if m in set(aggregate.finished(df)["damage_mode"])]
    if not modes:
        return Item("labels", title, note="no trial damaged labels (damage_mode random or constant)")
    note = ""
    if labels is None:
        labels, note = _training_labels(dataset, fingerprint=fingerprint)
    if labels is None:
        return Item("labels", title, note=note)
    seed = int(aggregate.distinct(df, "seed")[0]) if aggregate.distinct(df, "seed") else 0
    true_label = min(aggregate.DEMO_TRUE_LABEL, info.n_classes - 1)  # the talk's 5, or the last of fewer classes
    counts = aggregate.label_damage_counts(labels, seed=seed, true_label=true_label, n_classes=info.n_classes)
    return Item("labels", title, figure=plots.plot_label_damage(
        counts, true_label=true_label, damage_frac=aggregate.DEMO_DAMAGE_FRAC, class_names=info.class_names))


def reference_items(df: pd.DataFrame, reference: pd.DataFrame | None) -> list[Item]:
    """Figure 6: this run beside the reference, along every axis both of them swept."""
    if reference is None:
        return []
    items = []
    for x in FRAC_AXES:
        overlay = aggregate.overlay_curves(df, reference, x=x)
        sources = overlay.groupby("source")[x].nunique()
        if len(sources) == 2 and sources.min() >= 2:
            items.append(Item(f"reference_{x}", f"Reference overlay along {x}",
                              figure=plots.plot_reference(overlay, x=x)))
    return items or [Item("reference", "Reference overlay",
                          note="the run and the reference share no swept axis (sample_frac or damage_frac)")]


def drilldown_item(df: pd.DataFrame, *, class_names: Sequence[str] | None = None) -> Item:
    """Per-trial drill-down: confusion matrices of the worst and best trial per model, the
    classes named by `class_names` (the dataset's, K of them) when given."""
    trials = aggregate.drilldown_trials(df)
    title = "Per-trial drill-down: confusion matrices (worst and best trial per model)"
    if trials.empty:
        return Item("confusion", title, note="no finished trial has a confusion matrix")
    return Item("confusion", title, figure=plots.plot_confusion(trials, class_names=class_names))
