"""Names and constants of the tidy results frame (docs/CONTRACTS.md), defined once.

The tidy frame has one row per expected trial and the columns of RESULT_COLUMNS, with the
dtypes of COLUMN_DTYPES; `normalize` turns any frame that has some of them into that shape.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from trainables.data import FASHION_MNIST

FINISHED = "TERMINATED"
FAILED = "ERROR"
MISSING = "MISSING"
STATUSES = (FINISHED, FAILED, "RUNNING", "PENDING", MISSING)

# The dataset the experiments run on; its facts (training-set size, classes) are its own.
DATASET = FASHION_MNIST
# The files written beside an experiment (analysis.results).
RESULTS_PARQUET = "results.parquet"
RESULTS_CSV = "results.csv"
SEED_RESULTS_CSV = "seed_results.csv"

COLUMN_DTYPES: dict[str, Any] = {
    "trial_id": "str",
    "status": "str",
    "model": "str",
    "sample_frac": "float64",
    "damage_frac": "float64",
    "damage_mode": "str",
    "seed": "Int64",
    "n_train": "Int64",
    "n_val": "Int64",
    "n_damaged": "Int64",
    "acc": "float64",
    "auc": "float64",
    "val_acc": "float64",
    "fit_seconds": "float64",
    "report_seconds": "float64",
    "checkpoints": "Int64",
    "device": "str",
    "peak_rss_mb": "float64",
    "epochs_done": "Int64",
    "error": "str",
    "confusion": "object",
    "start_time": "datetime64[ns, UTC]",
    "end_time": "datetime64[ns, UTC]",
    "dataset": "str",
    "dataset_fingerprint": "str",
}
RESULT_COLUMNS = tuple(COLUMN_DTYPES)

# The talk's CSV format, plus the columns that make it unambiguous (CONTRACTS.md).
SEED_COLUMNS = ("frac", "exp_name", "acc", "auc", "frac_sample", "frac_damage", "damage_mode", "seed")

# Float axes are matched after rounding, so that 0.1 read from JSON equals 0.1 from YAML.
FRAC_DECIMALS = 10


def frac_key(value: float) -> float:
    """A fraction rounded for use in join keys and group labels."""
    return round(float(value), FRAC_DECIMALS)


def trial_key(model: str, sample_frac: float, damage_frac: float, damage_mode: str, seed: int) -> tuple:
    """The identity of one trial: its values of the spec's AXES, fractions rounded."""
    return (str(model), frac_key(sample_frac), frac_key(damage_frac), str(damage_mode), int(seed))


def num_obs(sample_frac: Any, *, n_total: int | None = None) -> np.ndarray:
    """Observations for sample fractions, as in the talk: sample_frac * the dataset's
    training-set size `n_total` (default DATASET's, Fashion-MNIST's 60000), rounded."""
    return np.rint(np.asarray(sample_frac, dtype=float) * (DATASET.n_train if n_total is None else n_total))


def confusion_to_list(value: Any) -> list[list[int]] | None:
    """A confusion matrix from JSON text, nested lists or numpy arrays, as nested int lists."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return confusion_to_list(json.loads(value)) if value.strip() else None
    return [[int(x) for x in row] for row in value]


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame: every RESULT_COLUMNS column, in order, with its dtype.

    Missing columns are filled with NA; extra columns are kept after the contract's ones.
    Confusion matrices become nested lists (parquet gives arrays, CSV gives JSON text).
    """
    out = df.copy()
    for column, dtype in COLUMN_DTYPES.items():
        if column not in out.columns:
            out[column] = pd.Series([None] * len(out), index=out.index, dtype="object")
        if column == "confusion":
            out[column] = [confusion_to_list(v) for v in out[column]]
        elif str(dtype).startswith("datetime"):
            out[column] = pd.to_datetime(out[column], utc=True).astype(dtype)
        else:
            out[column] = out[column].astype(dtype)
    extra = [c for c in out.columns if c not in COLUMN_DTYPES]
    return out[[*RESULT_COLUMNS, *extra]].reset_index(drop=True)
