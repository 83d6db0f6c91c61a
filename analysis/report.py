"""`datavsmath report`: one self-contained HTML file that opens with the answer (the user's
situation and the cheapest route to each target) and a contents list, then every figure the
data supports (datavsmath.analysis.sections), and CSV / Markdown copies of the tables.

The only module of the package that writes files. plotly.js is inlined once, so the report
opens offline; figures whose axis was not swept are listed with the reason instead.
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from datavsmath.analysis import plots, tables
from datavsmath.analysis.answer import Answer, answer, answer_html
from datavsmath.analysis.curves import DEFAULT_CURVE
from datavsmath.analysis.exchange import exchange_items
from datavsmath.analysis.load import load_results, summarize
from datavsmath.analysis.modes import coinciding_modes, collapse_note, reference_caption
from datavsmath.analysis.repair_effect import NO_REPAIR, of_repair
from datavsmath.analysis.sections import (
    Item,
    TableSettings,
    cross_items,
    damage_item,
    decision_items,
    drilldown_item,
    economics_items,
    label_damage_item,
    reference_items,
    route_items,
    size_item,
    table_items,
    table_setups,
    transition_items,
    values_text,
)
from datavsmath.analysis.situation import info_from_results
from datavsmath.analysis.support import has_interval, no_interval_text
from datavsmath.analysis.trial_warnings import warning_lines
from datavsmath.sweeps.experiment_layout import CONFUSION_REFERENCE_FILE, SPEC_FILE, TUNER_FILE, read_stored_spec
from datavsmath.sweeps.spec import AXES, AXIS_DEFAULTS, Spec, SpecError, dump_spec
from datavsmath.trainables import storage
from datavsmath.trainables.data import DatasetInfo
from datavsmath.trainables.metrics import METRICS
from datavsmath.trainables.storage import is_uri, open_location

REPORT_NAME = "report.html"
# kaleido (PNG export) drives a Chrome; Debian's Chromium is used when none is configured.
CHROMIUM = Path("/usr/bin/chromium")
MAX_FAILURES_SHOWN = 100
NEVER = "never"


# --- HTML ------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1280px; color: #222; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table.data { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
table.data th, table.data td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
table.data th { background: #f3f3f3; }
.skipped { color: #8a5a00; } .scroll { overflow-x: auto; max-width: 100%; }
.answer-section { background: #f4f8ff; border: 1px solid #c9d8f0; padding: .2rem 1.2rem 1rem; }
.answer .situation { font-weight: 600; } .note { color: #8a5a00; }
pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; }
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
    "clean_per_damaged": ".2f", "cost": ",.0f", "p_cheapest": ".2f", "quality_to": ".2f", "n_final": ",.0f",
    "n_bought": ",.0f", "n_audited": ",.0f", "bound": ",.0f", "extrapolation": ".1f", "p_reachable": ".2f",
}
INTERVAL_COLUMNS = ("ci_low", "ci_high", "d_num_obs_d_quality_lo", "d_num_obs_d_quality_hi", "p_cheapest",
                    "p_reachable")


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
    if "status" in table.columns:  # a route: "beyond the data" or "not reached" instead of a cost
        unpriced = (table["status"] != "priced").to_numpy()
        for column in ("cost", "ci_low", "ci_high", "n_final", "n_bought", "n_audited"):
            if column in out.columns:
                out.loc[unpriced, column] = table.loc[unpriced, "status"]
    if "n_seeds" in table.columns:  # too few seeds: no interval, and a table that says so
        few = ~np.array([has_interval(n) for n in table["n_seeds"].fillna(0)], dtype=bool)
        for column in INTERVAL_COLUMNS:
            if column in out.columns:
                out.loc[few, column] = [no_interval_text(n) for n in table.loc[few, "n_seeds"].fillna(0)]
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
        return (f"<section class=\"table-section\" data-table=\"{item.key}\">{title}"
                f"<div class=\"scroll\">{table}</div></section>")
    return f"<section class=\"skipped\">{title}<p>Not shown: {html.escape(item.note)}.</p></section>"


@dataclass(frozen=True)
class Live:
    """A report written while its sweep runs: `finished` of `total` trials, reloading itself
    every `reload_s` seconds (the final report has no Live and does not reload)."""

    finished: int
    total: int
    reload_s: int = 30


def heartbeat_path(out: Path) -> Path:
    """The script beside a live report that its sweep's driver rewrites every HEARTBEAT_S
    seconds while it runs: `datavsmathHeartbeat = <ms since 1970>;`."""
    return out.with_name(f"{out.stem}_live.js")


def heartbeat_script(now_s: float) -> str:
    return f"window.datavsmathHeartbeat = {int(now_s * 1000)};\n"


# The live page reloads itself only while the heartbeat is younger than this many reload
# periods: a driver that was killed stops it, and the page says so.
STALE_RELOADS = 3


def _live_banner(live: Live | None) -> str:
    if live is None:
        return ""
    updated = time.strftime("%H:%M")
    return (f"<p class=\"live\" data-live=\"{live.finished}/{live.total}\">live: {live.finished} of "
            f"{live.total} trials finished, updated {updated}; this page reloads every {live.reload_s} s "
            "until the sweep ends</p>")


def _live_head(live: Live | None, *, out: Path) -> str:
    """A live page's reload: every reload_s while the driver's heartbeat is fresh; else the
    banner says that the sweep stopped updating the page, which then stays as it is."""
    if live is None:
        return ""
    every_ms = live.reload_s * 1000
    stopped = ("the sweep stopped updating this page (its driver is no longer running); "
               "it shows the trials finished until then")
    return (f"<script src=\"{html.escape(heartbeat_path(out).name)}\"></script><script>"
            f"(function () {{ var beat = window.datavsmathHeartbeat || 0;"
            f" if (Date.now() - beat < {STALE_RELOADS * every_ms}) {{"
            f" setTimeout(function () {{ location.reload(); }}, {every_ms}); return; }}"
            f" document.addEventListener('DOMContentLoaded', function () {{"
            f" var p = document.querySelector('p.live'); p.dataset.stopped = '1';"
            f" p.textContent = p.textContent.split(';')[0] + '; {stopped}'; }}); }})();</script>")


def _dataset_fact(facts: Mapping[str, Any] | None) -> str:
    """The header's dataset line: name, classes, sizes, input, fingerprint; "" without facts."""
    if not facts:
        return ""
    shape = "x".join(str(d) for d in facts["input_shape"])
    text = (f"{facts['name']}: {len(facts['class_names'])} classes ({', '.join(map(str, facts['class_names']))}), "
            f"{facts['n_train']:,} train + {facts['n_test']:,} test, {facts.get('input_kind', '')} {shape}, "
            f"sha256 {str(facts['fingerprint'])[:16]}…")
    return f"<dt>dataset</dt><dd data-dataset=\"{html.escape(str(facts['name']))}\">{html.escape(text)}</dd>"


def _run_facts(df: pd.DataFrame, *, results: str, spec_text: str | None, summary: dict,
               dataset: Mapping[str, Any] | None = None) -> str:
    """The run's facts: results, trials, failures, time span, dataset, axes, spec."""
    counts = ", ".join(f"{s} {n}" for s, n in summary["status_counts"].items())
    duration = summary["duration_s"]
    span = (f"{summary['start_time']} → {summary['end_time']} ({duration / 60:.1f} min)"
            if duration is not None else "unknown (no trial times recorded)")
    axes = "".join(f"<dt>{a}</dt><dd>{html.escape(values_text(df, a))}</dd>" for a in AXES
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
        failures = ("<details open><summary>Trials that did not finish</summary><div class=\"scroll\">"
                    + shown.to_html(index=False, classes="data failures", border=0, na_rep="—")
                    + "</div>" + (f"<p>… and {more} more.</p>" if more > 0 else "") + "</details>")
    spec = (f"<details><summary>spec.yaml</summary><pre>{html.escape(spec_text)}</pre></details>" if spec_text
            else "<p>No spec.yaml next to the results; the axes above are the values observed.</p>")
    return f"<section class=\"run\"><h2 id=\"run\">The run</h2>{facts}{spec}{failures}</section>"


def answer_section(result: Answer | None, *, why: str = "", notes: Sequence[str] = ()) -> str:
    """The report's first section: the answer's lines (or why there is none) and the notes a
    reader needs before any figure (collapsed damage modes, warnings raised in trials)."""
    body = answer_html(result) if result is not None else f"<p class=\"skipped\">No answer: {html.escape(why)}.</p>"
    extra = "".join(f"<p class=\"note\">{html.escape(note)}</p>" for note in notes)
    return f"<section class=\"answer-section\" data-answer><h2 id=\"answer\">The answer</h2>{body}{extra}</section>"


def contents(items: Sequence[Item]) -> str:
    """The contents list: one link per section, the run's facts last."""
    links = "".join(f"<li><a href=\"#{html.escape(item.key)}\">{html.escape(item.title)}</a>"
                    f"{'' if item.figure is not None or item.table is not None else ' (not shown)'}</li>"
                    for item in items)
    return (f"<nav class=\"contents\"><h2 id=\"contents\">Contents</h2><ol>{links}"
            "<li><a href=\"#run\">The run: trials, dataset, spec</a></li></ol></nav>")


def render_html(df: pd.DataFrame, items: list[Item], *, name: str, results: str, spec_text: str | None,
                live: Live | None = None, dataset: Mapping[str, Any] | None = None, answer_block: str = "",
                out: Path = Path(REPORT_NAME)) -> str:
    """The whole report page: the answer first, then the contents, every section and the
    run's facts; plotly.js inlined in <head>; a live page reloads itself while the sweep's
    driver keeps `heartbeat_path(out)` fresh."""
    sections = "\n".join(_section(item) for item in items)
    reload = _live_head(live, out=out)
    facts = _run_facts(df, results=results, spec_text=spec_text, summary=summarize(df), dataset=dataset)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{reload}"
            f"<title>datavsmath report: {html.escape(name)}</title><style>{STYLE}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>{_live_banner(live)}"
            f"<header><h1>datavsmath report: {html.escape(name)}</h1></header>"
            f"{answer_block}{contents(items)}{sections}{facts}</body></html>\n")


# --- files -----------------------------------------------------------------------------

def default_out(results: str | Path) -> Path:
    """report.html inside an experiment directory, next to a results file, or in the
    working directory for a remote URI."""
    if is_uri(results):
        return Path.cwd() / REPORT_NAME
    path = Path(results)
    return (path if path.is_dir() else path.parent) / REPORT_NAME


def _experiment_folder(path: Path) -> Path | None:
    """The nearest folder holding `path` that is an experiment's (it has a spec.yaml or Tune's
    tuner.pkl), else None."""
    for folder in path.resolve().parents:
        if (folder / SPEC_FILE).is_file() or (folder / TUNER_FILE).is_file():
            return folder
    return None


def check_out(out: Path, *, inputs: Sequence[str | Path]) -> None:
    """ValueError unless `out` may receive the report: never a file the report reads
    (`inputs`: the results and references, local paths), and inside an experiment folder
    only its report.html."""
    target = out.resolve()
    for source in inputs:
        if not is_uri(source) and Path(source).resolve() == target:
            raise ValueError(f"--out {out} is an input of this report ({source}); choose another path")
    folder = _experiment_folder(out)
    if folder is not None and target != folder / REPORT_NAME:
        raise ValueError(f"--out {out} is inside the experiment {folder}, where only its report "
                         f"{folder / REPORT_NAME} may be written; choose a path outside it")


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


def settings_of(report: Mapping[str, Any] | None) -> TableSettings:
    """The settings a spec's `report:` asks for (datavsmath.sweeps.spec's normal form), over the
    defaults; the older price_label / price_audit keys are prices.label / prices.audit."""
    report = dict(report or {})
    prices = dict(report.get("prices") or {})
    for old, new in (("price_label", "label"), ("price_audit", "audit")):
        if old in report:
            prices.setdefault(new, report[old])
    return TableSettings(model=report.get("model"), thresholds={**tables.DEFAULT_THRESHOLDS,
                                                                **report.get("thresholds", {})},
                         current=report.get("current"), target=report.get("target"), prices=prices or None,
                         curve=report.get("curve", DEFAULT_CURVE))


def recorded_fingerprint(df: pd.DataFrame, spec: Spec | None) -> str | None:
    """The dataset fingerprint the sweep recorded: its stored facts', else the one its
    finished trials share; None when nothing records one."""
    if spec is not None and spec.dataset_facts and spec.dataset_facts.get("fingerprint"):
        return str(spec.dataset_facts["fingerprint"])
    recorded = df["dataset_fingerprint"].dropna().unique() if "dataset_fingerprint" in df.columns else []
    return str(recorded[0]) if len(recorded) == 1 else None


def _report_name(results: str | Path, spec: Spec | None) -> str:
    if spec is not None:
        return spec.name
    _, inner = open_location(results)
    return inner.rstrip("/").rsplit("/", 1)[-1]


def report_answer(df: pd.DataFrame, *, settings: TableSettings, n_total: int,
                  n_boot: int = tables.DEFAULT_N_BOOT) -> tuple[Answer | None, str]:
    """(the answer for the settings' situation, "") or (None, why there is none)."""
    try:
        return answer(df, current=settings.current, target=settings.target, prices=settings.prices,
                      n_total=n_total, n_boot=n_boot), ""
    except ValueError as exc:
        return None, str(exc)


def build_items(df: pd.DataFrame, *, info: DatasetInfo, reference: pd.DataFrame | None = None,
                labels: np.ndarray | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                settings: TableSettings | None = None, n_boot: int = tables.DEFAULT_N_BOOT,
                dataset: Mapping[str, Any] | None = None, fingerprint: str | None = None,
                result: Answer | None = None, confusion_reference: Mapping[str, Any] | None = None) -> list[Item]:
    """Every section of the report, in the talk's order, tables before the chart built on them,
    then the routes of the answer `result` and the measurements they rest on.

    info: the dataset's facts (figure subtitles, "share of N obs", num_obs, class names);
    dataset: its spec config, to read the training labels from, when their fingerprint is the
    recorded `fingerprint` (None: nothing recorded, not checked). The tables describe the
    settings' model, else the answer's. confusion_reference: the sweep's stored reference record,
    captioned beside the transition heatmaps."""
    # The talk's sections describe the labels as given (repair none); the decision's compare the repairs.
    given = of_repair(df, NO_REPAIR)
    settings = settings or TableSettings()
    model = settings.model or (result.situation.model if result is not None else None)
    tabled = TableSettings(model=model, thresholds=settings.thresholds, curve=settings.curve)
    table_list = table_items(given, settings=tabled, n_boot=n_boot, n_total=info.n_train)
    model, modes, _ = table_setups(given, model=model)
    items = [*(route_items(result) if result is not None else []),
             size_item(given, overrides=overrides), damage_item(given),
             label_damage_item(given, labels=labels, info=info, dataset=dataset, fingerprint=fingerprint),
             *transition_items(given, info=info, caption=reference_caption(confusion_reference)
                               if "confusion" in set(given["damage_mode"]) else ""),
             *cross_items(given), *table_list, *economics_items(table_list),
             *exchange_items(given, model=model, modes=modes, n_classes=info.n_classes, n_total=info.n_train,
                             threshold=settings.thresholds.get("acc"), curve=settings.curve),
             *(decision_items(df, model=model, damage_modes=modes, n_boot=n_boot, n_total=info.n_train)
               if model is not None else []),
             *reference_items(given, reference),
             drilldown_item(given, class_names=info.class_names)]
    for item in items:
        if item.figure is not None:
            plots.for_dataset(item.figure, info=info)
    return items


def write_report(results: str | Path, **options: Any) -> Path:
    """Write the HTML report of a sweep (write_report_and_answer, which takes the same
    keywords); returns the HTML path."""
    return write_report_and_answer(results, **options)[0]


def write_report_and_answer(results: str | Path, *, out: Path | None = None,
                            reference: str | Path | Sequence[str | Path] | None = None, png: bool = False,
                            labels: np.ndarray | None = None, reference_frac_axis: str = "sample_frac",
                            reference_damage_mode: str | None = None, settings: TableSettings | None = None,
                            situation: Mapping[str, Any] | None = None, live: Live | None = None,
                            n_boot: int = tables.DEFAULT_N_BOOT) -> tuple[Path, Answer | None, str]:
    """Write the HTML report of a sweep (atomically), its tables as CSV and Markdown, and optionally PNGs.

    results: anything `datavsmath.analysis.load.load_results` reads (experiment directory, local or URI,
        results.parquet / .csv, talk-format CSV).
    out: the HTML path (default: report.html in the experiment directory or next to the file).
    reference: one or more result sources drawn as a reference series (e.g. the talk's CSV),
        read with reference_frac_axis / reference_damage_mode (see `read_seed_csv`).
    png: also write <out stem>_<figure>.png for every figure (kaleido + Chromium).
    labels: training labels for the label-damage figure (default: read from the spec's dataset
        when damage was swept).
    settings: the tables' model and thresholds and the user's situation (default: the stored
        spec's `report`, else TableSettings()); situation: {current, target, prices} over them
        (datavsmath.analysis.situation; e.g. `datavsmath report`'s flags).
    live: the sweep is still running: a banner with its progress, and the page reloads itself.
    n_boot: bootstrap resamples for the intervals (default 200).
    Returns (the HTML path, the answer or None, why there is none).
    """
    ref = _load_references(reference, frac_axis=reference_frac_axis, damage_mode=reference_damage_mode)
    out = Path(out) if out is not None else default_out(results)
    if out.is_dir():
        raise ValueError(f"--out must be a file path, got the directory {out}")
    check_out(out, inputs=[results, *([] if reference is None else [reference] if isinstance(reference, (str, Path))
                                      else reference)])
    df, spec, info, settings, duplicates = _prepared(results, settings=settings, situation=situation)
    shown = df[~df["damage_mode"].isin(list(duplicates))]
    result, why = report_answer(shown, settings=settings, n_total=info.n_train, n_boot=n_boot)
    items = build_items(shown, reference=ref, labels=labels, overrides=spec.overrides if spec else None,
                        settings=settings, n_boot=n_boot, info=info, dataset=spec.dataset if spec else None,
                        fingerprint=recorded_fingerprint(df, spec), result=result,
                        confusion_reference=confusion_reference(results))
    notes = [*([collapse_note(duplicates, n_classes=info.n_classes)] if duplicates else []), *warning_lines(df)]
    storage.write_text(out, render_html(df, items, name=_report_name(results, spec), results=str(results),
                                        spec_text=dump_spec(spec) if spec else None, live=live,
                                        dataset=spec.dataset_facts if spec else None, out=out,
                                        answer_block=answer_section(result, why=why, notes=notes)))
    write_tables(items, out=out)
    if png:
        write_pngs(items, out=out)
    return out, result, why


def confusion_reference(results: str | Path) -> dict[str, Any] | None:
    """The stored confusion reference record of a local experiment folder; None without one."""
    path = Path(str(results)) / CONFUSION_REFERENCE_FILE
    try:
        return json.loads(path.read_text()) if not is_uri(results) and path.is_file() else None
    except (OSError, ValueError):  # unreadable: the heatmaps go without the caption
        return None


def experiment_answer(results: str | Path, *, situation: Mapping[str, Any] | None = None,
                      n_boot: int = tables.DEFAULT_N_BOOT) -> tuple[Answer | None, str]:
    """The answer of the report of `results` without writing it: (answer, "") or (None, why)."""
    df, _, info, settings, duplicates = _prepared(results, settings=None, situation=situation)
    shown = df[~df["damage_mode"].isin(list(duplicates))]
    return report_answer(shown, settings=settings, n_total=info.n_train, n_boot=n_boot)


def _prepared(results: str | Path, *, settings: TableSettings | None, situation: Mapping[str, Any] | None
              ) -> tuple[pd.DataFrame, Spec | None, DatasetInfo, TableSettings, dict[str, str]]:
    """(results, stored spec, the dataset's facts, settings with the situation over them, the
    coinciding damage modes)."""
    df = load_results(results)
    spec = stored_spec(results)
    # The dataset's facts: the stored spec's, else what the results themselves record.
    info = (spec.dataset_info if spec else None) or info_from_results(df)
    settings = settings or settings_of(spec.report if spec else None)
    settings = replace(settings, **{k: v for k, v in (situation or {}).items() if v is not None})
    return df, spec, info, settings, coinciding_modes(df, n_classes=info.n_classes)
