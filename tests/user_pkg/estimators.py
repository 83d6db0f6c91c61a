"""Classifiers as a user might write them, each wrong in one way that fails every trial."""

from __future__ import annotations

import numpy as np


class NoGetParams:
    """fit and predict_proba, but not scikit-learn compatible: no get_params (clone fails)."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> NoGetParams:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.full((len(x), len(self.classes_)), 1.0 / len(self.classes_))


class NoClasses:
    """scikit-learn compatible except that fit records no classes_."""

    def __init__(self, smoothing: float = 1.0) -> None:
        self.smoothing = smoothing

    def get_params(self, deep: bool = True) -> dict:
        return {"smoothing": self.smoothing}

    def set_params(self, **params: float) -> NoClasses:
        self.smoothing = params.get("smoothing", self.smoothing)
        return self

    def fit(self, x: np.ndarray, y: np.ndarray) -> NoClasses:
        self.prior_ = np.bincount(y) + self.smoothing
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile(self.prior_ / self.prior_.sum(), (len(x), 1))
