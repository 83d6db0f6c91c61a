"""`datavsmath report`: one self-contained HTML file with every figure the data supports,
the talk's two tables (seed style and interpolated), and CSV / Markdown copies of the tables.

The only module of the package that writes files. plotly.js is inlined once, so the report
opens offline; figures whose axis was not swept are listed with the reason instead.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import yaml
from plotly.offline import get_plotlyjs

from analysis import aggregate, plots, tables
from analysis.load import FRAC_AXES, find_spec_text, load_results, summarize
from analysis.schema import METRICS
from sweeps.spec import AXES
from trainables.damage import DAMAGED_MODES
from trainables.data import load_fashion_mnist
from trainables.storage import is_uri, open_location

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
    # For tables: kind ("seed" / "interpolated"), metric, model and damage_mode.
    meta: dict[str, str] = field(default_factory=dict)


# --- what the data supports ------------------------------------------------------------

def _values_text(df: pd.DataFrame, axis: str) -> str:
    values = aggregate.distinct(df, axis)
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values) or "no finished trial"


def size_item(df: pd.DataFrame) -> Item:
    """Figure 1: metrics against sample_frac per model, clean labels."""
    curves = aggregate.size_curves(df)
    title = "Model Architectures and Training Batch Size"
    if curves["sample_frac"].nunique() < 2:
        return Item("size", title, note="sample_frac was not swept with clean labels "
                                        f"(damage_frac 0); sample_frac values: {_values_text(df, 'sample_frac')}")
    return Item("size", title, figure=plots.plot_size(curves))


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


def table_setups(df: pd.DataFrame) -> tuple[str | None, list[str], str]:
    """(model, damage modes, note) for the tables: cnn when present, else the first model;
    every damage mode crossed with sample_frac for it (aggregate.cross_candidates), else
    "none" (quality 1.0 only) when its clean sample_frac was swept."""
    models = aggregate.models_in_order(aggregate.finished(df)["model"].unique().tolist())
    if not models:
        return None, [], "no finished trials"
    model = tables.DEFAULT_MODEL if tables.DEFAULT_MODEL in models else models[0]
    modes = [mode for m, mode in aggregate.cross_candidates(df) if m == model]
    if modes:
        return model, modes, ""
    if aggregate.quality_rows(df, model=model, damage_mode="none")["sample_frac"].nunique() >= 2:
        return model, ["none"], ""
    return model, [], f"sample_frac was not swept for {model} (values: {_values_text(df, 'sample_frac')})"


def table_items(df: pd.DataFrame, *, n_boot: int = tables.DEFAULT_N_BOOT) -> list[Item]:
    """Both tables (seed style, interpolated) for acc > 0.90 and auc > 0.98, per damage mode."""
    model, modes, note = table_setups(df)
    if model is None or not modes:
        return [Item("tables", "Observations needed", note=note)]
    items = []
    for mode in modes:
        for metric in METRICS:
            where = f"{_target(metric)} ({_setup_text(model, mode)})"
            meta = {"metric": metric, "model": model, "damage_mode": mode}
            items.append(Item(f"seed_{metric}_{model}_{mode}", f"Observations needed for {where}, seed style",
                              table=tables.seed_table(df, metric=metric, model=model, damage_mode=mode),
                              meta={"kind": "seed", **meta}))
            items.append(Item(f"interpolated_{metric}_{model}_{mode}", f"Observations needed for {where}, interpolated",
                              table=tables.interpolated_table(df, metric=metric, model=model, damage_mode=mode,
                                                              n_boot=n_boot),
                              meta={"kind": "interpolated", **meta}))
    return items


def _setup_text(model: str, damage_mode: str) -> str:
    return f"{model}, clean labels" if damage_mode == "none" else f"{model}, {damage_mode} damage"


def _target(metric: str) -> str:
    return f"{metric} > {tables.DEFAULT_THRESHOLDS[metric]:.2f}"


def economics_items(table_list: list[Item]) -> list[Item]:
    """Figure 4: num_obs against quality per damage mode, from the computed tables."""
    by_setup: dict[tuple[str, str], dict[str, dict[str, pd.DataFrame]]] = {}
    for item in table_list:
        if item.table is None:
            continue
        setup = by_setup.setdefault((item.meta["model"], item.meta["damage_mode"]), {"seed": {}, "interpolated": {}})
        setup[item.meta["kind"]][_target(item.meta["metric"])] = item.table
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


def _training_labels() -> tuple[np.ndarray | None, str]:
    """Fashion-MNIST's training labels via trainables.data, or the reason they are unavailable."""
    try:
        return load_fashion_mnist().y_train, ""
    except (ImportError, OSError, ValueError) as exc:
        return None, f"the training labels could not be loaded ({type(exc).__name__}: {exc})"


def label_damage_item(df: pd.DataFrame, *, labels: np.ndarray | None) -> Item:
    """Figure 5: the labels one true label receives under random and constant damage."""
    title = "What damage does to labels"
    modes = [m for m in DAMAGED_MODES if m in set(aggregate.finished(df)["damage_mode"])]
    if not modes:
        return Item("labels", title, note="no trial damaged labels (damage_mode random or constant)")
    note = ""
    if labels is None:
        labels, note = _training_labels()
    if labels is None:
        return Item("labels", title, note=note)
    seed = int(aggregate.distinct(df, "seed")[0]) if aggregate.distinct(df, "seed") else 0
    counts = aggregate.label_damage_counts(labels, seed=seed)
    return Item("labels", title, figure=plots.plot_label_damage(
        counts, true_label=aggregate.DEMO_TRUE_LABEL, damage_frac=aggregate.DEMO_DAMAGE_FRAC))


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


def drilldown_item(df: pd.DataFrame) -> Item:
    """Per-trial drill-down: confusion matrices of the worst and best trial per model."""
    trials = aggregate.drilldown_trials(df)
    title = "Per-trial drill-down: confusion matrices (worst and best trial per model)"
    if trials.empty:
        return Item("confusion", title, note="no finished trial has a confusion matrix")
    return Item("confusion", title, figure=plots.plot_confusion(trials))


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
    if item.figure is not None:
        return f"<section class=\"figure-section\">{title}{_figure_html(item, item.figure)}</section>"
    if item.table is not None:
        table = display_table(item.table).to_html(index=False, classes="data", border=0, escape=True)
        return f"<section class=\"table-section\" data-table=\"{item.key}\">{title}{table}</section>"
    return f"<section class=\"skipped\">{title}<p>Not shown: {html.escape(item.note)}.</p></section>"


def _header(df: pd.DataFrame, *, name: str, results: str, spec_text: str | None, summary: dict) -> str:
    counts = ", ".join(f"{s} {n}" for s, n in summary["status_counts"].items())
    duration = summary["duration_s"]
    span = (f"{summary['start_time']} → {summary['end_time']} ({duration / 60:.1f} min)"
            if duration is not None else "unknown (no trial times recorded)")
    axes = "".join(f"<dt>{a}</dt><dd>{html.escape(_values_text(df, a))}</dd>" for a in AXES)
    facts = (f"<dl class=\"facts\"><dt>results</dt><dd>{html.escape(results)}</dd>"
             f"<dt>trials</dt><dd>{summary['n_trials']} ({counts})</dd>"
             f"<dt>failures</dt><dd>{summary['n_failed']} errored, {summary['n_missing']} missing, "
             f"{summary['n_unfinished']} unfinished</dd><dt>time span</dt><dd>{html.escape(span)}</dd>{axes}</dl>")
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


def render_html(df: pd.DataFrame, items: list[Item], *, name: str, results: str, spec_text: str | None) -> str:
    """The whole report page, plotly.js inlined in <head>."""
    sections = "\n".join(_section(item) for item in items)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>datavsmath report: {html.escape(name)}</title><style>{STYLE}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
            f"{_header(df, name=name, results=results, spec_text=spec_text, summary=summarize(df))}"
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


def _report_name(results: str | Path, spec_text: str | None) -> str:
    if spec_text:
        spec = yaml.safe_load(spec_text)
        if isinstance(spec, dict) and spec.get("name"):
            return str(spec["name"])
    _, inner = open_location(results)
    return inner.rstrip("/").rsplit("/", 1)[-1]


def build_items(df: pd.DataFrame, *, reference: pd.DataFrame | None = None, labels: np.ndarray | None = None,
                n_boot: int = tables.DEFAULT_N_BOOT) -> list[Item]:
    """Every section of the report, in the talk's order, tables before the chart built on them."""
    table_list = table_items(df, n_boot=n_boot)
    return [size_item(df), damage_item(df), label_damage_item(df, labels=labels), *cross_items(df),
            *table_list, *economics_items(table_list), *reference_items(df, reference), drilldown_item(df)]


def write_report(results: str | Path, *, out: Path | None = None,
                 reference: str | Path | Sequence[str | Path] | None = None, png: bool = False,
                 labels: np.ndarray | None = None, reference_frac_axis: str = "sample_frac",
                 reference_damage_mode: str | None = None, n_boot: int = tables.DEFAULT_N_BOOT) -> Path:
    """Write the HTML report of a sweep, its tables as CSV and Markdown, and optionally PNGs.

    results: anything `analysis.load.load_results` reads (experiment directory, local or URI,
        results.parquet / .csv, talk-format CSV).
    out: the HTML path (default: report.html in the experiment directory or next to the file).
    reference: one or more result sources drawn as a reference series (e.g. the talk's CSV),
        read with reference_frac_axis / reference_damage_mode (see `read_seed_csv`).
    png: also write <out stem>_<figure>.png for every figure (kaleido + Chromium).
    labels: Fashion-MNIST training labels for the label-damage figure (default: loaded
        with trainables.data when damage was swept).
    n_boot: bootstrap resamples for the interpolated tables' CIs (default 200).
    Returns the HTML path.
    """
    df = load_results(results)
    ref = _load_references(reference, frac_axis=reference_frac_axis, damage_mode=reference_damage_mode)
    out = Path(out) if out is not None else default_out(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    spec_text = find_spec_text(results)
    items = build_items(df, reference=ref, labels=labels, n_boot=n_boot)
    out.write_text(render_html(df, items, name=_report_name(results, spec_text), results=str(results),
                               spec_text=spec_text), encoding="utf-8")
    write_tables(items, out=out)
    if png:
        write_pngs(items, out=out)
    return out
