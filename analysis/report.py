"""`datavsmath report`: one self-contained HTML file that opens with the answer (the user's
situation and the cheapest route to each target) and a contents list, then every figure the
data supports (datavsmath.analysis.sections), and CSV / Markdown copies of the tables.

The only module of the package that writes files. plotly.js is inlined once, so the report
opens offline; figures whose axis was not swept are listed with the reason instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio

from datavsmath.analysis import plots, tables
from datavsmath.analysis.answer import Answer, answer
from datavsmath.analysis.coinciding_modes import coinciding_modes, collapse_note, reference_caption
from datavsmath.analysis.curves import DEFAULT_CURVE
from datavsmath.analysis.load import load_results
from datavsmath.analysis.page import Live, answer_section, display_table, render_html
from datavsmath.analysis.quality_exchange import exchange_items
from datavsmath.analysis.repair_effect import of_repair
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
)
from datavsmath.analysis.situation import SituationError, info_from_results
from datavsmath.analysis.trial_warnings import warning_lines
from datavsmath.sweeps.experiment_layout import (
    CONFUSION_REFERENCE_FILE,
    REPORT_FILE,
    SPEC_FILE,
    TUNER_FILE,
    read_stored_spec,
)
from datavsmath.sweeps.spec import Spec, SpecError, dump_spec
from datavsmath.trainables import storage
from datavsmath.trainables.datasets.common import DatasetInfo
from datavsmath.trainables.repair import NO_REPAIR
from datavsmath.trainables.storage import is_uri, open_location

# kaleido (PNG export) drives a Chrome; Debian's Chromium is used when none is configured.
CHROMIUM = Path("/usr/bin/chromium")


# --- files -----------------------------------------------------------------------------

def default_out(results: str | Path) -> Path | str:
    """report.html inside an experiment directory or next to a results file, local or on a URI
    (then a URI: the report goes where the experiment is)."""
    if is_uri(results):
        text = str(results).rstrip("/")
        return storage.sibling(text, REPORT_FILE) if text.endswith((".parquet", ".csv")) else storage.join(
            text, REPORT_FILE)
    path = Path(results)
    return (path if path.is_dir() else path.parent) / REPORT_FILE


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
    if folder is not None and target != folder / REPORT_FILE:
        raise ValueError(f"--out {out} is inside the experiment {folder}, where only its report "
                         f"{folder / REPORT_FILE} may be written; choose a path outside it")


def write_tables(items: list[Item], *, out: Path | str) -> list[Path | str]:
    """Each table as <out stem>_<key>.csv (raw numbers) and .md (formatted) next to `out`."""
    written: list[Path | str] = []
    stem = PurePosixPath(str(out)).stem
    for item in items:
        if item.table is None:
            continue
        csv_path, md_path = (storage.sibling(out, f"{stem}_{item.key}{suffix}") for suffix in (".csv", ".md"))
        storage.write_text(csv_path, item.table.to_csv(index=False))
        storage.write_text(md_path, f"# {item.title}\n\n{display_table(item.table).to_markdown(index=False)}\n")
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
                  n_boot: int = tables.DEFAULT_N_BOOT, stated: bool = False) -> tuple[Answer | None, str]:
    """(the answer for the settings' situation, "") or (None, why there is none); stated: the
    situation was given for this report (flags, keywords), so one it cannot answer raises
    SituationError instead."""
    try:
        return answer(df, current=settings.current, target=settings.target, prices=settings.prices,
                      n_total=n_total, curve=settings.curve, n_boot=n_boot), ""
    except ValueError as exc:
        if stated and isinstance(exc, SituationError):
            raise
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
             *(decision_items(df, model=model, damage_modes=modes, n_boot=n_boot, n_total=info.n_train,
                              curve=settings.curve)
               if model is not None else []),
             *reference_items(given, reference),
             drilldown_item(given, class_names=info.class_names)]
    for item in items:
        if item.figure is not None:
            plots.for_dataset(item.figure, info=info)
    return items


def write_report(results: str | Path, **options: Any) -> Path | str:
    """Write the HTML report of a sweep (write_report_and_answer, which takes the same
    keywords); returns the HTML path."""
    return write_report_and_answer(results, **options)[0]


def write_report_and_answer(results: str | Path, *, out: Path | str | None = None,
                            reference: str | Path | Sequence[str | Path] | None = None, png: bool = False,
                            labels: np.ndarray | None = None, reference_frac_axis: str = "sample_frac",
                            reference_damage_mode: str | None = None, settings: TableSettings | None = None,
                            situation: Mapping[str, Any] | None = None, live: Live | None = None,
                            n_boot: int = tables.DEFAULT_N_BOOT) -> tuple[Path | str, Answer | None, str]:
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
        (datavsmath.analysis.situation; e.g. `datavsmath report`'s flags): one the results cannot
        answer raises SituationError (a ValueError) before anything is written.
    live: the sweep is still running: a banner with its progress, and the page reloads itself.
    n_boot: draws of the crossings' intervals (default 200).
    Returns (the HTML path, the answer or None, why there is none).
    """
    ref = _load_references(reference, frac_axis=reference_frac_axis, damage_mode=reference_damage_mode)
    out = default_out(results) if out is None else str(out) if is_uri(out) else Path(out)
    inputs = [results, *([] if reference is None else [reference] if isinstance(reference, (str, Path)) else reference)]
    if isinstance(out, str):  # a URI: not an input, and no PNGs (kaleido writes local files)
        if any(str(source).rstrip("/") == out for source in inputs) or png:
            raise ValueError(f"--out {out} is an input of this report, or --png was asked for with a URI --out; "
                             f"choose a local --out")
    elif out.is_dir():
        raise ValueError(f"--out must be a file path, got the directory {out}")
    else:
        check_out(out, inputs=inputs)
    df, spec, info, settings, duplicates = _prepared(results, settings=settings, situation=situation)
    shown = df[~df["damage_mode"].isin(list(duplicates))]
    stated = any(value is not None for value in (situation or {}).values())
    result, why = report_answer(shown, settings=settings, n_total=info.n_train, n_boot=n_boot, stated=stated)
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
    if png and isinstance(out, Path):
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
