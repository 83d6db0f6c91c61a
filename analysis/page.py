"""The report's HTML page: the answer section, the contents, one section per figure or
table (tables formatted for reading: "never", "beyond the data", no interval with too few
seeds), the run's facts, and a live page's reload driven by its sweep's heartbeat.

Functions return strings; datavsmath.analysis.report assembles the items and writes files.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from datavsmath.analysis.answer import Answer, answer_html
from datavsmath.analysis.estimate_limits import has_interval, no_interval_text
from datavsmath.analysis.load import summarize
from datavsmath.analysis.sections import Item, values_text
from datavsmath.sweeps.spec import AXES, AXIS_DEFAULTS
from datavsmath.trainables import storage
from datavsmath.trainables.metrics import METRICS

MAX_FAILURES_SHOWN = 100
NEVER = "never"


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
    "n_bought": ",.0f", "n_audited": ",.0f", "n_first": ",.0f", "bound": ",.0f", "extrapolation": ".1f",
    "p_reachable": ".2f",
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


def heartbeat_path(out: Path | str) -> Path | str:
    """The script beside a live report (a local path or a URI) that its sweep's driver rewrites
    every HEARTBEAT_S seconds while it runs: `datavsmathHeartbeat = <ms since 1970>;`."""
    return storage.sibling(out, f"{PurePosixPath(str(out)).stem}_live.js")


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


def _live_head(live: Live | None, *, out: Path | str) -> str:
    """A live page's reload: every reload_s while the driver's heartbeat is fresh; else the
    banner says that the sweep stopped updating the page, which then stays as it is."""
    if live is None:
        return ""
    every_ms = live.reload_s * 1000
    stopped = ("the sweep stopped updating this page (its driver is no longer running); "
               "it shows the trials finished until then")
    return (f"<script src=\"{html.escape(PurePosixPath(str(heartbeat_path(out))).name)}\"></script><script>"
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
                out: Path | str) -> str:
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
