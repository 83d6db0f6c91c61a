"""Default hyperparameters and the input checks shared by every model.

Kept free of torch/xgboost imports so that specs can be validated (``default_params``,
``validate_params``) without paying for the heavy libraries. Facts of the data (class count,
shape of one input row) are not kept here: the dataset owns them and ``build_model`` is told.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..checks import (
    AT_LEAST_ONE,
    POSITIVE,
    UNIT_OPEN_LEFT,
    UNIT_OPEN_RIGHT,
    Interval,
    check_choice,
    check_int,
    check_keys,
    check_number,
    echo,
    is_integer,
    is_number,
)
from .registry import FLAT, MODEL_NAMES, SEED_MODELS

PIXEL_MAX = 255.0  # uint8 inputs are divided by this, as the talk does (x / 255)

# The talk's settings, from each model's registry entry.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {name: dict(e.defaults) for name, e in SEED_MODELS.items()}

INT_KEYS = frozenset({"n_estimators", "num_boost_round", "epochs", "batch_size", "max_depth"})
NULLABLE_KEYS = frozenset({("rf", "max_depth"), ("rf", "max_features")})  # None = sklearn default
CHOICES = {"tree_method": ("hist", "approx", "exact"), "max_features": ("sqrt", "log2")}

# The range of every numeric key (tree_method has choices only).
RANGES: dict[str, Interval] = {
    "n_estimators": AT_LEAST_ONE,
    "num_boost_round": AT_LEAST_ONE,
    "epochs": AT_LEAST_ONE,
    "batch_size": AT_LEAST_ONE,
    "max_depth": AT_LEAST_ONE,
    "eta": POSITIVE,
    "lr": POSITIVE,
    "eps": POSITIVE,
    "rho": UNIT_OPEN_RIGHT,
    "subsample": UNIT_OPEN_LEFT,
    "colsample_bytree": UNIT_OPEN_LEFT,
    "dropout1": UNIT_OPEN_RIGHT,
    "dropout2": UNIT_OPEN_RIGHT,
    "validation_split": UNIT_OPEN_RIGHT,
    "max_features": UNIT_OPEN_LEFT,  # numeric = a fraction of the input features
}

AT_LEAST_TWO = Interval(2, None, closed="left")  # classes of a classifier
MAX_INPUT_DIMS = 3  # (F,), (H, W) or (H, W, C)


def check_model_name(model: Any) -> str:
    """``model`` if it is one of MODEL_NAMES; else ValueError "model must be one of [...], got V"."""
    return check_choice("model", model, MODEL_NAMES)


def default_params(model: str) -> dict[str, Any]:
    """A fresh copy of the talk's hyperparameters for ``model`` (one of MODEL_NAMES)."""
    return dict(DEFAULT_PARAMS[check_model_name(model)])


def _kinds(model: str, key: str) -> str:
    """Words for every kind of value ``key`` accepts, e.g. "one of ['sqrt', 'log2'], a number
    in (0, 1] or None"."""
    kinds = [f"one of {list(CHOICES[key])}"] if key in CHOICES else []
    kinds.append(f"{'an integer' if key in INT_KEYS else 'a number'} in {RANGES[key]}")
    if (model, key) in NULLABLE_KEYS:
        kinds.append("None")
    return ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]


def _check_value(model: str, key: str, value: Any) -> Any:
    """One override checked for kind, choice and range; returned normalised (ints as int,
    other numbers as float). A float with an integral value (3.0) is accepted for an int key."""
    name = f"params for {model}: {key}"
    if value is None and (model, key) in NULLABLE_KEYS:
        return None
    if key not in RANGES:  # choices only
        return check_choice(name, value, CHOICES[key])
    if key in CHOICES and isinstance(value, str) and value in CHOICES[key]:
        return value
    if isinstance(value, np.generic):  # numpy scalars -> Python numbers (np.bool_ -> bool: rejected)
        value = value.item()
    if key in INT_KEYS and isinstance(value, float) and value.is_integer():
        value = int(value)
    fits_kind = is_integer(value) if key in INT_KEYS else is_number(value)
    if not fits_kind and (key in CHOICES or (model, key) in NULLABLE_KEYS):
        raise ValueError(f"{name} must be {_kinds(model, key)}, got {echo(value)}")
    if key in INT_KEYS:
        return check_int(name, value, RANGES[key])
    return check_number(name, value, RANGES[key])


def validate_params(model: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge ``params`` over ``default_params(model)`` after checking every key and value.

    Raises ValueError for unknown keys, e.g.
    "params for cnn: unknown key 'epoch'; allowed: batch_size, dropout1, ...", and for bad
    values, e.g. "params for cnn: epochs must be in [1, inf), got 0".
    """
    merged = default_params(model)
    for key, value in dict(params or {}).items():
        check_keys(f"params for {model}", [key], sorted(merged))
        merged[key] = _check_value(model, key, value)
    return merged


def check_n_classes(n_classes: Any) -> int:
    """``n_classes`` as an int if it is an integer >= 2; else ValueError."""
    return check_int("n_classes", n_classes, AT_LEAST_TWO)


def check_input_shape(input_shape: Any) -> tuple[int, ...]:
    """``input_shape`` as a tuple of 1 to 3 integers >= 1: (F,), (H, W) or (H, W, C); else ValueError."""
    if (not isinstance(input_shape, Sequence) or isinstance(input_shape, str)
            or not 1 <= len(input_shape) <= MAX_INPUT_DIMS
            or not all(is_integer(d) and d >= 1 for d in input_shape)):
        raise ValueError("input_shape must be (F,), (H, W) or (H, W, C) with every size an integer "
                         f">= 1, got {echo(input_shape)}")
    return tuple(int(d) for d in input_shape)


CONV_KERNEL, POOL = 3, 2  # the cnn's two valid 3x3 convs, then 2x2 max-pooling
CNN_MIN_SIDE = 2 * (CONV_KERNEL - 1) + POOL  # 6: the smallest side that leaves one pooled pixel


def input_problem(model: str, input_shape: tuple[int, ...]) -> str | None:
    """Why ``model`` cannot take inputs of ``input_shape`` ((F,) flat features, (H, W) or
    (H, W, C) images), or None when it can. rf, xgb and dnn take any shape (flattened);
    the cnn needs an image shape with H, W >= CNN_MIN_SIDE. Other (user) models: None."""
    if model not in SEED_MODELS or FLAT in SEED_MODELS[model].inputs:
        return None
    if len(input_shape) == 1:
        *others, last = [name for name, e in SEED_MODELS.items() if FLAT in e.inputs]
        return (f"{model} needs image inputs (H, W) or (H, W, C), and this dataset has {input_shape[0]} flat "
                f"features; use {', '.join(others)} or {last}, or an images dataset")
    if min(input_shape[:2]) < CNN_MIN_SIDE:
        return (f"cnn needs images of at least {CNN_MIN_SIDE}x{CNN_MIN_SIDE} (two 3x3 convs and 2x2 pooling), "
                f"got {input_shape[0]}x{input_shape[1]}; set the images dataset's size")
    return None


def n_features(input_shape: tuple[int, ...]) -> int:
    """Numbers in one input row: the product of ``input_shape`` (784 for (28, 28))."""
    return math.prod(input_shape)


def check_images(x: Any, *, input_shape: tuple[int, ...], name: str = "x") -> np.ndarray:
    """``x`` if it is an array (n >= 1, *input_shape) of uint8 (pixels 0..255), or for flat
    features (``input_shape`` (F,)) also of finite floats; else ValueError."""
    shape = "(n >= 1, " + ", ".join(map(str, input_shape)) + ")"
    floats_ok = len(input_shape) == 1
    kinds = "uint8 or float" if floats_ok else "uint8"
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: expected a numpy {kinds} array {shape}; got {type(x).__name__}")
    if x.shape[1:] != tuple(input_shape) or x.shape[0] < 1:
        raise ValueError(f"{name}: expected shape {shape}; got {x.shape}")
    if x.dtype == np.uint8:
        return x
    if floats_ok and np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise ValueError(f"{name}: expected finite features; got NaN or infinity")
        return x
    expected = "uint8 (pixels 0..255)" if not floats_ok else "uint8 or float"
    raise ValueError(f"{name}: expected dtype {expected}; got {x.dtype}")


def check_labels(y: Any, *, n: int, n_classes: int, name: str = "y") -> np.ndarray:
    """``y`` as int64 (n,) if its values are class ids 0..n_classes-1; else ValueError."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) to match the inputs; got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name}: expected integer class ids 0..{n_classes - 1}; got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name}: expected class ids in 0..{n_classes - 1}; got {y.min()}..{y.max()}")
    return y.astype(np.int64, copy=False)


def flat_float32(x: np.ndarray) -> np.ndarray:
    """(n, *input_shape) -> (n, F) float32: uint8 pixels scaled to [0, 1], floats as they are
    (the trees' input)."""
    flat = x.reshape(len(x), -1)
    if x.dtype == np.uint8:
        return flat.astype(np.float32) / np.float32(PIXEL_MAX)
    return flat.astype(np.float32, copy=False)
