"""The dataset's training-set size, from a stored spec's facts or read off the results
themselves: the one place analysis learns it (never a default dataset's size)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from datavsmath.analysis.aggregate import finished
from datavsmath.analysis.repair_effect import of_repair
from datavsmath.trainables.repair import NO_REPAIR


def training_size(df: pd.DataFrame, *, facts: Mapping[str, Any] | None = None) -> int:
    """The dataset's training-set size: facts["n_train"] (a stored spec's dataset_facts) when
    given, else read off the results: the largest (n_train + n_val) / sample_frac of finished
    trials without repair (a subset holds floor(sample_frac * N) rows), rounded up.
    ValueError when neither says."""
    if facts and facts.get("n_train"):
        return int(facts["n_train"])
    rows = of_repair(finished(df), NO_REPAIR)
    rows = rows[rows["n_train"].notna() & (rows["sample_frac"] > 0)]
    if rows.empty:
        raise ValueError("the dataset's training-set size is unknown: the results record no n_train and no "
                         "dataset facts were given (pass n_total)")
    held = rows["n_train"].astype(float) + rows["n_val"].astype(float).fillna(0.0)
    return int(math.ceil(float((held / rows["sample_frac"].astype(float)).max()) - 1e-9))
