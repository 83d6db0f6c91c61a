"""Fixtures shared by the core's tests."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_digits

from datavsmath.trainables.damage import damage_labels

DIGITS_CLASSES = 10
DIGITS_DAMAGE_FRAC = 0.2


@pytest.fixture(scope="module")
def damaged_digits():
    """scikit-learn's digits as (x, clean labels, damaged labels, damaged mask): 20 % constant
    damage by the sweep's own damage code, seed 0."""
    x, y = load_digits(return_X_y=True)
    labels, damaged = damage_labels(y, n_classes=DIGITS_CLASSES, damage_frac=DIGITS_DAMAGE_FRAC,
                                    damage_mode="constant", seed=0)
    return x, y, labels, damaged
