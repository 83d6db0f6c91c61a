"""The damage process as a transition matrix, and accuracies on damaged test labels corrected to
a clean test set, on a real model's predictions for Fashion-MNIST's 10,000 test images."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from datavsmath.trainables.damage import realized_noise
from datavsmath.trainables.label_noise import corrected_accuracy, damaged_test_labels, mode_transition
from datavsmath.trainables.metrics import evaluate

K = 10


@pytest.fixture(scope="module")
def predictions(fashion):
    """A forest's test probabilities (40 trees on 3000 training images: acc about 0.82), ~2 s."""
    x = np.asarray(fashion.x_train[:3000], dtype=np.float32).reshape(3000, -1) / 255
    forest = RandomForestClassifier(n_estimators=40, n_jobs=2, random_state=0).fit(x, fashion.y_train[:3000])
    return forest.predict_proba(np.asarray(fashion.x_test, dtype=np.float32).reshape(len(fashion.y_test), -1) / 255)


@pytest.mark.parametrize("damage_mode", ["random", "constant"])
@pytest.mark.parametrize("damage_frac", [0.1, 0.3])
def test_corrected_accuracy_is_the_clean_test_accuracy(fashion, predictions, damage_mode, damage_frac):
    """Test labels damaged as a trial's training labels are: the measured accuracy is off by up to
    0.25, the corrected one within 0.01 of the clean test set's."""
    clean = evaluate(fashion.y_test, predictions, n_classes=K)
    labels, damaged = damaged_test_labels(fashion.y_test, n_classes=K, damage_frac=damage_frac,
                                          damage_mode=damage_mode, seed=0)
    assert damaged.mean() == pytest.approx(damage_frac, abs=1e-3)
    noisy = evaluate(labels, predictions, n_classes=K)
    assert clean["acc"] - noisy["acc"] > 0.5 * damage_frac
    corrected = corrected_accuracy(noisy["confusion"], quality=1 - damage_frac, damage_mode=damage_mode)
    assert abs(corrected - clean["acc"]) < 0.01


@pytest.mark.parametrize("damage_mode", ["random", "constant"])
def test_the_mode_transition_is_the_realized_noise(fashion, damage_mode):
    """mode_transition at quality 0.7 is what damage_labels does to 60,000 labels, class by class."""
    clean = np.asarray(fashion.y_train)
    labels, _ = damaged_test_labels(clean, n_classes=K, damage_frac=0.3, damage_mode=damage_mode, seed=1)
    counts = realized_noise(clean, labels, n_classes=K).counts
    realized = counts / counts.sum(axis=1, keepdims=True)
    expected = mode_transition(damage_mode, quality=0.7, n_classes=K)
    assert np.allclose(expected.sum(axis=1), 1)
    assert np.abs(realized - expected).max() < 0.02


def test_random_damage_correction_is_the_closed_form():
    """measured = q a + (1 - q)(1 - a) / (K - 1), solved for a, on a symmetric confusion."""
    q, a, n = 0.8, 0.75, 1000.0
    measured = q * a + (1 - q) * (1 - a) / (K - 1)
    counts = np.full((K, K), n * (1 - measured) / (K - 1))
    np.fill_diagonal(counts, n * measured)
    assert corrected_accuracy(counts, quality=q, damage_mode="random") == pytest.approx(a)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"damage_mode": "random", "quality": 0.1}, r"singular"),
    ({"damage_mode": "constant", "quality": 0.5}, r"singular"),
    ({"damage_mode": "none", "quality": 0.9}, r"damage_mode 'none' needs quality 1, got quality 0.9"),
    ({"damage_mode": "random", "quality": 1.3}, r"quality must be in \[0, 1\], got 1.3"),
    ({"damage_mode": "matrix", "quality": 0.9}, r"damage_mode 'matrix' needs its transition matrix"),
])
def test_correction_refuses_what_cannot_be_corrected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        corrected_accuracy(np.eye(K) * 100 + 1, **kwargs)
