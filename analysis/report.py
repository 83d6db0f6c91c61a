"""`datavsmath report`: one self-contained HTML file with every figure the data supports,
the talk's two tables (seed style and interpolated), and CSV / Markdown copies of the tables.

The only module of the package that writes files. plotly.js is inlined once, so the report
opens offline; figures whose axis was not swept are listed with the reason instead.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from datavsmath.analysis import aggregate, decision, plots, tables
from datavsmath.analysis.load import FRAC_AXES, load_results, summarize
from datavsmath.analysis.schema import DATASET
from datavsmath.sweeps.spec import AXES, AXIS_DEFAULTS, Spec, SpecError, dump_spec, read_stored_spec
from datavsmath.trainables import storage
from datavsmath.trainables.damage import DAMAGED_MODES
from datavsmath.trainables.data import DatasetInfo
from datavsmath.trainables.datasets import load_dataset
from datavsmath.trainables.metrics import METRICS
from datavsmath.trainables.models import MODEL_NAMES, default_params
from datavsmath.trainables.storage import is_uri, open_location

REPORT_NAME = "report.html"
# kaleido (PNG export) drives a Chrome; Debian's Chromium is used when none is configured.
CHROMIUM = Path("/usr/bin/chromium")
MAX_FAILURES_SHOWN = 100
NEVER = "never"


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

def _values_text(df: pd.DataFrame, axis: str) -> str:
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
                                        f"(damage_frac 0); sample_frac values: {_values_text(df, 'sample_frac')}")
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
                                          f"damage_frac values: {_values_text(df, 'damage_frac')}, "
                                          f"damage_mode values: {_values_text(df, 'damage_mode')}")
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
    """Which model the tables describe and the thresholds they use.

    model: default cnn when present, else the first model in the talk's order;
    thresholds: {metric: threshold in (0, 1)}, default acc 0.90 and auc 0.98 (the talk's);
    price_label, price_audit: the buy-or-clean decision's prices of one new label and of
    auditing one label (datavsmath.analysis.decision; default 1.0 and 0.2).
    """

    model: str | None = None
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(tables.DEFAULT_THRESHOLDS))
    price_label: float = decision.DEFAULT_PRICE_LABEL
    price_audit: float = decision.DEFAULT_PRICE_AUDIT


def table_setups(df: pd.DataFrame, *, model: str | None = None) -> tuple[str | None, list[str], str]:
    """(model, damage modes, note) for the tables: `model` when given and present, else cnn
    when present, else the first model; every damage mode crossed with sample_frac for it
    (aggregate.cross_candidates), else "none" (quality 1.0 only) when its clean sample_frac
    was swept."""
    models = aggregate.models_in_order(aggregate.finished(df)["model"].unique().tolist())
    if not models:
        return None, [], "no finished trials"
    if model is not None and model not in models:
        return model, [], f"the report's model {model} has no finished trials (models: {', '.join(models)})"
    model = model or (tables.DEFAULT_MODEL if tables.DEFAULT_MODEL in models else models[0])
    modes = [mode for m, mode in aggregate.cross_candidates(df) if m == model]
    if modes:
        return model, modes, ""
    if aggregate.quality_rows(df, model=model, damage_mode="none")["sample_frac"].nunique() >= 2:
        return model, ["none"], ""
    return model, [], f"sample_frac was not swept for {model} (values: {_values_text(df, 'sample_frac')})"


def table_items(df: pd.DataFrame, *, settings: TableSettings = TableSettings(),
                n_boot: int = tables.DEFAULT_N_BOOT, n_total: int | None = None) -> list[Item]:
    """Both tables (seed style, interpolated) per metric and damage mode, for the settings'
    model and thresholds (default acc > 0.90 and auc > 0.98); n_total: the dataset's
    training-set size (default Fashion-MNIST's)."""
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
                                                              damage_mode=mode, n_boot=n_boot, n_total=n_total),
                              meta={"kind": "interpolated", **meta}))
    return items


def _setup_text(model: str, damage_mode: str) -> str:
    return f"{model}, clean labels" if damage_mode == "none" else f"{model}, {damage_mode} damage"


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


DECISION_CAPTION = (
    "Cost model: a new label costs price_label and arrives at the current quality; auditing a label costs "
    "price_audit and corrects it when wrong. Audits are random, so raising quality q to q' audits "
    "n (q' - q) / (1 - q) labels. collect: buy labels at q until the curve reaches the target; clean: audit "
    "the current labels to a swept quality level; both: buy, then audit the whole set; repair_<r>: buy, then let "
    "cleanlab repair (measured curves). 'never': the route cannot reach the target on the swept grid; intervals: "
    "95 % bootstrap over seeds; p_cheapest: share of resamples where the route is cheapest.")


def decision_items(df: pd.DataFrame, *, settings: TableSettings = TableSettings(),
                   n_boot: int = tables.DEFAULT_N_BOOT, n_total: int | None = None) -> list[Item]:
    """Iso-accuracy contours, clean-equivalent observations and the buy-or-clean decision
    (datavsmath.analysis.decision) per damage mode of the tables' model, then what repair buys back;
    n_total: the dataset's training-set size (default Fashion-MNIST's)."""
    model, modes, note = table_setups(df, model=settings.model)
    damaged = [mode for mode in modes if mode != "none"]
    if model is None or not damaged:
        items = [Item("decision", "The buy-or-clean decision", note=note or "needs two or more quality levels "
                      "(damage_frac values), each with two or more sample_frac values")]
    else:
        items = [item for mode in damaged
                 for item in _decision_setup_items(df, model=model, damage_mode=mode, settings=settings, n_boot=n_boot,
                                                   n_total=n_total)]
    return items + repair_items(df)


def _decision_setup_items(df: pd.DataFrame, *, model: str, damage_mode: str, settings: TableSettings,
                          n_boot: int, n_total: int | None) -> list[Item]:
    """The decision's sections of one model and damage mode."""
    setup, suffix = _setup_text(model, damage_mode), f"{model}_{damage_mode}"
    contours = decision.iso_accuracy(df, model=model, damage_mode=damage_mode, n_boot=n_boot, n_total=n_total)
    title = f"Iso-accuracy contours ({setup})"
    items = [Item(f"iso_accuracy_{suffix}", title, figure=plots.plot_iso_accuracy(contours))
             if contours["reached"].any() else Item(f"iso_accuracy_{suffix}", title,
                                                     note="no quality level reaches any target accuracy")]
    title = f"Clean-equivalent observations ({setup})"
    try:
        equivalent = decision.clean_equivalent(df, model=model, damage_mode=damage_mode, n_boot=n_boot,
                                               n_total=n_total)
        items.append(Item(f"clean_equivalent_{suffix}", title, table=equivalent, caption=(
            "clean_equivalent: the clean observations that reach the damaged set's accuracy (the clean curve "
            "inverted); clean_per_damaged: what one damaged label is worth in clean labels; 95 % bootstrap over "
            "seeds.")))
    except ValueError as exc:
        items.append(Item(f"clean_equivalent_{suffix}", title, note=str(exc)))
    choice = decision.decision_table(df, model=model, damage_mode=damage_mode, n_boot=n_boot, n_total=n_total,
                                     price_label=settings.price_label, price_audit=settings.price_audit)
    title = f"Buy or clean? The cheapest route to each target ({setup})"
    if choice.empty:
        return [*items, Item(f"decision_{suffix}", title, note="the current set already reaches the best measured "
                                                               "accuracy: there is no target to buy")]
    prices = f"price_label {settings.price_label:g}, price_audit {settings.price_audit:g}. "
    return [*items, Item(f"cheapest_{suffix}", title, table=decision.cheapest_routes(choice),
                         caption=prices + DECISION_CAPTION),
            Item(f"decision_{suffix}", f"Buy or clean? What each route costs ({setup})",
                 figure=plots.plot_decision(choice, price_label=settings.price_label,
                                            price_audit=settings.price_audit))]


def repair_items(df: pd.DataFrame) -> list[Item]:
    """What repair buys back and how well it detects the damage, when `repair` was swept."""
    title = "What repair buys back"
    if not decision.has_repair(df):
        return [Item("repair", title, note="the results have no repair axis (every trial trained on its labels as "
                                           "given: repair none)")]
    curves = decision.repair_curves(df)
    if curves.empty or curves.groupby(["damage_mode", "model"])["damage_frac"].nunique().max() < 2:
        return [Item("repair", title, note="repair was not crossed with two or more damage_frac values")]
    items = [Item("repair", title, figure=plots.plot_repair(curves))]
    title = "How well repair finds the damaged labels"
    if not set(decision.DETECTION_COLUMNS.values()) <= set(df.columns):
        return [*items, Item("detection", title, note="the results record no detection precision and recall")]
    detection = decision.detection_curves(df)
    if detection[["precision", "recall"]].isna().all().all():
        return [*items, Item("detection", title, note="no repaired trial has detection precision or recall")]
    return [*items, Item("detection", title, figure=plots.plot_detection(detection))]


def _training_labels(dataset: Mapping[str, Any] | None = None) -> tuple[np.ndarray | None, str]:
    """The training labels of the sweep's dataset (its spec's `dataset`, default
    Fashion-MNIST) via datavsmath.trainables.datasets, or the reason they are unavailable."""
    try:
        return load_dataset(dict(dataset) if dataset else "fashion_mnist").y_train, ""
    except (ImportError, OSError, ValueError) as exc:
        return None, f"the training labels could not be loaded ({type(exc).__name__}: {exc})"


def transition_items(df: pd.DataFrame, *, info: DatasetInfo = DATASET) -> list[Item]:
    """Each damage mode's realized transition T as a heatmap, beside the damage
    bars; nothing for results that record none (sweeps of before the transition modes)."""
    transitions = aggregate.realized_transitions(df)
    if transitions.empty:
        return []
    return [Item("transitions", "Where damaged labels went, per damage mode",
                 figure=plots.plot_transitions(transitions, class_names=info.class_names))]


def label_damage_item(df: pd.DataFrame, *, labels: np.ndarray | None, info: DatasetInfo = DATASET,
                      dataset: Mapping[str, Any] | None = None) -> Item:
    """Figure 5: the labels one true label receives under random and constant damage.

    labels: the training labels (default: read from `dataset`, the spec's config); info:
    the dataset's facts (its K classes and their names; default Fashion-MNIST's)."""
    title = "What damage does to labels"
    modes = [m for m in DAMAGED_MODES if m in set(aggregate.finished(df)["damage_mode"])]
    if not modes:
        return Item("labels", title, note="no trial damaged labels (damage_mode random or constant)")
    note = ""
    if labels is None:
        labels, note = _training_labels(dataset)
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


# --- HTML ------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1280px; color: #222; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table.data { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
table.data th, table.data td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
table.data th { background: #f3f3f3; }
.skipped { color: #8a5a00; } pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
"""


def _fmt(value: float, spec: str) -> str:
    """A table cell: "—" for NaN (no value), "never" for inf (a CI bound that never crosses)."""
    if np.isnan(value):
        return "—"
    return NEVER if np.isinf(value) else format(value, spec)


COLUMN_FORMATS = {
    "quality": ".2f", "acc": ".4f", "auc": ".4f", "max_acc": ".4f", "max_auc": ".4f", "sample_frac": ".3f",
    "num_obs": ",.0f", "ci_low": ",.0f", "ci_high": ",.0f", "d_obs": ".2f", "d_num_obs_d_quality": ",.0f",
    "elasticity": ".2f", "damage_frac": ".2f",
    "d_num_obs_d_quality_lo": ",.0f", "d_num_obs_d_quality_hi": ",.0f", "target": ".4f", "clean_equivalent": ",.0f",
    "clean_per_damaged": ".2f", "cost": ",.0f", "p_cheapest": ".2f",
    **{f"cost_{route}": ",.0f" for route in plots.ROUTE_TITLES},
}


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """Text version of a table: numbers formatted, levels that never clear marked "never"."""
    out = table.astype(object).copy()
    for column, spec in COLUMN_FORMATS.items():
        if column in out.columns:
            out[column] = [_fmt(np.nan if pd.isna(v) else float(v), spec) for v in table[column]]
    if "reached" in table.columns:
        for column in ("num_obs", "sample_frac", *METRICS):
            if column in out.columns:
                out.loc[~table["reached"].astype(bool), column] = NEVER
    return out


def _figure_html(item: Item, figure: go.Figure) -> str:
    expected = sum(trace.visible is not False for trace in figure.data)
    body = pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=f"fig-{item.key}",
                       config={"responsive": True, "displaylogo": False})
    return (f'<div class="figure" data-figure="{item.key}" data-expected-traces="{expected}">{body}</div>')


def _section(item: Item) -> str:
    title = f"<h2 id=\"{item.key}\">{html.escape(item.title)}</h2>"
    if item.caption:
        title += f"<p class=\"caption\" data-caption=\"{item.key}\">{html.escape(item.caption)}</p>"
    if item.figure is not None:
        return f"<section class=\"figure-section\">{title}{_figure_html(item, item.figure)}</section>"
    if item.table is not None:
        table = display_table(item.table).to_html(index=False, classes="data", border=0, escape=True)
        return f"<section class=\"table-section\" data-table=\"{item.key}\">{title}{table}</section>"
    return f"<section class=\"skipped\">{title}<p>Not shown: {html.escape(item.note)}.</p></section>"


@dataclass(frozen=True)
class Live:
    """A report written while its sweep runs: `finished` of `total` trials, reloading itself
    every `reload_s` seconds (the final report has no Live and does not reload)."""

    finished: int
    total: int
    reload_s: int = 30


def _live_banner(live: Live | None) -> str:
    if live is None:
        return ""
    updated = time.strftime("%H:%M")
    return (f"<p class=\"live\" data-live=\"{live.finished}/{live.total}\">live: {live.finished} of "
            f"{live.total} trials finished, updated {updated}; this page reloads every {live.reload_s} s "
            "until the sweep ends</p>")


def _dataset_fact(facts: Mapping[str, Any] | None) -> str:
    """The header's dataset line: name, classes, sizes, input, fingerprint; "" without facts."""
    if not facts:
        return ""
    shape = "x".join(str(d) for d in facts["input_shape"])
    text = (f"{facts['name']}: {len(facts['class_names'])} classes ({', '.join(map(str, facts['class_names']))}), "
            f"{facts['n_train']:,} train + {facts['n_test']:,} test, {facts.get('input_kind', '')} {shape}, "
            f"sha256 {str(facts['fingerprint'])[:16]}…")
    return f"<dt>dataset</dt><dd data-dataset=\"{html.escape(str(facts['name']))}\">{html.escape(text)}</dd>"


def _header(df: pd.DataFrame, *, name: str, results: str, spec_text: str | None, summary: dict,
            dataset: Mapping[str, Any] | None = None) -> str:
    counts = ", ".join(f"{s} {n}" for s, n in summary["status_counts"].items())
    duration = summary["duration_s"]
    span = (f"{summary['start_time']} → {summary['end_time']} ({duration / 60:.1f} min)"
            if duration is not None else "unknown (no trial times recorded)")
    axes = "".join(f"<dt>{a}</dt><dd>{html.escape(_values_text(df, a))}</dd>" for a in AXES
                   if a not in AXIS_DEFAULTS or set(df[a].dropna()) - {AXIS_DEFAULTS[a]})  # a defaulted axis when swept
    facts = (f"<dl class=\"facts\"><dt>results</dt><dd>{html.escape(results)}</dd>"
             f"<dt>trials</dt><dd>{summary['n_trials']} ({counts})</dd>"
             f"<dt>failures</dt><dd>{summary['n_failed']} errored, {summary['n_missing']} missing, "
             f"{summary['n_unfinished']} unfinished</dd><dt>time span</dt><dd>{html.escape(span)}</dd>"
             f"{_dataset_fact(dataset)}{axes}</dl>")
    failures = ""
    if summary["failures"]:
        shown = pd.DataFrame(summary["failures"][:MAX_FAILURES_SHOWN])
        more = len(summary["failures"]) - len(shown)
        failures = ("<details open><summary>Trials that did not finish</summary>"
                    + shown.to_html(index=False, classes="data failures", border=0, na_rep="—")
                    + (f"<p>… and {more} more.</p>" if more > 0 else "") + "</details>")
    spec = (f"<details><summary>spec.yaml</summary><pre>{html.escape(spec_text)}</pre></details>" if spec_text
            else "<p>No spec.yaml next to the results; the axes above are the values observed.</p>")
    return f"<header><h1>datavsmath report: {html.escape(name)}</h1>{facts}{spec}{failures}</header>"


def render_html(df: pd.DataFrame, items: list[Item], *, name: str, results: str, spec_text: str | None,
                live: Live | None = None, dataset: Mapping[str, Any] | None = None) -> str:
    """The whole report page, plotly.js inlined in <head>; a live page reloads itself."""
    sections = "\n".join(_section(item) for item in items)
    reload = f"<meta http-equiv=\"refresh\" content=\"{live.reload_s}\">" if live else ""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{reload}"
            f"<title>datavsmath report: {html.escape(name)}</title><style>{STYLE}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>{_live_banner(live)}"
            f"{_header(df, name=name, results=results, spec_text=spec_text, summary=summarize(df), dataset=dataset)}"
            f"{sections}</body></html>\n")


# --- files -----------------------------------------------------------------------------

def default_out(results: str | Path) -> Path:
    """report.html inside an experiment directory, next to a results file, or in the
    working directory for a remote URI."""
    if is_uri(results):
        return Path.cwd() / REPORT_NAME
    path = Path(results)
    return (path if path.is_dir() else path.parent) / REPORT_NAME


def write_tables(items: list[Item], *, out: Path) -> list[Path]:
    """Each table as <out stem>_<key>.csv (raw numbers) and .md (formatted) next to `out`."""
    written = []
    for item in items:
        if item.table is None:
            continue
        csv_path, md_path = (out.with_name(f"{out.stem}_{item.key}{suffix}") for suffix in (".csv", ".md"))
        item.table.to_csv(csv_path, index=False)
        md_path.write_text(f"# {item.title}\n\n{display_table(item.table).to_markdown(index=False)}\n")
        written += [csv_path, md_path]
    return written


@contextmanager
def _chrome_for_kaleido() -> Iterator[None]:
    """Point kaleido at Debian's Chromium (BROWSER_PATH) unless a browser is configured."""
    if "BROWSER_PATH" in os.environ or not CHROMIUM.exists():
        yield
        return
    os.environ["BROWSER_PATH"] = str(CHROMIUM)
    try:
        yield
    finally:
        os.environ.pop("BROWSER_PATH", None)


def write_pngs(items: list[Item], *, out: Path) -> list[Path]:
    """Each figure as <out stem>_<key>.png via kaleido (needs Chrome / Chromium)."""
    figures = [item for item in items if item.figure is not None]
    paths = [out.with_name(f"{out.stem}_{item.key}.png") for item in figures]
    if not figures:
        return []
    try:
        with _chrome_for_kaleido():
            pio.write_images([item.figure for item in figures], paths, width=1200)
    except Exception as exc:  # kaleido's errors (no Chrome, browser crash) carry no common base class
        raise RuntimeError(f"PNG export with kaleido failed: {type(exc).__name__}: {exc}. kaleido needs Chrome "
                           f"or Chromium: set BROWSER_PATH to its executable (e.g. {CHROMIUM})") from exc
    return paths


def _load_references(reference: str | Path | Sequence[str | Path] | None, *, frac_axis: str,
                     damage_mode: str | None) -> pd.DataFrame | None:
    if reference is None:
        return None
    paths = [reference] if isinstance(reference, (str, Path)) else list(reference)
    if not paths:
        return None
    return pd.concat([load_results(p, frac_axis=frac_axis, damage_mode=damage_mode) for p in paths],
                     ignore_index=True)


def stored_spec(results: str | Path) -> Spec | None:
    """The spec stored with the results: in an experiment directory, or beside a results
    file; None when there is none or it does not parse."""
    text = str(results)
    folder = text if storage.is_dir(text) else text.rsplit("/", 1)[0] if "/" in text else "."
    try:
        return read_stored_spec(folder)
    except (FileNotFoundError, SpecError):
        return None


def _settings_of(spec: Spec | None) -> TableSettings:
    """The tables' settings a spec asks for in `report:` (datavsmath.sweeps.spec), over the defaults."""
    report = spec.report if spec is not None else {}
    return TableSettings(model=report.get("model"),
                         thresholds={**tables.DEFAULT_THRESHOLDS, **report.get("thresholds", {})},
                         price_label=report.get("price_label", decision.DEFAULT_PRICE_LABEL),
                         price_audit=report.get("price_audit", decision.DEFAULT_PRICE_AUDIT))


def _report_name(results: str | Path, spec: Spec | None) -> str:
    if spec is not None:
        return spec.name
    _, inner = open_location(results)
    return inner.rstrip("/").rsplit("/", 1)[-1]


def build_items(df: pd.DataFrame, *, reference: pd.DataFrame | None = None, labels: np.ndarray | None = None,
                overrides: Mapping[str, Mapping[str, Any]] | None = None, settings: TableSettings = TableSettings(),
                n_boot: int = tables.DEFAULT_N_BOOT, info: DatasetInfo = DATASET,
                dataset: Mapping[str, Any] | None = None) -> list[Item]:
    """Every section of the report, in the talk's order, tables before the chart built on them.

    info: the dataset's facts (figure subtitles, "share of N obs", num_obs, class names;
    default Fashion-MNIST's); dataset: its spec config, to read the training labels from."""
    # The talk's sections describe the labels as given (repair none); the decision's compare the repairs.
    given = decision.of_repair(df, decision.NO_REPAIR)
    table_list = table_items(given, settings=settings, n_boot=n_boot, n_total=info.n_train)
    items = [size_item(given, overrides=overrides), damage_item(given),
             label_damage_item(given, labels=labels, info=info, dataset=dataset), *transition_items(given, info=info),
             *cross_items(given), *table_list, *economics_items(table_list),
             *decision_items(df, settings=settings, n_boot=n_boot, n_total=info.n_train),
             *reference_items(given, reference),
             drilldown_item(given, class_names=info.class_names)]
    for item in items:
        if item.figure is not None:
            plots.for_dataset(item.figure, info=info)
    return items


def write_report(results: str | Path, *, out: Path | None = None,
                 reference: str | Path | Sequence[str | Path] | None = None, png: bool = False,
                 labels: np.ndarray | None = None, reference_frac_axis: str = "sample_frac",
                 reference_damage_mode: str | None = None, settings: TableSettings | None = None,
                 live: Live | None = None, n_boot: int = tables.DEFAULT_N_BOOT) -> Path:
    """Write the HTML report of a sweep (atomically), its tables as CSV and Markdown, and optionally PNGs.

    results: anything `datavsmath.analysis.load.load_results` reads (experiment directory, local or URI,
        results.parquet / .csv, talk-format CSV).
    out: the HTML path (default: report.html in the experiment directory or next to the file).
    reference: one or more result sources drawn as a reference series (e.g. the talk's CSV),
        read with reference_frac_axis / reference_damage_mode (see `read_seed_csv`).
    png: also write <out stem>_<figure>.png for every figure (kaleido + Chromium).
    labels: Fashion-MNIST training labels for the label-damage figure (default: loaded
        with datavsmath.trainables.data when damage was swept).
    settings: the tables' model and thresholds (default: the stored spec's `report`, else
        TableSettings()).
    live: the sweep is still running: a banner with its progress, and the page reloads itself.
    n_boot: bootstrap resamples for the interpolated tables' CIs (default 200).
    Returns the HTML path.
    """
    df = load_results(results)
    ref = _load_references(reference, frac_axis=reference_frac_axis, damage_mode=reference_damage_mode)
    out = Path(out) if out is not None else default_out(results)
    if out.is_dir():
        raise ValueError(f"--out must be a file path, got the directory {out}")
    spec = stored_spec(results)
    info = (spec.dataset_info if spec else None) or DATASET  # a table not yet read: the sweep stored no facts
    items = build_items(df, reference=ref, labels=labels, overrides=spec.overrides if spec else None,
                        settings=settings or _settings_of(spec), n_boot=n_boot, info=info,
                        dataset=spec.dataset if spec else None)
    storage.write_text(out, render_html(df, items, name=_report_name(results, spec), results=str(results),
                                        spec_text=dump_spec(spec) if spec else None, live=live,
                                        dataset=spec.dataset_facts if spec else None))
    write_tables(items, out=out)
    if png:
        write_pngs(items, out=out)
    return out
