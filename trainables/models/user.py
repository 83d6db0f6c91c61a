"""A user's own models, named in a spec's ``models:`` and swept like the four seed models.

Two forms (``check_user_model`` gives their normal form; nothing is imported to check it):

- ``{estimator: "pkg.mod:Class", params: {...}}``: a scikit-learn classifier (any class with
  ``fit`` and ``predict_proba``), built as ``Class(**params)``; ``n_jobs`` is set to the
  trial's threads and ``random_state`` to its seed when the class has them and params do not
  say. Trained on the flattened inputs (pixels scaled to [0, 1], features as they are), as rf.
- ``{module: "pkg.mod:make_net", epochs: 10, batch_size: 128, validation_split: 0.2,
  optimizer: {name: adam, lr: 0.001, ...}}``: ``make_net(input_shape, n_classes)`` returns a
  ``torch.nn.Module`` mapping float32 batches to (n, n_classes) logits; batches are (n, F) for
  flat datasets and (n, C, H, W) for images (pixels in [0, 1]); ``input_shape`` is the
  dataset's one-row shape ((F,), (H, W) or (H, W, C)). The project's net trainer trains it
  (datavsmath.trainables.models.nets.TorchNetModel): per-epoch reports, checkpoints and resume, the
  Keras validation split, the device choice. Optimizer kwargs other than ``name`` go to the
  torch optimizer.

Either path may instead name a file ``*.pkl`` written by cloudpickle (the Python API does this
for an estimator instance or a factory that cannot be imported by path, e.g. one defined in a
notebook): an estimator file holds an unfitted instance, cloned for every trial, whose
``n_jobs`` is the trial's threads and whose ``random_state`` is the trial's seed when it is
None (``params`` must then be empty); a module file holds the factory. The file is read
wherever the model is built, so it must be on a path every worker can read.

``check_importable`` imports the path and builds the model once (for the driver, before Ray
starts), and fits an estimator once on a few real rows: an import that fails, an object of
the wrong kind, a class scikit-learn cannot clone, unknown params or params its fit refuses,
no ``classes_`` after fit raise UserModelError naming the model and the path. torch and
sklearn are imported only there and when a model is built.
"""

from __future__ import annotations

import importlib
import inspect
import math
import re
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..checks import AT_LEAST_ONE, POSITIVE, UNIT_OPEN_RIGHT, check_int, check_number, echo
from .common import check_images, check_input_shape, check_labels, check_n_classes, flat_float32

KINDS = ("estimator", "module")
ESTIMATOR_KEYS = ("estimator", "params")
MODULE_KEYS = ("module", "epochs", "batch_size", "validation_split", "optimizer")
MODULE_DEFAULTS: dict[str, Any] = {"epochs": 10, "batch_size": 128, "validation_split": 0.2}
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adadelta": "Adadelta",
              "adagrad": "Adagrad"}  # name in a spec -> torch.optim class
DEFAULT_OPTIMIZER: dict[str, Any] = {"name": "adam", "lr": 1e-3}
USER_EVAL_BATCH = 1024  # rows per eval forward pass of a user's net
PREFLIGHT_PER_CLASS = 2  # rows of each class the preflight fits a user's estimator on
PICKLE_SUFFIX = ".pkl"  # a cloudpickle file in place of an import path


class UserModelError(ValueError):
    """A user model's definition, import path or params cannot be used; names model and path."""


def is_user_model(definition: Any) -> bool:
    """Whether `definition` (a spec's settings of a model) defines a user model."""
    return isinstance(definition, Mapping) and any(kind in definition for kind in KINDS)


def is_pickled(path: str) -> bool:
    """Whether a model's `estimator` / `module` value names a cloudpickle file, not an import path."""
    return path.endswith(PICKLE_SUFFIX)


def _check_path(name: str, key: str, value: Any) -> str:
    if isinstance(value, str) and is_pickled(value):
        return value
    module, sep, attr = value.partition(":") if isinstance(value, str) else ("", "", "")
    if not sep or not module or not attr or not all(part.isidentifier() for part in [*module.split("."),
                                                                                      *attr.split(".")]):
        raise UserModelError(f"models.{name}.{key} must be an import path 'package.module:name' or a "
                             f"{PICKLE_SUFFIX} file, got {echo(value)}")
    return value


def _check_optimizer(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return dict(DEFAULT_OPTIMIZER)
    if not isinstance(value, Mapping):
        raise UserModelError(f"models.{name}.optimizer must be a mapping like {{name: adam, lr: 0.001}}, "
                             f"got {echo(value)}")
    out = {**DEFAULT_OPTIMIZER, **dict(value)}
    if out["name"] not in OPTIMIZERS:
        raise UserModelError(f"models.{name}.optimizer.name must be one of {list(OPTIMIZERS)}, got {echo(out['name'])}")
    try:
        out["lr"] = check_number(f"models.{name}.optimizer.lr", out["lr"], POSITIVE)
    except ValueError as exc:
        raise UserModelError(str(exc)) from exc
    return out


def check_user_model(name: str, definition: Any) -> dict[str, Any]:
    """The normal form of one `models:` entry, checked without importing anything.

    estimator: {kind, estimator, params (default {})}; module: {kind, module, epochs (>= 1,
    default 10), batch_size (>= 1, default 128), validation_split ([0, 1), default 0.2),
    optimizer ({name, lr, ...}, default adam with lr 0.001)}. Raises UserModelError."""
    if not isinstance(definition, Mapping):
        raise UserModelError(f"models.{name} must be a mapping with estimator or module, got {echo(definition)}")
    definition = {key: value for key, value in definition.items() if key != "kind"}  # a normal form again
    kinds = [kind for kind in KINDS if kind in definition]
    if len(kinds) != 1:
        raise UserModelError(f"models.{name} must have exactly one of estimator, module; got keys "
                             f"{', '.join(map(str, definition)) or 'none'}")
    kind = kinds[0]
    allowed = ESTIMATOR_KEYS if kind == "estimator" else MODULE_KEYS
    unknown = [key for key in definition if key not in allowed]
    if unknown:
        raise UserModelError(f"models.{name}: unknown key {echo(unknown[0])} for a {kind}; "
                             f"allowed: {', '.join(allowed)}")
    path = _check_path(name, kind, definition[kind])
    if kind == "estimator":
        params = definition.get("params") or {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise UserModelError(f"models.{name}.params must be a mapping of keyword arguments, got {echo(params)}")
        if params and is_pickled(path):
            raise UserModelError(f"models.{name}.params must be empty for a pickled estimator (its params are "
                                 f"the instance's), got {echo(dict(params))}")
        return {"kind": kind, "estimator": path, "params": dict(params)}
    out: dict[str, Any] = {"kind": kind, "module": path}
    try:
        out["epochs"] = check_int(f"models.{name}.epochs", definition.get("epochs", MODULE_DEFAULTS["epochs"]),
                                  AT_LEAST_ONE)
        out["batch_size"] = check_int(f"models.{name}.batch_size",
                                      definition.get("batch_size", MODULE_DEFAULTS["batch_size"]), AT_LEAST_ONE)
        out["validation_split"] = check_number(
            f"models.{name}.validation_split",
            definition.get("validation_split", MODULE_DEFAULTS["validation_split"]), UNIT_OPEN_RIGHT)
    except ValueError as exc:
        raise UserModelError(str(exc)) from exc
    out["optimizer"] = _check_optimizer(name, definition.get("optimizer"))
    return out


def resolve(name: str, key: str, path: str) -> Any:
    """The object at import path 'package.module:attr' (attr may be dotted); UserModelError
    naming the model and the path when the import fails."""
    if is_pickled(path):
        return _unpickle(name, key, path)
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises when it runs
        raise UserModelError(f"models.{name}.{key} {path}: cannot import {module_name} "
                             f"({type(exc).__name__}: {exc}); install it in the venv or list its folder "
                             "in the spec's py_modules") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserModelError(f"models.{name}.{key} {path}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _unpickle(name: str, key: str, path: str) -> Any:
    """The object in a cloudpickle file; UserModelError naming the model and the file."""
    import cloudpickle

    try:
        with open(path, "rb") as f:
            return cloudpickle.load(f)
    except Exception as exc:  # a missing file, or what unpickling raises (a missing module, ...)
        raise UserModelError(f"models.{name}.{key} {path}: cannot unpickle ({type(exc).__name__}: {exc}); the "
                             "objects it refers to must be importable where the model is built") from exc


def _estimator_instance(name: str, definition: Mapping[str, Any], *, threads: int, seed: int) -> Any:
    """A fresh copy of a pickled estimator instance, with the trial's threads and seed."""
    from sklearn.base import clone

    obj = resolve(name, "estimator", definition["estimator"])
    if inspect.isclass(obj) or not all(callable(getattr(obj, m, None)) for m in ("fit", "predict_proba")):
        raise UserModelError(f"models.{name}.estimator {definition['estimator']}: not a classifier instance with "
                             f"fit and predict_proba (got {type(obj).__name__})")
    try:
        estimator = clone(obj)
    except Exception:  # not scikit-learn's protocol: a deep copy is a fresh, unfitted instance too
        import copy

        estimator = copy.deepcopy(obj)
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    trial = {"n_jobs": threads} if "n_jobs" in params and not deprecated_param(type(estimator), "n_jobs") else {}
    if "random_state" in params and params["random_state"] is None:
        trial["random_state"] = seed
    return estimator.set_params(**trial) if trial else estimator


def deprecated_param(cls: type, name: str) -> bool:
    """Whether the numpydoc of `cls` marks its parameter `name` deprecated (scikit-learn's
    LogisticRegression n_jobs since 1.8: setting it only raises a FutureWarning in every fit)."""
    doc = inspect.getdoc(cls) or ""
    found = re.search(rf"^{re.escape(name)} :.*?(?=^\S+ :|^\S.*\n-{{3,}}|\Z)", doc, re.MULTILINE | re.DOTALL)
    return found is not None and ".. deprecated::" in found.group(0)


def _estimator_class(name: str, definition: Mapping[str, Any]) -> type:
    cls = resolve(name, "estimator", definition["estimator"])
    if not inspect.isclass(cls) or not all(callable(getattr(cls, m, None)) for m in ("fit", "predict_proba")):
        raise UserModelError(f"models.{name}.estimator {definition['estimator']}: not a classifier class with "
                             f"fit and predict_proba (got {type(cls).__name__} {echo(cls)})")
    return cls


def make_estimator(name: str, definition: Mapping[str, Any], *, threads: int = 1, seed: int = 0) -> Any:
    """An unfitted estimator of the definition: params, plus n_jobs = threads and
    random_state = seed when the class takes them and params do not set them (a pickled
    instance: see the module doc)."""
    if is_pickled(definition["estimator"]):
        return _estimator_instance(name, definition, threads=threads, seed=seed)
    cls = _estimator_class(name, definition)
    params = dict(definition["params"])
    try:
        accepted = set(cls().get_params()) if hasattr(cls, "get_params") else set(inspect.signature(cls).parameters)
    except Exception:  # a class that needs arguments: rely on its constructor's own check
        accepted = set(params)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise UserModelError(f"models.{name}.params: unknown param{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))} for {definition['estimator']}; it takes "
                             f"{', '.join(sorted(accepted))}")
    for key, value in (("n_jobs", threads), ("random_state", seed)):
        if key in accepted and key not in params and not deprecated_param(cls, key):
            params[key] = value
    try:
        return cls(**params)
    except Exception as exc:  # TypeError for unknown keywords, ValueError for bad values
        raise UserModelError(f"models.{name}.params for {definition['estimator']}: {type(exc).__name__}: "
                             f"{exc}") from exc


def make_factory(name: str, definition: Mapping[str, Any]) -> Callable[..., Any]:
    """The module factory of the definition (a callable), or UserModelError."""
    factory = resolve(name, "module", definition["module"])
    if not callable(factory):
        raise UserModelError(f"models.{name}.module {definition['module']}: not callable "
                             f"(got {type(factory).__name__})")
    return factory


def build_net(name: str, definition: Mapping[str, Any], *, input_shape: tuple[int, ...], n_classes: int) -> Any:
    """factory(input_shape, n_classes), checked to be a torch.nn.Module."""
    from torch import nn

    factory = make_factory(name, definition)
    try:
        net = factory(tuple(input_shape), int(n_classes))
    except Exception as exc:
        raise UserModelError(f"models.{name}.module {definition['module']}({tuple(input_shape)}, {n_classes}) "
                             f"raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(net, nn.Module):
        raise UserModelError(f"models.{name}.module {definition['module']}: returned {type(net).__name__}, "
                             "not a torch.nn.Module")
    return net


def preflight_rows(x: np.ndarray, y: np.ndarray, *, per_class: int = PREFLIGHT_PER_CLASS
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The first `per_class` rows of every class of x (n, ...), y int (n,): what the
    preflight fits a user's estimator on (real rows, every class, a fraction of a second)."""
    y = np.asarray(y)
    picked = np.concatenate([np.flatnonzero(y == k)[:per_class] for k in np.unique(y)])
    picked.sort()
    return x[picked], y[picked]


def _check_estimator(name: str, definition: Mapping[str, Any], rows: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Build the estimator, check that scikit-learn can clone it, and, given real rows (x, y),
    fit it on them and check classes_ and predict_proba's shape: UserModelError naming the
    model and what fails."""
    estimator = make_estimator(name, definition)
    where = f"models.{name}.estimator {definition['estimator']}"
    if not callable(getattr(estimator, "get_params", None)):
        raise UserModelError(f"{where}: not scikit-learn compatible: it has no get_params "
                             "(derive the class from sklearn.base.BaseEstimator)")
    from sklearn.base import clone

    try:
        clone(estimator)
    except Exception as exc:
        raise UserModelError(f"{where}: not scikit-learn compatible: sklearn.base.clone fails "
                             f"({type(exc).__name__}: {exc})") from exc
    if rows is None:
        return
    x, y = flat_float32(rows[0]), np.asarray(rows[1])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few rows: convergence and similar warnings say nothing here
            estimator.fit(x, y)
            proba = np.asarray(estimator.predict_proba(x))
    except Exception as exc:  # sklearn's InvalidParameterError for a param of the wrong type, or anything else
        raise UserModelError(f"{where} with params {echo(definition['params'])}: fit and predict_proba on "
                             f"{len(y)} rows of the dataset fail: {type(exc).__name__}: {exc}") from exc
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise UserModelError(f"{where}: has no classes_ after fit (the labels of predict_proba's columns, "
                             "which scikit-learn classifiers set)")
    if proba.shape != (len(y), len(classes)):
        raise UserModelError(f"{where}: predict_proba of {len(y)} rows must have shape ({len(y)}, {len(classes)}) "
                             f"(rows, classes_), got {proba.shape}")


def check_importable(name: str, definition: Mapping[str, Any], *, input_shape: tuple[int, ...],
                     n_classes: int, rows: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Import the model's path and build it once for this dataset (the driver, before Ray):
    UserModelError naming the model and the path for an import that fails, an object that is
    not a classifier or a torch module, unknown params, or a net that cannot take one batch.
    An estimator must be scikit-learn compatible (get_params, clone); given `rows`, a few
    real rows (x (n, *input_shape), y int (n,), see `preflight_rows`), it is also fitted on
    them once: params of the wrong type, no classes_, or predict_proba of the wrong shape
    are refused."""
    if definition["kind"] == "estimator":
        _check_estimator(name, definition, rows)
        return
    import torch

    net = build_net(name, definition, input_shape=input_shape, n_classes=n_classes)
    batch = torch.zeros((2, math.prod(input_shape)) if len(input_shape) == 1
                        else (2, input_shape[2] if len(input_shape) == 3 else 1, *input_shape[:2]))
    try:
        with torch.no_grad():
            out = net.eval()(batch)
    except Exception as exc:
        raise UserModelError(f"models.{name}.module {definition['module']}: the net fails on a batch of shape "
                             f"{tuple(batch.shape)}: {type(exc).__name__}: {exc}") from exc
    if tuple(out.shape) != (2, n_classes):
        raise UserModelError(f"models.{name}.module {definition['module']}: the net must return (n, {n_classes}) "
                             f"logits, got shape {tuple(out.shape)} for a batch of {tuple(batch.shape)}")
    options = dict(definition["optimizer"])
    try:
        getattr(torch.optim, OPTIMIZERS[options.pop("name")])(net.parameters(), **options)
    except (TypeError, ValueError) as exc:
        raise UserModelError(f"models.{name}.optimizer {echo(definition['optimizer'])}: {exc}") from exc


class EstimatorModel:
    """A user's scikit-learn classifier behind the Model interface (see the module doc).

    Trains on every row (no validation split, as rf): fit info n_val 0, val_acc NaN,
    epochs_done 1, and n_jobs when the estimator has it."""

    def __init__(self, name: str, *, definition: Mapping[str, Any], n_classes: int,
                 input_shape: tuple[int, ...], threads: int = 1, device: str = "cpu", seed: int = 0) -> None:
        self.name, self.definition = name, check_user_model(name, definition)
        self.params = dict(self.definition["params"])
        self.n_classes, self.input_shape = check_n_classes(n_classes), check_input_shape(input_shape)
        self.threads, self.device, self.seed = threads, device, seed  # device unused: sklearn is CPU only
        self._estimator: Any = None

    def fit(self, x: np.ndarray, y: np.ndarray, *, on_epoch: Callable | None = None,
            resume_state: Mapping | None = None) -> dict[str, Any]:
        """Train on all rows of x (n, *input_shape), y int (n,); on_epoch/resume_state unused."""
        x = check_images(x, input_shape=self.input_shape)
        y = check_labels(y, n=len(x), n_classes=self.n_classes)
        start = time.perf_counter()
        self._estimator = make_estimator(self.name, self.definition, threads=self.threads, seed=self.seed)
        self._estimator.fit(flat_float32(x), y)
        threads = {"n_jobs": self.threads} if self._estimator.get_params().get("n_jobs") == self.threads else {}
        return {"n_fit": len(x), "n_val": 0, "val_acc": math.nan, "val_loss": math.nan, "train_loss": math.nan,
                "epochs_done": 1, "fit_seconds": time.perf_counter() - start, **threads}

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """float64 (m, n_classes); classes absent from training get column 0.0."""
        if self._estimator is None:
            raise RuntimeError(f"{self.name}: predict_proba called before fit")
        seen = np.asarray(self._estimator.predict_proba(flat_float32(check_images(x, input_shape=self.input_shape))),
                          dtype=np.float64)
        proba = np.zeros((len(x), self.n_classes), dtype=np.float64)
        proba[:, np.asarray(self._estimator.classes_).astype(np.int64)] = seen
        return proba / proba.sum(axis=1, keepdims=True)
