"""Constants, default hyperparameters and input checks shared by every model.

Kept free of torch/xgboost imports so that specs can be validated (``default_params``,
``validate_params``) without paying for the heavy libraries.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

N_CLASSES = 10
IMAGE_SHAPE = (28, 28)
N_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
PIXEL_MAX = 255.0  # uint8 inputs are divided by this, as the talk does (x / 255)

# The talk's settings (seed text, "The Math"); Keras defaults where the talk relies on them.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    # R randomForest(ntree=25); its other defaults (mtry = sqrt(p), nodesize 1) are sklearn's.
    "rf": {"n_estimators": 25, "max_features": "sqrt", "max_depth": None},
    # xgb.train(objective multi:softprob, eta .2, max_depth 5, subsample 1, colsample .5, 150 rounds)
    "xgb": {
        "eta": 0.2,
        "max_depth": 5,
        "subsample": 1.0,
        "colsample_bytree": 0.5,
        "num_boost_round": 150,
        "tree_method": "hist",
    },
    # Keras dense net; RMSprop(lr 1e-3, rho .9, eps 1e-7) (torch calls rho "alpha").
    "dnn": {
        "epochs": 30,
        "batch_size": 128,
        "lr": 1e-3,
        "rho": 0.9,
        "eps": 1e-7,
        "dropout1": 0.4,
        "dropout2": 0.3,
        "validation_split": 0.2,
    },
    # Keras conv net; Adadelta(lr 1.0, rho .95, eps 1e-7).
    "cnn": {
        "epochs": 12,
        "batch_size": 128,
        "lr": 1.0,
        "rho": 0.95,
        "eps": 1e-7,
        "dropout1": 0.25,
        "dropout2": 0.5,
        "validation_split": 0.2,
    },
}
MODEL_NAMES = tuple(DEFAULT_PARAMS)  # ("rf", "xgb", "dnn", "cnn")

INT_KEYS = frozenset({"n_estimators", "num_boost_round", "epochs", "batch_size", "max_depth"})
NULLABLE_KEYS = frozenset({("rf", "max_depth"), ("rf", "max_features")})  # None = sklearn default
CHOICES = {"tree_method": ("hist", "approx", "exact"), "max_features": ("sqrt", "log2")}

# Keys whose value must lie in a range: key -> (low, high, low_inclusive, high_inclusive).
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "n_estimators": (1, math.inf, True, False),
    "num_boost_round": (1, math.inf, True, False),
    "epochs": (1, math.inf, True, False),
    "batch_size": (1, math.inf, True, False),
    "max_depth": (1, math.inf, True, False),
    "eta": (0.0, math.inf, False, False),
    "lr": (0.0, math.inf, False, False),
    "eps": (0.0, math.inf, False, False),
    "rho": (0.0, 1.0, True, False),
    "subsample": (0.0, 1.0, False, True),
    "colsample_bytree": (0.0, 1.0, False, True),
    "dropout1": (0.0, 1.0, True, False),
    "dropout2": (0.0, 1.0, True, False),
    "validation_split": (0.0, 1.0, True, False),
    "max_features": (0.0, 1.0, False, True),  # numeric = a fraction of the 784 pixels
}


def check_model_name(model: str) -> str:
    """Return ``model`` if it is one of MODEL_NAMES, else raise ValueError naming the choices."""
    if model not in DEFAULT_PARAMS:
        raise ValueError(f"model: expected one of {', '.join(MODEL_NAMES)}; got {model!r}")
    return model


def default_params(model: str) -> dict[str, Any]:
    """A fresh copy of the talk's hyperparameters for ``model`` (one of MODEL_NAMES)."""
    return dict(DEFAULT_PARAMS[check_model_name(model)])


def _check_range(where: str, key: str, value: float) -> None:
    """Raise ValueError if ``value`` is outside ``_RANGES[key]`` (keys without a range pass)."""
    if key not in _RANGES:
        return
    low, high, low_in, high_in = _RANGES[key]
    if (value >= low if low_in else value > low) and (value <= high if high_in else value < high):
        return
    lo, hi = ("[" if low_in else "("), ("]" if high_in else ")")
    raise ValueError(f"{where}: expected a value in {lo}{low}, {high}{hi}; got {value!r}")


def _check_value(model: str, key: str, value: Any) -> Any:
    """Check one override's type, choices and range; return it normalised (ints as int)."""
    where = f"params for {model}: {key}"
    if value is None and (model, key) in NULLABLE_KEYS:
        return None
    if key in CHOICES and isinstance(value, str):
        if value not in CHOICES[key]:
            raise ValueError(f"{where}: expected one of {', '.join(CHOICES[key])}; got {value!r}")
        return value
    if key == "tree_method" or isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{where}: expected {_expected(model, key)}; got {value!r}")
    if key in INT_KEYS:
        if not float(value).is_integer():
            raise ValueError(f"{where}: expected an integer; got {value!r}")
        value = int(value)
    else:
        value = float(value)
    _check_range(where, key, value)
    return value


def _expected(model: str, key: str) -> str:
    """Words for what ``key`` accepts, for error messages."""
    kinds = [f"one of {', '.join(CHOICES[key])}"] if key in CHOICES else []
    if key != "tree_method":
        kinds.append("an integer" if key in INT_KEYS else "a number")
    if (model, key) in NULLABLE_KEYS:
        kinds.append("None")
    return " or ".join(kinds)


def validate_params(model: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``params`` over ``default_params(model)`` after checking every key and value.

    Raises ValueError for unknown keys, e.g.
    "params for cnn: unknown key 'epoch'; allowed: batch_size, dropout1, ...".
    """
    merged = default_params(model)
    for key, value in dict(params or {}).items():
        if key not in merged:
            allowed = ", ".join(sorted(merged))
            raise ValueError(f"params for {model}: unknown key {key!r}; allowed: {allowed}")
        merged[key] = _check_value(model, key, value)
    return merged


def check_images(x: Any, *, name: str = "x") -> np.ndarray:
    """Return ``x`` if it is a uint8 array of shape (n, 28, 28) with n >= 1, else raise ValueError."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: expected a numpy uint8 array (n, 28, 28); got {type(x).__name__}")
    if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE or x.shape[0] < 1:
        raise ValueError(f"{name}: expected shape (n >= 1, 28, 28); got {x.shape}")
    if x.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8 (pixels 0..255); got {x.dtype}")
    return x


def check_labels(y: Any, *, n: int, name: str = "y") -> np.ndarray:
    """Return ``y`` as int64 (n,) if its values are class ids 0..9, else raise ValueError."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) to match the images; got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name}: expected integer class ids 0..{N_CLASSES - 1}; got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ValueError(f"{name}: expected class ids in 0..{N_CLASSES - 1}; got {y.min()}..{y.max()}")
    return y.astype(np.int64, copy=False)


def flat_unit_float(x: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 -> (n, 784) float32 in [0, 1] (the trees' input)."""
    return x.reshape(len(x), N_PIXELS).astype(np.float32) / np.float32(PIXEL_MAX)
