"""Names and constants of the tidy results frame (docs/CONTRACTS.md), defined once.

The tidy frame has one row per expected trial and the columns of RESULT_COLUMNS, with the
dtypes of COLUMN_DTYPES; `normalize` turns any frame that has some of them into that shape.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from datavsmath.sweeps.spec import AXIS_DEFAULTS, FRAC_DECIMALS, frac_key  # noqa: F401  (the results' rounding)
from datavsmath.trainables.datasets.built_in import FASHION_MNIST

FINISHED = "TERMINATED"
FAILED = "ERROR"
MISSING = "MISSING"
STATUSES = (FINISHED, FAILED, "RUNNING", "PENDING", MISSING)

# The dataset the experiments run on; its facts (training-set size, classes) are its own.
DATASET = FASHION_MNIST

COLUMN_DTYPES: dict[str, Any] = {
    "trial_id": "str",
    "status": "str",
    "model": "str",
    "sample_frac": "float64",
    "damage_frac": "float64",
    "damage_mode": "str",
    "repair": "str",
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
    # The noise the training labels really carried (datavsmath.trainables.damage.RealizedNoise)
    "noise_rate": "float64",
    "noise_rate_per_class": "object",
    "realized_transition": "object",
    # The repair (datavsmath.trainables.repair.Repair.stats); repair none: 0 flagged, NaN scores
    "repair_model": "str",
    "repair_folds": "Int64",
    "n_flagged": "Int64",
    "detection_precision": "float64",
    "detection_recall": "float64",
    "relabel_acc": "float64",
    "label_acc": "float64",
    "repair_seconds": "float64",
    # What the audit and the vote cost and left (Repair.stats): the audit's budget and labels
    # checked, the vote's labels per item and labels bought, the wrong labels trained on
    "audit_frac": "float64",
    "n_audited": "Int64",
    "vote_k": "Int64",
    "n_bought": "Int64",
    "n_wrong": "Int64",
    # cleanlab's estimates of the share of wrong labels as given (trials of prune, relabel, audit)
    "cleanlab_noise": "float64",
    "cleanlab_joint_noise": "float64",
    # damage_test: the accuracy on test labels damaged as the training labels, and corrected
    "acc_test_damaged": "float64",
    "acc_test_corrected": "float64",
    "test_noise_rate": "float64",
    # Warnings raised in the trial's fit and predict: JSON text {category: count}, "{}" for none
    "warning_counts": "str",
    # Each category's first message in the trial: JSON text {category: message}
    "warning_texts": "str",
}
# Columns holding a K x K matrix of counts (nested int lists), and a K-list of floats.
MATRIX_COLUMNS = ("confusion", "realized_transition")
LIST_COLUMNS = ("noise_rate_per_class",)
# What a column of an axis with a default holds when a results file of before it has none.
COLUMN_DEFAULTS = dict(AXIS_DEFAULTS)
RESULT_COLUMNS = tuple(COLUMN_DTYPES)

# The talk's CSV format, plus the columns that make it unambiguous (CONTRACTS.md).
SEED_COLUMNS = ("frac", "exp_name", "acc", "auc", "frac_sample", "frac_damage", "damage_mode", "seed", "repair")

def trial_key(model: str, sample_frac: float, damage_frac: float, damage_mode: str, seed: int,
              repair: str = AXIS_DEFAULTS["repair"]) -> tuple:
    """The identity of one trial: its values of the spec's AXES, fractions rounded
    (repair last, and none when not given: the trials of before the axis)."""
    return (str(model), frac_key(sample_frac), frac_key(damage_frac), str(damage_mode), int(seed), str(repair))


def num_obs(sample_frac: Any, *, n_total: int) -> np.ndarray:
    """Observations for sample fractions, as in the talk: sample_frac * the dataset's
    training-set size `n_total`, rounded."""
    return np.rint(np.asarray(sample_frac, dtype=float) * n_total)


def confusion_to_list(value: Any) -> list[list[int]] | None:
    """A confusion matrix from JSON text, nested lists or numpy arrays, as nested int lists."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return confusion_to_list(json.loads(value)) if value.strip() else None
    return [[int(x) for x in row] for row in value]


def floats_to_list(value: Any) -> list[float] | None:
    """A list of floats from JSON text, a list or a numpy array (NaN kept); None for none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return floats_to_list(json.loads(value)) if value.strip() else None
    return [float(x) for x in value]


def normalize(df: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame: every RESULT_COLUMNS column, in order, with its dtype.

    Missing columns are filled with NA (an axis of COLUMN_DEFAULTS with its default, also
    where NA); extra columns are kept after the contract's ones. Matrices (MATRIX_COLUMNS)
    become nested lists and LIST_COLUMNS lists (parquet gives arrays, CSV gives JSON text).
    """
    out = df.copy()
    for column, dtype in COLUMN_DTYPES.items():
        if column not in out.columns:
            out[column] = pd.Series([None] * len(out), index=out.index, dtype="object")
        if column in COLUMN_DEFAULTS:
            out[column] = out[column].astype("object").where(out[column].notna(), COLUMN_DEFAULTS[column])
        if column in MATRIX_COLUMNS:
            out[column] = [confusion_to_list(v) for v in out[column]]
        elif column in LIST_COLUMNS:
            out[column] = [floats_to_list(v) for v in out[column]]
        elif str(dtype).startswith("datetime"):
            out[column] = pd.to_datetime(out[column], utc=True).astype(dtype)
        else:
            out[column] = out[column].astype(dtype)
    extra = [c for c in out.columns if c not in COLUMN_DTYPES]
    return out[[*RESULT_COLUMNS, *extra]].reset_index(drop=True)
