"""Results of an experiment, in Python: the tidy frame, its tables, the decision, the figures
and the report. `load(path)` reads any experiment, made by `datavsmath.sweep` or the CLI.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datavsmath.analysis import tables
from datavsmath.analysis.load import load_results
from datavsmath.sweeps.adaptive_design import SearchSummary
from datavsmath.sweeps.experiment_layout import read_stored_spec
from datavsmath.sweeps.search_keys import is_adaptive
from datavsmath.sweeps.spec import AXES, Spec, SpecError, expand_trials
from datavsmath.trainables.checks import DatavsmathError
from datavsmath.trainables.damage import NO_DAMAGE

ERROR_COLUMNS = ("trial_id", *AXES, "error")
HEADLINE_ROWS = 8
# The notebook summary's answer: fewer resamples than the report's 200, so that displaying Results stays quick.
ANSWER_N_BOOT = 50
# Why a search stopped when it was stopped before it ended (Ctrl-C, a kill) and nothing runs it.
INTERRUPTED_SEARCH = "interrupted before it ended; resume=True (or the command line's --resume) carries it on"


class TrialsError(DatavsmathError, RuntimeError):
    """Trials errored (datavsmath.sweep with raise_on_error=True); `results` holds the experiment."""

    def __init__(self, message: str, *, results: Results) -> None:
        super().__init__(message)
        self.results = results


class Results:
    """The results of one experiment folder (local or URI), or of a results file.

    Parameters
    ----------
    path : str or Path
        The experiment folder (made by `datavsmath.sweep` or the command line), or a
        results.parquet / results.csv file.
    frame : DataFrame, optional
        Its tidy results when they are at hand (the sweep that just wrote them); else read
        on first use.
    search : SearchSummary, optional
        An adaptive search's summary when it is at hand; else read on first use.

    Attributes
    ----------
    frame : DataFrame
        The tidy results, one row per trial (the columns of results.parquet,
        datavsmath.analysis.schema.RESULT_COLUMNS).
    errors : DataFrame
        The errored trials (trial_id, the axes, error).

    Read once, on first use; `Results(path)` again (or `datavsmath.load`) reads anew.
    """

    def __init__(self, path: str | Path, *, frame: pd.DataFrame | None = None,
                 search: SearchSummary | None = None) -> None:
        self.path = str(path)
        # What is at hand fills the cached properties, which then do not read it again.
        if frame is not None:
            self.__dict__["frame"] = frame
        if search is not None:
            self.__dict__["search"] = search

    def __repr__(self) -> str:
        df = self.frame
        counts = df["status"].value_counts()
        return (f"Results({self.path!r}: {len(df)} trials, {int(counts.get('TERMINATED', 0))} finished, "
                f"{int(counts.get('ERROR', 0))} errored; models {', '.join(map(str, df['model'].unique()))})")

    @cached_property
    def frame(self) -> pd.DataFrame:
        return load_results(self.path)

    @cached_property
    def spec(self) -> Spec | None:
        """The spec stored with the experiment (None for a bare results file)."""
        try:
            return read_stored_spec(self.path)
        except (OSError, SpecError):
            return None

    @cached_property
    def search(self) -> SearchSummary | None:
        """An adaptive sweep's search (search: kind: adaptive): why it stopped, the trials it
        proposed and finished, and each crossing with its 95 % interval (`.lines()` as the
        CLI prints them), from the searcher state saved in the experiment; None for a grid."""
        spec = self.spec
        if spec is None or not is_adaptive(spec.search):
            return None
        from datavsmath.analysis.crossing_estimate import estimators
        from datavsmath.analysis.load import all_parts
        from datavsmath.analysis.status import driver_state
        from datavsmath.sweeps.adaptive_run import latest_summary  # ray.tune

        summary = latest_summary(all_parts(self.path)[0], spec, trials=expand_trials(spec),
                                 estimate=estimators(spec.report)[1])
        if summary is not None and not summary.stop_reason and driver_state(self.path).alive is not True:
            # saved while it ran, and nothing runs it now: it was stopped before it ended
            summary = replace(summary, stop_reason=INTERRUPTED_SEARCH)
        return summary

    @property
    def errors(self) -> pd.DataFrame:
        """The errored trials: trial_id, model, sample_frac, damage_frac, damage_mode, repair, seed, error."""
        df = self.frame
        return df.loc[df["status"] == "ERROR", [c for c in ERROR_COLUMNS if c in df.columns]].reset_index(drop=True)

    @property
    def warnings(self) -> pd.DataFrame:
        """The warnings raised inside trials (a ConvergenceWarning, ...) that the summary
        counts: one row per model and category with how many trials raised it, how often,
        and its text (datavsmath.analysis.trial_warnings.warning_table)."""
        from datavsmath.analysis.trial_warnings import warning_table

        return warning_table(self.frame)

    def _info(self) -> Any:
        """The dataset's facts: the stored spec's, else what the results record."""
        from datavsmath.analysis.situation import info_from_results

        info = self.spec.dataset_info if self.spec is not None else None
        return info or info_from_results(self.frame)

    def _n_total(self) -> int:
        return int(self._info().n_train)

    def _setup(self, model: str | None, damage_mode: str | None) -> tuple[str, str]:
        """The model and damage mode the report's tables describe, where not given."""
        from datavsmath.analysis.report import table_setups

        wanted = model or (self.spec.report.get("model") if self.spec is not None else None)
        found, modes, note = table_setups(self.frame, model=wanted)
        if found is None:
            raise ValueError(f"{self.path}: {note}")
        damaged = [m for m in modes if m != NO_DAMAGE]
        return found, damage_mode or (damaged[0] if damaged else modes[0] if modes else tables.DEFAULT_DAMAGE_MODE)

    def table(self, metric: str = "acc", threshold: float | None = None, *, model: str | None = None,
              damage_mode: str | None = None, kind: str = "interpolated", **options: Any) -> pd.DataFrame:
        """Observations needed to clear a threshold, per quality level.

        Parameters
        ----------
        metric : {"acc", "auc"}, default "acc"
            The metric.
        threshold : float, optional
            The value to clear (default acc 0.90, auc 0.98).
        model, damage_mode : str, optional
            The report's by default: cnn when swept, else the first model; the first damaged
            mode crossed with sample_frac.
        kind : {"interpolated", "seed"}, default "interpolated"
            "interpolated": each level's crossing and interval by
            datavsmath.analysis.curves.estimate_crossing (tables.interpolated_table);
            "seed": read off the swept grid (tables.seed_table).
        **options
            For "interpolated": curve (default the spec's ``report: curve`` as the report uses
            it, else "auto"), n_boot, random_state, limit.

        Returns
        -------
        DataFrame
            One row per quality level.

        Raises
        ------
        ValueError
            For an unknown `kind`, or too few trials or levels for a table.

        Examples
        --------
        >>> results.table("acc", 0.9)  # doctest: +SKIP
        """
        model, damage_mode = self._setup(model, damage_mode)
        make = {"interpolated": tables.interpolated_table, "seed": tables.seed_table}
        if kind not in make:
            raise ValueError(f"kind must be one of {', '.join(make)}, got {kind!r}")
        if kind == "interpolated" and self.spec is not None and "curve" in self.spec.report:
            options.setdefault("curve", self.spec.report["curve"])
        return make[kind](self.frame, metric=metric, threshold=threshold, model=model, damage_mode=damage_mode,
                          n_total=self._n_total(), **options)

    def decision(self, **options: Any) -> pd.DataFrame:
        """The buy-or-clean decision: every route to each target and what it costs.

        Parameters
        ----------
        **options
            current, target, prices, curve, n_boot, ... as datavsmath.analysis.answer.answer
            takes them (price_label and price_audit are prices' label and audit). Defaults:
            the stored spec's ``report:`` situation and curve (else "auto"), so that the
            crossings are those of `table` and the report.

        Returns
        -------
        DataFrame
            The route table: one row per route and target.

        Raises
        ------
        ValueError
            For a situation that the results cannot answer.

        Examples
        --------
        >>> results.decision(current={"model": "rf", "n": 500, "quality": 0.9})  # doctest: +SKIP
        """
        result = self._answer(**options)
        self.__dict__["_situation"] = _stated(options)
        return result.routes

    def answer(self, **options: Any) -> pd.DataFrame:
        """The answer, one row per target: the cheapest route and what it costs.

        Parameters
        ----------
        **options
            As `decision`'s.

        Returns
        -------
        DataFrame
            The cheapest route, its cost and interval, the runner-up and the sentence the
            report opens with; ``attrs["lines"]`` holds the whole summary, situation first.

        Raises
        ------
        ValueError
            For a situation that the results cannot answer.

        Examples
        --------
        >>> results.answer(target={"acc": 0.95}).attrs["lines"]  # doctest: +SKIP
        """
        result = self._answer(**options)
        self.__dict__["_situation"] = _stated(options)
        frame = result.frame.copy()
        frame.attrs["lines"] = list(result.lines)
        return frame

    def label_quality(self) -> Any:
        """The quality of the labels as given (the share right), estimated by cleanlab.

        Estimated from cleanlab's figures in the trials of prune, relabel or audit and
        calibrated on the sweep's own damaged trials (datavsmath.analysis.label_quality);
        ``answer(current={"quality": "auto"})`` uses it.

        Returns
        -------
        LabelQuality
            estimate, low, high (its 95 % interval; NaN without damaged trials), raw
            (cleanlab's own figure), method (calibrated | raw), describe() and to_frame().

        Raises
        ------
        ValueError
            When no trial of prune, relabel or audit has damage_frac 0.

        Examples
        --------
        >>> results.label_quality().describe()  # doctest: +SKIP
        """
        from datavsmath.analysis.label_quality import label_quality

        return label_quality(self.frame)

    def _answer(self, **options: Any) -> Any:
        from datavsmath.analysis.answer import answer

        report = dict(self.spec.report) if self.spec is not None else {}
        prices = dict(options.pop("prices", None) or report.get("prices") or {})
        for old, new in (("price_label", "label"), ("price_audit", "audit")):
            value = options.pop(old, report.get(old))
            if value is not None:
                prices.setdefault(new, value)
        options["prices"] = prices or None
        for key in ("current", "target", "curve"):
            if report.get(key) is not None:
                options.setdefault(key, report[key])
        options.setdefault("n_total", self._n_total())
        return answer(self.frame, **options)

    def figures(self) -> dict[str, Any]:
        """The report's figures.

        Returns
        -------
        dict
            key -> plotly Figure (each displays inline in a notebook).

        Examples
        --------
        >>> results.figures()["curves"]  # doctest: +SKIP
        """
        from datavsmath.analysis import report as rep
        from datavsmath.analysis.coinciding_modes import coinciding_modes

        spec, df, info = self.spec, self.frame, self._info()
        settings = rep.settings_of(spec.report if spec else None)
        shown = df[~df["damage_mode"].isin(list(coinciding_modes(df, n_classes=info.n_classes)))]
        result, _ = rep.report_answer(shown, settings=settings, n_total=info.n_train)
        items = rep.build_items(shown, overrides=spec.overrides if spec else None, settings=settings, info=info,
                                dataset=spec.dataset if spec else None, fingerprint=rep.recorded_fingerprint(df, spec),
                                result=result)
        return {item.key: item.figure for item in items if item.figure is not None}

    def report(self, path: str | Path | None = None, *, current: Mapping[str, Any] | None = None,
               target: Any = None, prices: Mapping[str, Any] | None = None) -> Path | str:
        """Write the self-contained HTML report (the CLI's ``datavsmath report``).

        Its tables are written as CSV and Markdown beside it.

        Parameters
        ----------
        path : str or Path, optional
            Where to write it; default report.html in the experiment folder.
        current, target, prices : optional
            The situation its answer is for, as `answer` takes them; each not given: the
            last `answer()` or `decision()`'s, else the stored spec's ``report:``.

        Returns
        -------
        Path or str
            Its path (a URI for an experiment on a URI).

        Raises
        ------
        ValueError
            For a situation that the results cannot answer; nothing is written.

        Examples
        --------
        >>> results.report()  # doctest: +SKIP
        """
        from datavsmath.analysis.report import write_report

        last = self.__dict__.get("_situation") or {}
        given = {"current": current, "target": target, "prices": prices}
        situation = {key: value if value is not None else last.get(key) for key, value in given.items()}
        return write_report(self.path, out=None if path is None else Path(path), situation=situation)

    def _repr_html_(self) -> str:
        df = self.frame
        counts = df["status"].value_counts()
        parts = [f"<p><b>datavsmath results</b> <code>{html.escape(self.path)}</code>: {len(df)} trials, "
                 f"{int(counts.get('TERMINATED', 0))} finished, {int(counts.get('ERROR', 0))} errored</p>"]
        try:
            lines = self._answer(n_boot=ANSWER_N_BOOT).lines
            parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
        except ValueError as exc:  # no finished trial yet, or a situation the results cannot answer
            parts.append(f"<p>No answer yet: {html.escape(str(exc))}</p>")
        errors = self.errors
        if len(errors):
            parts.append(errors.head(HEADLINE_ROWS).to_html(index=False))
        try:
            table = self.table()
            model, mode = self._setup(None, None)
            parts.append(f"<p>Observations needed for acc &gt; {tables.DEFAULT_THRESHOLDS['acc']:.2f} "
                         f"({html.escape(model)}, {html.escape(mode)}):</p>")
            parts.append(_summary(table).head(HEADLINE_ROWS).to_html(index=False))
        except (ValueError, KeyError) as exc:  # too few trials or levels for a table: say why
            parts.append(f"<p>No table yet: {html.escape(str(exc))}</p>")
        return "\n".join(parts)


def _count(value: float) -> str:
    return "∞" if value == np.inf else f"{value:,.0f}"


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    """The interpolated table as the summary shows it, as text: quality to two decimals,
    num_obs as a number where the table gives one, else what `found` says (never, beyond 4×
    the data swept, ...), the 95 % interval where there is one, else why not."""
    rows = []
    for row in table.to_dict("records"):
        given = bool(np.isfinite(row["num_obs"]))
        has_interval = bool(np.isfinite(row["ci_low"]) and not np.isnan(row["ci_high"]))
        rows.append({"quality": f"{row['quality']:.2f}",
                     "num_obs": _count(row["num_obs"]) if given else row["found"],
                     "95 % interval": (f"{_count(row['ci_low'])} – {_count(row['ci_high'])}" if has_interval
                                       else str(row.get("interval") or "none")),
                     "seeds": int(row["n_seeds"]), "found": row["found"]})
    return pd.DataFrame(rows)


def _stated(options: Mapping[str, Any]) -> dict[str, Any]:
    """The situation an `answer` or `decision` call stated: {current, target, prices}, each
    None where not given (price_label and price_audit are prices' label and audit)."""
    prices = dict(options.get("prices") or {})
    for old, new in (("price_label", "label"), ("price_audit", "audit")):
        if options.get(old) is not None:
            prices.setdefault(new, options[old])
    return {"current": options.get("current"), "target": options.get("target"), "prices": prices or None}


def load(path: str | Path) -> Results:
    """The results of an experiment folder, or of a results file.

    Parameters
    ----------
    path : str or Path
        An experiment folder, local or a URI (made by `datavsmath.sweep` or the command
        line), or a results.parquet / results.csv file.

    Returns
    -------
    Results
        Its results, read now.

    Raises
    ------
    FileNotFoundError
        When nothing readable is there.
    ValueError
        When a results file cannot be read; the message names it.

    Examples
    --------
    >>> import datavsmath as dvm
    >>> results = dvm.load("results/size")  # doctest: +SKIP
    >>> results.errors  # doctest: +SKIP
    """
    results = Results(path)
    results.frame  # noqa: B018  (read now: a wrong path fails here, not on first use)
    return results
