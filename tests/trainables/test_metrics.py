"""datavsmath.trainables.metrics.evaluate on hand-built predictions with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from datavsmath.trainables.metrics import evaluate

CLASSES = np.arange(10)


def _one_hot(labels, dtype=np.float64):
    proba = np.zeros((len(labels), 10), dtype=dtype)
    proba[np.arange(len(labels)), labels] = 1.0
    return proba


def test_perfect_classifier():
    y = np.repeat(CLASSES, 3)
    result = evaluate(y, _one_hot(y), n_classes=10)
    assert result["acc"] == 1.0 and result["auc"] == 1.0
    assert result["per_class_acc"] == [1.0] * 10
    assert result["confusion"] == (np.eye(10, dtype=int) * 3).tolist()


def test_known_mistakes_give_known_acc_and_confusion():
    y = np.repeat(CLASSES, 2)  # 20 rows, two per class
    pred = y.copy()
    pred[[0, 2, 3]] = [5, 9, 9]  # one 0 -> 5, both 1s -> 9
    result = evaluate(y, _one_hot(pred), n_classes=10)
    assert result["acc"] == pytest.approx(17 / 20)
    assert result["per_class_acc"][:3] == [0.5, 0.0, 1.0]
    confusion = np.array(result["confusion"])
    assert confusion[0, 5] == 1 and confusion[0, 0] == 1 and confusion[1, 9] == 2
    assert confusion.sum() == 20 and np.trace(confusion) == 17
    assert all(isinstance(v, int) for row in result["confusion"] for v in row)


def test_auc_matches_sklearn_and_uninformative_is_half():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    y[:10] = CLASSES
    proba = rng.random((500, 10)).astype(np.float32)
    proba /= proba.sum(axis=1, keepdims=True)
    expected = roc_auc_score(y, proba.astype(np.float64), multi_class="ovr", average="macro",
                             labels=list(CLASSES))
    assert evaluate(y, proba, n_classes=10)["auc"] == pytest.approx(expected, abs=1e-9)
    assert evaluate(y, np.full((500, 10), 0.1), n_classes=10)["auc"] == pytest.approx(0.5)


def test_absent_class_gives_nan_recall_and_auc_over_present_classes():
    y = np.array([0, 0, 1, 1, 2, 2])
    result = evaluate(y, _one_hot(y), n_classes=10)
    assert result["per_class_acc"][:3] == [1.0, 1.0, 1.0]
    assert all(math.isnan(v) for v in result["per_class_acc"][3:])
    assert result["auc"] == 1.0
    assert math.isnan(evaluate(np.array([4, 4]), _one_hot([4, 4]), n_classes=10)["auc"])


@pytest.mark.parametrize("y_true, proba, match", [
    (np.zeros(4, int), np.full((4, 9), 1 / 9), r"proba must have shape \(4, 10\) .*got \(4, 9\)"),
    (np.zeros(4, int), np.full((3, 10), 0.1), r"proba must have shape \(4, 10\) .*got \(3, 10\)"),
    (np.zeros((4, 1), int), np.full((4, 10), 0.1), r"y_true must be a 1-D array .*got shape \(4, 1\)"),
    (np.zeros(0, int), np.zeros((0, 10)), r"y_true must be a 1-D array of m >= 1"),
    (np.array([0, 10]), np.full((2, 10), 0.1), r"y_true must hold class ids in 0..9, got 0..10"),
    (np.array([0.0, 1.0]), np.full((2, 10), 0.1), r"y_true must hold integer class ids"),
    (np.zeros(2, int), np.full((2, 10), 0.2), r"proba rows must be non-negative and sum to 1"),
    (np.zeros(2, int), np.full((2, 10), np.nan), r"proba must hold finite probabilities"),
])
def test_bad_inputs_raise(y_true, proba, match):
    with pytest.raises(ValueError, match=match):
        evaluate(y_true, proba, n_classes=10)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_auc_is_macro_one_vs_rest_for_any_class_count(n_classes):
    rng = np.random.default_rng(n_classes)
    y = np.tile(np.arange(n_classes), 40)
    proba = rng.dirichlet(np.ones(n_classes), size=len(y))
    proba[np.arange(len(y)), y] += 0.3  # informative, not perfect
    proba /= proba.sum(axis=1, keepdims=True)
    expected = np.mean([roc_auc_score(y == c, proba[:, c]) for c in range(n_classes)])
    result = evaluate(y, proba, n_classes=n_classes)
    assert result["auc"] == pytest.approx(expected, abs=1e-12)
    assert 0.5 < result["auc"] < 1.0
    assert len(result["per_class_acc"]) == n_classes and np.array(result["confusion"]).shape == (n_classes,) * 2
