"""The talk's four models behind one interface: ``build_model(name, ...)`` -> ``Model``.

``Model.fit(x_uint8 (n, 28, 28), y (n,), *, on_epoch=None, resume_state=None) -> dict`` and
``Model.predict_proba(x_uint8 (m, 28, 28)) -> float64 (m, 10)`` (rows sum to 1, always 10
columns). Pixels are scaled to [0, 1] inside the models. No ray in here.

torch / xgboost / sklearn are imported only when a model is built, so ``default_params`` and
``validate_params`` stay cheap for spec validation.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

import numpy as np

from .common import (DEFAULT_PARAMS, MODEL_NAMES, N_CLASSES, check_model_name, default_params,
                     validate_params)

__all__ = ["MODEL_NAMES", "N_CLASSES", "DEFAULT_PARAMS", "Model", "build_model", "default_params",
           "validate_params"]

NET_MODELS = ("dnn", "cnn")


class Model(Protocol):
    """What ``build_model`` returns (see the module docstring and CONTRACTS.md)."""

    name: str
    params: dict[str, Any]

    def fit(self, x: np.ndarray, y: np.ndarray, *, on_epoch: Callable[[dict, dict], Any] | None = None,
            resume_state: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Train; returns fit info with at least n_fit, n_val, val_acc, epochs_done."""
        ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(m, 10) class probabilities, rows summing to 1."""
        ...


def _check_device(device: str) -> str:
    """Return ``device`` if torch/xgboost can name it ("cpu", "cuda", "cuda:N", "mps")."""
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'mps'; got {device!r}")
    return device


def build_model(model: str, *, params: Mapping[str, Any] | None = None, threads: int = 1,
                device: str = "cpu", seed: int = 0) -> Model:
    """An unfitted model.

    model: one of MODEL_NAMES ("rf", "xgb", "dnn", "cnn"); params: overrides of
    ``default_params(model)`` (unknown keys raise ValueError naming model, key and allowed keys);
    threads: CPU threads (>= 1, default 1); device: "cpu" (default), "cuda[:N]" or "mps" (rf
    ignores it); seed: fixes every random choice (default 0).
    """
    check_model_name(model)
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads: expected an integer >= 1; got {threads!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0; got {seed!r}")
    options = {"params": validate_params(model, params), "threads": int(threads),
               "device": _check_device(device), "seed": int(seed)}
    if model in NET_MODELS:
        from .nets import TorchNetModel
        return TorchNetModel(model, **options)
    from .trees import RandomForestModel, XGBoostModel
    return RandomForestModel(**options) if model == "rf" else XGBoostModel(**options)
