"""Whether a spec fits a dataset's facts: every model takes its inputs and gets the rows it
needs at its smallest sample_frac, and `matrix` damage's transition matrix has its classes.
Checked by datavsmath.sweeps.validation when the facts are known before any data is read (the
built-in datasets, a stored spec), and by the runner once a table or image folder is read.
No ray import here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from datavsmath.sweeps.spec import Spec, SpecError
from datavsmath.trainables.damage import check_transition, subset_size
from datavsmath.trainables.datasets.common import DatasetInfo
from datavsmath.trainables.models import input_problem, validate_params
from datavsmath.trainables.models.user import UserModel


def rows_problem(model: str, sample_frac: float, *, params: Mapping[str, Any], info: DatasetInfo) -> str | None:
    """Why `sample_frac` gives `model` too few rows to train, or None when enough.

    info: the dataset's facts (its n_train and n_classes).
    Models with a `validation_split` (the nets) train on floor(n * (1 - split)) rows, as
    datavsmath.trainables.models.nets.keras_n_fit, and need at least 1 of those and 1 held out (when
    the split is > 0); the others (the trees) need at least one row per class.
    """
    n_train, n_classes = info.n_train, info.n_classes
    n = subset_size(n_train, sample_frac=sample_frac)
    gives = f"sample_frac {sample_frac:g} gives {model} {n} of the {n_train} training rows"
    if "validation_split" not in params:
        return None if n >= n_classes else f"{gives}; {model} needs at least {n_classes} (one per class)"
    split = float(params["validation_split"])
    n_fit = int(math.floor(n * (1.0 - split)))
    if n_fit >= 1 and (split == 0 or n - n_fit >= 1):
        return None
    need = "at least 1 to fit" if split == 0 else "at least 1 of each"
    return f"{gives}: {n_fit} to fit and {n - n_fit} to validate (validation_split {split:g}); {model} needs {need}"


def _fit_params(settings: Mapping[str, Any] | UserModel, model: str) -> dict[str, Any]:
    """The settings rows_problem reads: a user's net has its validation_split, a user's
    estimator none; a seed model's are its defaults with the spec's overrides."""
    if isinstance(settings, UserModel):
        return {"validation_split": settings.validation_split} if settings.net else {}
    return validate_params(model, settings)


def _check_rows(spec: Spec, info: DatasetInfo) -> None:
    """Every model's smallest sample_frac must give it the rows it needs (rows grow with it)."""
    smallest: dict[str, float] = {}
    for grid in spec.grids:
        for model in grid.model:
            smallest[model] = min(smallest.get(model, 1.0), *grid.sample_frac)
    settings = spec.settings
    for model, frac in smallest.items():
        problem = rows_problem(model, frac, info=info, params=_fit_params(settings[model], model))
        if problem:
            raise SpecError(problem)


def check_fits_dataset(spec: Spec, info: DatasetInfo) -> None:
    """Every model of `spec` can take the dataset `info` describes (its input kind and shape,
    datavsmath.trainables.models.input_problem) and gets the rows it needs at its smallest sample_frac
    (rows_problem); `matrix` damage's transition matrix is K x K for the dataset's K classes
    with somewhere to go in every row (datavsmath.trainables.damage.check_transition). Raises SpecError
    with the reason, naming the model, the row or the dataset."""
    for model in spec.models:
        problem = input_problem(model, info.input_shape)
        if problem:
            raise SpecError(f"model {model} cannot take dataset {info.name!r}: {problem}")
    _check_rows(spec, info)
    if spec.transition is not None:
        try:
            check_transition(spec.transition, n_classes=info.n_classes, class_names=info.class_names)
        except ValueError as exc:
            raise SpecError(f"{exc} (dataset {info.name!r} has {info.n_classes} classes)") from exc
