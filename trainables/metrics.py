"""Test-set metrics for one trial: accuracy, macro one-vs-rest AUC, per-class accuracy, confusion.

Pure numpy/sklearn (no ray); every value returned is a plain Python number so results are
JSON-serialisable as they are.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score

N_CLASSES = 10
LABELS = tuple(range(N_CLASSES))
ROW_SUM_ATOL = 1e-3  # proba rows must sum to 1 within this (float32 softmax easily does)


def _check_y_true(y_true: Any) -> np.ndarray:
    """y_true as int64 (m,), m >= 1, values 0..9; else ValueError naming what was received."""
    y = np.asarray(y_true)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true: expected a 1-D array of m >= 1 class ids; got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y_true: expected integer class ids 0..{N_CLASSES - 1}; got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= N_CLASSES:
        raise ValueError(f"y_true: expected class ids in 0..{N_CLASSES - 1}; got {y.min()}..{y.max()}")
    return y.astype(np.int64, copy=False)


def _check_proba(proba: Any, *, m: int) -> np.ndarray:
    """proba as float64 (m, 10) with rows summing to 1; else ValueError naming what was received."""
    p = np.asarray(proba)
    if p.shape != (m, N_CLASSES):
        raise ValueError(f"proba: expected shape ({m}, {N_CLASSES}) (one row per y_true); got {p.shape}")
    if not np.issubdtype(p.dtype, np.number) or not np.all(np.isfinite(p)):
        raise ValueError(f"proba: expected finite probabilities; got dtype {p.dtype} with non-finite values")
    sums = p.sum(axis=1)
    if np.any(p < 0) or not np.allclose(sums, 1.0, rtol=0.0, atol=ROW_SUM_ATOL):
        raise ValueError(f"proba: expected non-negative rows summing to 1; got row sums "
                         f"{sums.min():.6g}..{sums.max():.6g}, min value {p.min():.6g}")
    return p.astype(np.float64) / sums[:, None]  # exact sums for sklearn's own check


def macro_ovr_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC over the 10 classes (caret's multiClassSummary AUC).

    All classes present: sklearn ``roc_auc_score(multi_class="ovr", average="macro")``. Some
    absent (sklearn would give NaN): the mean over the classes present; NaN if fewer than two.
    """
    present = np.unique(y)
    if len(present) == N_CLASSES:
        return float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=list(LABELS)))
    if len(present) < 2:
        return math.nan
    return float(np.mean([roc_auc_score(y == c, proba[:, c]) for c in present]))


def evaluate(y_true: Any, proba: Any) -> dict[str, Any]:
    """Metrics of predictions ``proba`` (m, 10) against labels ``y_true`` (m,) in 0..9.

    Returns acc (mean of argmax == y), auc (``macro_ovr_auc``), per_class_acc (10 floats: recall
    of each true class, NaN if the class is absent) and confusion (10x10 nested ints, rows = true).
    """
    y = _check_y_true(y_true)
    p = _check_proba(proba, m=len(y))
    pred = p.argmax(axis=1)
    confusion = confusion_matrix(y, pred, labels=list(LABELS))
    support = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / support[c]) if support[c] else math.nan for c in LABELS]
    return {
        "acc": float(np.mean(pred == y)),
        "auc": macro_ovr_auc(y, p),
        "per_class_acc": per_class,
        "confusion": [[int(v) for v in row] for row in confusion],
    }
