"""Test-set metrics for one trial: accuracy, macro one-vs-rest AUC, per-class accuracy, confusion.

Pure numpy/sklearn (no ray); every value returned is a plain Python number so results are
JSON-serialisable as they are.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# sklearn.metrics is imported inside the functions that use it: it costs ~0.9 s, which every
# CLI command would pay for METRICS alone.
# The two headline metrics every trial reports (and the talk's tables use).
METRICS = ("acc", "auc")
ROW_SUM_ATOL = 1e-3  # proba rows must sum to 1 within this (float32 softmax easily does)


def _check_y_true(y_true: Any, *, n_classes: int) -> np.ndarray:
    """y_true as int64 (m,), m >= 1, values 0..K-1; else ValueError naming what was received."""
    y = np.asarray(y_true)
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y_true must be a 1-D array of m >= 1 class ids, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class ids 0..{n_classes - 1}, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y_true must hold class ids in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return y.astype(np.int64, copy=False)


def _check_proba(proba: Any, *, m: int, n_classes: int) -> np.ndarray:
    """proba as float64 (m, K) with rows summing to 1; else ValueError naming what was received."""
    p = np.asarray(proba)
    if p.shape != (m, n_classes):
        raise ValueError(f"proba must have shape ({m}, {n_classes}) (one row per y_true), got {p.shape}")
    if not np.issubdtype(p.dtype, np.number) or not np.all(np.isfinite(p)):
        raise ValueError(f"proba must hold finite probabilities, got dtype {p.dtype} with non-finite values")
    sums = p.sum(axis=1)
    if np.any(p < 0) or not np.allclose(sums, 1.0, rtol=0.0, atol=ROW_SUM_ATOL):
        raise ValueError(f"proba rows must be non-negative and sum to 1, got row sums "
                         f"{sums.min():.6g}..{sums.max():.6g}, min value {p.min():.6g}")
    return p.astype(np.float64) / sums[:, None]  # exact sums for sklearn's own check


def macro_ovr_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC over the K = proba.shape[1] classes (caret's multiClassSummary AUC).

    All classes present: sklearn ``roc_auc_score(multi_class="ovr", average="macro")``, or for
    K = 2 the AUC of class 1's column (equal to the macro average of both one-vs-rest AUCs).
    Some absent (sklearn would give NaN): the mean over the classes present; NaN if fewer than two.
    """
    from sklearn.metrics import roc_auc_score

    n_classes = proba.shape[1]
    present = np.unique(y)
    if len(present) == n_classes == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    if len(present) == n_classes:
        return float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=list(range(n_classes))))
    if len(present) < 2:
        return math.nan
    return float(np.mean([roc_auc_score(y == c, proba[:, c]) for c in present]))


def evaluate(y_true: Any, proba: Any, *, n_classes: int) -> dict[str, Any]:
    """Metrics of predictions ``proba`` (m, K) against labels ``y_true`` (m,) in 0..K-1.

    n_classes: K, the dataset's class count.
    Returns acc (mean of argmax == y), auc (``macro_ovr_auc``), per_class_acc (K floats: recall
    of each true class, NaN if the class is absent) and confusion (KxK nested ints, rows = true).
    """
    from sklearn.metrics import confusion_matrix

    y = _check_y_true(y_true, n_classes=n_classes)
    p = _check_proba(proba, m=len(y), n_classes=n_classes)
    pred = p.argmax(axis=1)
    labels = list(range(n_classes))
    confusion = confusion_matrix(y, pred, labels=labels)
    support = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / support[c]) if support[c] else math.nan for c in labels]
    return {
        "acc": float(np.mean(pred == y)),
        "auc": macro_ovr_auc(y, p),
        "per_class_acc": per_class,
        "confusion": [[int(v) for v in row] for row in confusion],
    }
