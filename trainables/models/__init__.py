"""The talk's four models behind one interface: ``build_model(name, ...)`` -> ``Model``.

A model is built for one dataset's facts: ``n_classes`` and ``input_shape``, the shape of one
input row as the dataset stores it ((H, W) for grayscale images such as Fashion-MNIST's
(28, 28), (H, W, C) for colour images, (F,) for flat features).
``Model.fit(x (n, *input_shape), y (n,), *, on_epoch=None, resume_state=None) -> dict`` and
``Model.predict_proba(x (m, *input_shape)) -> float64 (m, n_classes)`` (rows sum to 1, always
n_classes columns). Inputs are uint8 (pixels, scaled to [0, 1] inside the models) or, for
flat features, floats (used as they are). No ray in here.

torch / xgboost / sklearn are imported only when a model is built, so ``default_params`` and
``validate_params`` stay cheap for spec validation; ``FastPaths`` is imported from the nets
module on first access for the same reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..checks import AT_LEAST_ONE, NON_NEGATIVE, check_int, echo
from .common import (
    DEFAULT_PARAMS,
    MODEL_NAMES,
    check_input_shape,
    check_model_name,
    check_n_classes,
    default_params,
    input_problem,
    validate_params,
)
from .registry import GPU_MODELS, NET_MODELS, SEED_MODELS, ModelEntry
from .user import UserModel

if TYPE_CHECKING:
    from .nets import FastPaths

__all__ = ["MODEL_NAMES", "DEFAULT_PARAMS", "GPU_MODELS", "NET_MODELS", "SEED_MODELS", "FastPaths", "Model",
           "ModelEntry", "UserModel", "build_model", "default_params",
           "input_problem", "validate_params"]

DEVICE_KINDS = ("cpu", "cuda", "mps")


class Model(Protocol):
    """What ``build_model`` returns (see the module docstring and CONTRACTS.md)."""

    name: str
    params: dict[str, Any]
    n_classes: int
    input_shape: tuple[int, ...]

    def fit(self, x: np.ndarray, y: np.ndarray, *, on_epoch: Callable[[dict, dict], Any] | None = None,
            resume_state: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Train; returns fit info with at least n_fit, n_val, val_acc, epochs_done."""
        ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(m, n_classes) class probabilities, rows summing to 1."""
        ...


def __getattr__(name: str) -> Any:
    if name == "FastPaths":  # lives with the nets; imported on demand (it imports torch)
        from .nets import FastPaths
        return FastPaths
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_device(device: Any) -> str:
    """``device`` if torch/xgboost can name it ("cpu", "cuda", "cuda:N", "mps"); else ValueError."""
    if not isinstance(device, str) or device.split(":")[0] not in DEVICE_KINDS:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {echo(device)}")
    return device


def _build_user_model(model: UserModel, *, n_classes: int, input_shape: tuple[int, ...], threads: int, device: str,
                      seed: int, fast_paths: FastPaths | None) -> Model:
    """A user's estimator or torch net (datavsmath.trainables.models.user) for build_model."""
    threads = check_int("threads", threads, AT_LEAST_ONE)
    device, seed = _check_device(device), check_int("seed", seed, NON_NEGATIVE)
    if model.net:
        from .user_net import UserNetModel
        return UserNetModel(model, n_classes=n_classes, input_shape=input_shape, threads=threads, device=device,
                            seed=seed, fast_paths=fast_paths)
    from .user import EstimatorModel
    return EstimatorModel(model, n_classes=n_classes, input_shape=input_shape, threads=threads, device=device,
                          seed=seed)


def build_model(model: str | UserModel, *, n_classes: int, input_shape: tuple[int, ...],
                params: Mapping[str, Any] | None = None, threads: int = 1, device: str = "cpu",
                seed: int = 0, fast_paths: FastPaths | None = None) -> Model:
    """An unfitted model.

    model: one of MODEL_NAMES ("rf", "xgb", "dnn", "cnn"), or a user's model (a checked
    models.user.UserModel: estimator or torch network; ``params`` unused); n_classes: class count (>= 2, e.g.
    the dataset's ``n_classes``); input_shape: one input row's shape (see the module doc; the
    cnn needs an image shape (H, W) or (H, W, C)); params: overrides of
    ``default_params(model)`` (unknown keys raise ValueError naming model, key and allowed keys);
    threads: CPU threads (>= 1, default 1); device: "cpu" (default), "cuda[:N]" or "mps" (rf
    ignores it); seed: fixes every random choice (>= 0, default 0); fast_paths: the nets'
    speed-ups (default None = ``FastPaths()``, all on; the trees ignore it).
    """
    if isinstance(model, UserModel):
        return _build_user_model(model, n_classes=n_classes, input_shape=input_shape, threads=threads,
                                 device=device, seed=seed, fast_paths=fast_paths)
    check_model_name(model)
    n_classes, input_shape = check_n_classes(n_classes), check_input_shape(input_shape)
    merged = validate_params(model, params)
    threads = check_int("threads", threads, AT_LEAST_ONE)
    device = _check_device(device)
    seed = check_int("seed", seed, NON_NEGATIVE)
    entry = SEED_MODELS[model]
    module, _, cls = entry.builder.partition(":")
    builder = getattr(importlib.import_module(f".{module}", __name__), cls)
    common = {"n_classes": n_classes, "input_shape": input_shape, "params": merged, "threads": threads,
              "device": device, "seed": seed}
    if entry.net:  # a net is told its architecture's name and the speed-ups
        return builder(model, fast_paths=fast_paths, **common)
    return builder(**common)
