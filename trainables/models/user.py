"""A user's own models, named in a spec's ``models:`` and swept like the four seed models.

Two forms (``check_user_model`` checks one into a ``UserModel``; nothing is imported to check it):

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import (
    AT_LEAST_ONE,
    POSITIVE,
    UNIT_OPEN_RIGHT,
    DatavsmathError,
    check_int,
    check_keys,
    check_number,
    echo,
)
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


class UserModelError(DatavsmathError, ValueError):
    """A user model's definition, import path or params cannot be used; names model and path."""


@dataclass(frozen=True)
class UserModel:
    """One of a spec's own models, checked (``check_user_model``); the sweeps, the cost model,
    the resources, the preflight and the trainable read it.

    name: its value on the model axis; kind: "estimator" (a scikit-learn classifier) or
    "module" (a torch factory); path: "package.module:attr" or a PICKLE_SUFFIX file; params:
    an estimator's constructor kwargs; epochs (>= 1), batch_size (>= 1), validation_split
    ([0, 1)), optimizer ({name, lr, ...}): a module's training settings (see the module doc).
    """

    name: str
    kind: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    epochs: int = MODULE_DEFAULTS["epochs"]
    batch_size: int = MODULE_DEFAULTS["batch_size"]
    validation_split: float = MODULE_DEFAULTS["validation_split"]
    optimizer: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIMIZER))

    @property
    def net(self) -> bool:
        """A torch network, trained by the project's net trainer."""
        return self.kind == "module"

    @property
    def gpu(self) -> bool:
        """Has a GPU path (asks for a GPU share on a GPU cluster): a torch network does, a
        scikit-learn estimator does not."""
        return self.net

    @property
    def where(self) -> str:
        """How messages name it: "models.NAME.KIND PATH"."""
        return f"models.{self.name}.{self.kind} {self.path}"

    def to_dict(self) -> dict[str, Any]:
        """Its `models:` entry as a spec writes it: {estimator, params} or {module, epochs,
        batch_size, validation_split, optimizer}; check_user_model reads it back."""
        if not self.net:
            return {"estimator": self.path, "params": dict(self.params)}
        return {"module": self.path, "epochs": self.epochs, "batch_size": self.batch_size,
                "validation_split": self.validation_split, "optimizer": dict(self.optimizer)}

    def record(self) -> dict[str, Any]:
        """What its trials record as their settings (params.json's `overrides`, which --extend
        compares): {kind, **to_dict()}."""
        return {"kind": self.kind, **self.to_dict()}


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


def check_user_model(name: str, definition: Any) -> UserModel:
    """One `models:` entry (or a UserModel.record()), checked without importing anything.

    estimator: {estimator, params (default {})}; module: {module, epochs (>= 1, default 10),
    batch_size (>= 1, default 128), validation_split ([0, 1), default 0.2), optimizer ({name,
    lr, ...}, default adam with lr 0.001)}. Raises UserModelError."""
    if not isinstance(definition, Mapping):
        raise UserModelError(f"models.{name} must be a mapping with estimator or module, got {echo(definition)}")
    definition = {key: value for key, value in definition.items() if key != "kind"}  # a record reads back
    kinds = [kind for kind in KINDS if kind in definition]
    if len(kinds) != 1:
        raise UserModelError(f"models.{name} must have exactly one of estimator, module; got keys "
                             f"{', '.join(map(str, definition)) or 'none'}")
    kind = kinds[0]
    allowed = ESTIMATOR_KEYS if kind == "estimator" else MODULE_KEYS
    check_keys(f"models.{name}", definition, allowed, of=f" for a {kind}", error=UserModelError)
    path = _check_path(name, kind, definition[kind])
    if kind == "estimator":
        params = definition.get("params") or {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise UserModelError(f"models.{name}.params must be a mapping of keyword arguments, got {echo(params)}")
        if params and is_pickled(path):
            raise UserModelError(f"models.{name}.params must be empty for a pickled estimator (its params are "
                                 f"the instance's), got {echo(dict(params))}")
        return UserModel(name=name, kind=kind, path=path, params=dict(params))
    out: dict[str, Any] = {}
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
    return UserModel(name=name, kind=kind, path=path, optimizer=_check_optimizer(name, definition.get("optimizer")),
                     **out)


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


def _estimator_instance(model: UserModel, *, threads: int, seed: int) -> Any:
    """A fresh copy of a pickled estimator instance, with the trial's threads and seed."""
    from sklearn.base import clone

    obj = resolve(model.name, "estimator", model.path)
    if inspect.isclass(obj) or not all(callable(getattr(obj, m, None)) for m in ("fit", "predict_proba")):
        raise UserModelError(f"{model.where}: not a classifier instance with "
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


def _estimator_class(model: UserModel) -> type:
    cls = resolve(model.name, "estimator", model.path)
    if not inspect.isclass(cls) or not all(callable(getattr(cls, m, None)) for m in ("fit", "predict_proba")):
        raise UserModelError(f"{model.where}: not a classifier class with "
                             f"fit and predict_proba (got {type(cls).__name__} {echo(cls)})")
    return cls


def make_estimator(model: UserModel, *, threads: int = 1, seed: int = 0) -> Any:
    """An unfitted estimator of the user's estimator `model`: its params, plus n_jobs =
    threads and random_state = seed when the class takes them and params do not set them (a
    pickled instance: see the module doc)."""
    if is_pickled(model.path):
        return _estimator_instance(model, threads=threads, seed=seed)
    cls = _estimator_class(model)
    params = dict(model.params)
    try:
        accepted = set(cls().get_params()) if hasattr(cls, "get_params") else set(inspect.signature(cls).parameters)
    except Exception:  # a class that needs arguments: rely on its constructor's own check
        accepted = set(params)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise UserModelError(f"models.{model.name}.params: unknown param{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))} for {model.path}; it takes "
                             f"{', '.join(sorted(accepted))}")
    for key, value in (("n_jobs", threads), ("random_state", seed)):
        if key in accepted and key not in params and not deprecated_param(cls, key):
            params[key] = value
    try:
        return cls(**params)
    except Exception as exc:  # TypeError for unknown keywords, ValueError for bad values
        raise UserModelError(f"models.{model.name}.params for {model.path}: {type(exc).__name__}: "
                             f"{exc}") from exc


def make_factory(model: UserModel) -> Callable[..., Any]:
    """The factory of the user's torch network `model` (a callable), or UserModelError."""
    factory = resolve(model.name, "module", model.path)
    if not callable(factory):
        raise UserModelError(f"{model.where}: not callable "
                             f"(got {type(factory).__name__})")
    return factory


def build_net(model: UserModel, *, input_shape: tuple[int, ...], n_classes: int) -> Any:
    """factory(input_shape, n_classes) of the user's torch network `model`, checked to be a
    torch.nn.Module."""
    from torch import nn

    factory = make_factory(model)
    try:
        net = factory(tuple(input_shape), int(n_classes))
    except Exception as exc:
        raise UserModelError(f"{model.where}({tuple(input_shape)}, {n_classes}) "
                             f"raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(net, nn.Module):
        raise UserModelError(f"{model.where}: returned {type(net).__name__}, "
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


def _check_estimator(model: UserModel, rows: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Build the estimator, check that scikit-learn can clone it, and, given real rows (x, y),
    fit it on them and check classes_ and predict_proba's shape: UserModelError naming the
    model and what fails."""
    estimator = make_estimator(model)
    where = model.where
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
        raise UserModelError(f"{where} with params {echo(model.params)}: fit and predict_proba on "
                             f"{len(y)} rows of the dataset fail: {type(exc).__name__}: {exc}") from exc
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise UserModelError(f"{where}: has no classes_ after fit (the labels of predict_proba's columns, "
                             "which scikit-learn classifiers set)")
    if proba.shape != (len(y), len(classes)):
        raise UserModelError(f"{where}: predict_proba of {len(y)} rows must have shape ({len(y)}, {len(classes)}) "
                             f"(rows, classes_), got {proba.shape}")


def check_importable(model: UserModel, *, input_shape: tuple[int, ...], n_classes: int,
                     rows: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Import the model's path and build it once for this dataset (the driver, before Ray):
    UserModelError naming the model and the path for an import that fails, an object that is
    not a classifier or a torch module, unknown params, or a net that cannot take one batch.
    An estimator must be scikit-learn compatible (get_params, clone); given `rows`, a few
    real rows (x (n, *input_shape), y int (n,), see `preflight_rows`), it is also fitted on
    them once: params of the wrong type, no classes_, or predict_proba of the wrong shape
    are refused."""
    if not model.net:
        _check_estimator(model, rows)
        return
    import torch

    net = build_net(model, input_shape=input_shape, n_classes=n_classes)
    batch = torch.zeros((2, math.prod(input_shape)) if len(input_shape) == 1
                        else (2, input_shape[2] if len(input_shape) == 3 else 1, *input_shape[:2]))
    try:
        with torch.no_grad():
            out = net.eval()(batch)
    except Exception as exc:
        raise UserModelError(f"{model.where}: the net fails on a batch of shape "
                             f"{tuple(batch.shape)}: {type(exc).__name__}: {exc}") from exc
    if tuple(out.shape) != (2, n_classes):
        raise UserModelError(f"{model.where}: the net must return (n, {n_classes}) "
                             f"logits, got shape {tuple(out.shape)} for a batch of {tuple(batch.shape)}")
    options = dict(model.optimizer)
    try:
        getattr(torch.optim, OPTIMIZERS[options.pop("name")])(net.parameters(), **options)
    except (TypeError, ValueError) as exc:
        raise UserModelError(f"models.{model.name}.optimizer {echo(model.optimizer)}: {exc}") from exc


class EstimatorModel:
    """A user's scikit-learn classifier behind the Model interface (see the module doc).

    Trains on every row (no validation split, as rf): fit info n_val 0, val_acc NaN,
    epochs_done 1, and n_jobs when the estimator has it."""

    def __init__(self, model: UserModel, *, n_classes: int, input_shape: tuple[int, ...], threads: int = 1,
                 device: str = "cpu", seed: int = 0) -> None:
        self.name, self.user = model.name, model
        self.params = dict(model.params)
        self.n_classes, self.input_shape = check_n_classes(n_classes), check_input_shape(input_shape)
        self.threads, self.device, self.seed = threads, device, seed  # device unused: sklearn is CPU only
        self._estimator: Any = None

    def fit(self, x: np.ndarray, y: np.ndarray, *, on_epoch: Callable | None = None,
            resume_state: Mapping | None = None) -> dict[str, Any]:
        """Train on all rows of x (n, *input_shape), y int (n,); on_epoch/resume_state unused."""
        x = check_images(x, input_shape=self.input_shape)
        y = check_labels(y, n=len(x), n_classes=self.n_classes)
        start = time.perf_counter()
        self._estimator = make_estimator(self.user, threads=self.threads, seed=self.seed)
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
