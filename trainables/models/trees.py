"""The talk's tree models: a 25-tree random forest and a 150-round xgboost booster.

Both train on every given row (no validation split, as the talk's R code did), so their fit
info has n_val = 0 and val_acc = NaN, and they never call ``on_epoch``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier

from .common import check_images, check_input_shape, check_labels, check_n_classes, flat_float32, validate_params

TREE_EPOCHS_DONE = 1  # a tree model is fitted in one pass; reported as epochs_done


def _tree_fit_info(n_fit: int, seconds: float, **threads: int) -> dict[str, Any]:
    """The fit info shared by both tree models (see ``Model.fit``), plus the library's thread
    setting under its own name (n_jobs / nthread)."""
    return {"n_fit": n_fit, "n_val": 0, "val_acc": math.nan, "val_loss": math.nan,
            "train_loss": math.nan, "epochs_done": TREE_EPOCHS_DONE, "fit_seconds": seconds, **threads}


class RandomForestModel:
    """sklearn RandomForestClassifier over the flattened input (pixels scaled to [0, 1]).

    Defaults: n_estimators 25, max_features "sqrt", max_depth None (R randomForest's defaults).
    ``n_classes`` and ``input_shape`` as for ``build_model``.
    """

    name = "rf"

    def __init__(self, *, n_classes: int, input_shape: tuple[int, ...],
                 params: Mapping[str, Any] | None = None, threads: int = 1, device: str = "cpu",
                 seed: int = 0) -> None:
        self.n_classes, self.input_shape = check_n_classes(n_classes), check_input_shape(input_shape)
        self.params = validate_params(self.name, params)
        self.threads, self.device, self.seed = threads, device, seed  # device unused: CPU only
        self._forest: RandomForestClassifier | None = None

    def fit(self, x: np.ndarray, y: np.ndarray, *, on_epoch: Callable | None = None,
            resume_state: Mapping | None = None) -> dict[str, Any]:
        """Train on all rows of x (n, *input_shape), y int (n,); ``on_epoch``/``resume_state`` unused."""
        x = check_images(x, input_shape=self.input_shape)
        y = check_labels(y, n=len(x), n_classes=self.n_classes)
        start = time.perf_counter()
        self._forest = RandomForestClassifier(
            n_estimators=self.params["n_estimators"], max_features=self.params["max_features"],
            max_depth=self.params["max_depth"], n_jobs=self.threads, random_state=self.seed)
        self._forest.fit(flat_float32(x), y)
        return _tree_fit_info(len(x), time.perf_counter() - start, n_jobs=self.threads)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """float64 (m, n_classes) class probabilities; classes absent from training get column 0.0."""
        if self._forest is None:
            raise RuntimeError("rf: predict_proba called before fit")
        seen = self._forest.predict_proba(flat_float32(check_images(x, input_shape=self.input_shape)))
        # sklearn only has columns for the classes it saw; spread them onto all n_classes.
        proba = np.zeros((len(x), self.n_classes), dtype=np.float64)
        proba[:, self._forest.classes_.astype(np.int64)] = seen
        return proba


class XGBoostModel:
    """xgboost ``multi:softprob`` booster with num_class n_classes over the flattened input
    (pixels scaled to [0, 1]).

    Defaults: eta 0.2, max_depth 5, subsample 1, colsample_bytree 0.5, 150 rounds, tree_method
    hist; ``device`` "cuda" trains on the GPU. num_class is the given n_classes, so classes
    missing from the training rows still get a (small) probability column.
    """

    name = "xgb"

    def __init__(self, *, n_classes: int, input_shape: tuple[int, ...],
                 params: Mapping[str, Any] | None = None, threads: int = 1, device: str = "cpu",
                 seed: int = 0) -> None:
        self.n_classes, self.input_shape = check_n_classes(n_classes), check_input_shape(input_shape)
        self.params = validate_params(self.name, params)
        self.threads, self.device, self.seed = threads, device, seed
        self._booster: xgb.Booster | None = None

    def _booster_params(self) -> dict[str, Any]:
        """xgboost's parameter dict for ``xgb.train``."""
        p = self.params
        return {
            "objective": "multi:softprob", "num_class": self.n_classes, "eval_metric": "mlogloss",
            "eta": p["eta"], "max_depth": p["max_depth"], "subsample": p["subsample"],
            "colsample_bytree": p["colsample_bytree"], "tree_method": p["tree_method"],
            "nthread": self.threads, "seed": self.seed,
            "device": "cuda" if self.device.startswith("cuda") else "cpu",
        }

    def fit(self, x: np.ndarray, y: np.ndarray, *, on_epoch: Callable | None = None,
            resume_state: Mapping | None = None) -> dict[str, Any]:
        """Train on all rows of x (n, *input_shape), y int (n,); ``on_epoch``/``resume_state`` unused."""
        x = check_images(x, input_shape=self.input_shape)
        y = check_labels(y, n=len(x), n_classes=self.n_classes)
        start = time.perf_counter()
        dtrain = xgb.DMatrix(flat_float32(x), label=y, nthread=self.threads)
        self._booster = xgb.train(self._booster_params(), dtrain,
                                  num_boost_round=self.params["num_boost_round"])
        return _tree_fit_info(len(x), time.perf_counter() - start, nthread=self.threads)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """float64 (m, n_classes) class probabilities (softmax over the boosted margins)."""
        if self._booster is None:
            raise RuntimeError("xgb: predict_proba called before fit")
        dtest = xgb.DMatrix(flat_float32(check_images(x, input_shape=self.input_shape)),
                            nthread=self.threads)
        proba = self._booster.predict(dtest).astype(np.float64).reshape(len(x), self.n_classes)
        return proba / proba.sum(axis=1, keepdims=True)  # float32 -> exact row sums in float64
