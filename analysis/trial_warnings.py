"""Warnings raised inside trials (a ConvergenceWarning, ...), counted per model and category from
the results' `warning_counts` (JSON text {category: count} per trial), so the user sees each once."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd

from datavsmath.analysis.aggregate import finished, models_in_order


def warning_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, category) that warned: model, category, trials (that raised it),
    of (the model's finished trials), raised (times in all), text (its first message in the
    first trial that recorded one; "" for results of before the texts were kept); models in
    the talk's order."""
    done = finished(df)
    columns = ["model", "category", "trials", "of", "raised", "text"]
    if "warning_counts" not in done.columns:
        return pd.DataFrame(columns=columns)
    trials: Counter = Counter()
    raised: Counter = Counter()
    texts: dict[tuple[str, str], str] = {}
    messages = done["warning_texts"] if "warning_texts" in done.columns else [None] * len(done)
    for model, text, message in zip(done["model"], done["warning_counts"], messages):
        if not isinstance(text, str) or not text.strip():
            continue
        said = json.loads(message) if isinstance(message, str) and message.strip() else {}
        for category, count in json.loads(text).items():
            trials[(model, category)] += 1
            raised[(model, category)] += int(count)
            if said.get(category):
                texts.setdefault((model, category), said[category])
    of = done.groupby("model").size()
    order = {m: i for i, m in enumerate(models_in_order(list(of.index)))}
    records = [{"model": m, "category": c, "trials": n, "of": int(of[m]), "raised": raised[(m, c)],
                "text": texts.get((m, c), "")}
               for (m, c), n in sorted(trials.items(), key=lambda item: (order[item[0][0]], item[0][1]))]
    return pd.DataFrame(records, columns=columns)


def warning_lines(df: pd.DataFrame) -> list[str]:
    """"Warnings inside trials: logreg raised ConvergenceWarning in 6 of 8 trials (12 times)"; one per
    model and category, [] when no trial warned."""
    return [f"Warnings inside trials: {r.model} raised {r.category} in {r.trials} of {r.of} trials "
            f"({r.raised} time{'s' if r.raised != 1 else ''})" for r in warning_table(df).itertuples()]
