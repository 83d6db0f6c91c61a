"""Trial cost estimates, used to submit the longest trials first.

A sweep's makespan is bounded below by its longest trial; submitting that trial last leaves
the other slots idle at the end. Constants are seconds on one CPU thread, measured on the
2-core development machine (see below and benchmarks/README.md); only their ratios matter
for ordering, and `datavsmath status` uses them for its ETA.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from datavsmath.trainables.damage import subset_size
from datavsmath.trainables.models import default_params
from datavsmath.trainables.models.registry import SEED_MODELS
from datavsmath.trainables.models.user import UserModel
from datavsmath.trainables.repair import DEFAULT_FOLDS, MODEL_REPAIRS

# Seconds per (training sample x pass) on one thread, where a pass is an epoch (nets), a
# boosting round (xgb) or a tree (rf), fixed seconds per trial, and the setting that counts the
# passes: each seed model's registry entry (measurements there). Small trials cost a little
# more per sample-pass; the big trials are the ones whose order matters.
SECONDS_PER_SAMPLE_PASS = {name: e.seconds_per_sample_pass for name, e in SEED_MODELS.items()}
SECONDS_FIXED = {name: e.seconds_fixed for name, e in SEED_MODELS.items()}
PASS_PARAM = {name: e.pass_param for name, e in SEED_MODELS.items()}


# A user's model (datavsmath.trainables.models.user) is costed as the seed model of its kind: a torch
# module as the dnn per epoch, a scikit-learn estimator as one pass of rf's 25 trees.
USER_KIND_AS = {"module": "dnn", "estimator": "rf"}  # UserModel.kind -> the seed model it is costed as
USER_ESTIMATOR_PASSES = 25


# A repair of MODEL_REPAIRS (prune, relabel, audit) first cross-validates the cheap model
# (datavsmath.trainables.repair: a 100-tree forest by default) over DEFAULT_FOLDS folds: each
# fold fits (folds - 1) / folds of the rows, so (folds - 1) * n sample-passes of 100 trees, at
# rf's rate. Measured: 3000 rows, 5 folds, 5.9 s on 2 threads (trainables/repair.py), against
# 10.7 s estimated on 1 thread.
REPAIR_TREES = 100


def repair_seconds(n: int, *, folds: int = DEFAULT_FOLDS) -> float:
    """Estimated single-thread seconds of a repair's cross-validation on n training rows."""
    return SECONDS_PER_SAMPLE_PASS["rf"] * REPAIR_TREES * n * (folds - 1)


def _params(model: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**default_params(model), **(overrides or {})}


def _user_estimate(n: int, user: UserModel | None) -> float:
    """A user's model; None (its entry unknown, e.g. `status` on results without a spec): as an estimator."""
    like = USER_KIND_AS["estimator" if user is None else user.kind]
    if user is not None and user.net:
        n = int(n * (1 - user.validation_split))
        return SECONDS_FIXED[like] + SECONDS_PER_SAMPLE_PASS[like] * n * user.epochs
    return SECONDS_FIXED[like] + SECONDS_PER_SAMPLE_PASS[like] * n * USER_ESTIMATOR_PASSES


def passes(model: str, overrides: Mapping[str, Any] | None = None) -> int:
    """Epochs, boosting rounds or trees of `model` after overrides."""
    return int(_params(model, overrides)[PASS_PARAM[model]])


def estimate_seconds(trial: Mapping[str, Any], *, n_train: int, overrides: Mapping[str, Any] | UserModel | None = None,
                     repair_folds: int = DEFAULT_FOLDS) -> float:
    """Estimated single-thread seconds for one trial (a dict with model and sample_frac).

    n_train: the size of the dataset's full training set; the trial trains on
    sample_frac of it, less the nets' validation_split. overrides: the model's settings
    (Spec.settings: a seed model's overrides; a user's model, its UserModel, costed as
    USER_KIND_AS says). repair_folds: the folds of a repair's cross-validation (the spec's
    repair_model.folds), for a trial whose repair cross-validates (MODEL_REPAIRS; a vote does not).
    """
    model = trial["model"]
    n = subset_size(n_train, sample_frac=trial["sample_frac"])
    extra = repair_seconds(n, folds=repair_folds) if trial.get("repair") in MODEL_REPAIRS else 0.0
    if model not in PASS_PARAM or isinstance(overrides, UserModel):  # a user's model
        return extra + _user_estimate(n, overrides if isinstance(overrides, UserModel) else None)
    params = _params(model, overrides)
    n = int(n * (1 - params.get("validation_split", 0.0)))
    return extra + SECONDS_FIXED[model] + SECONDS_PER_SAMPLE_PASS[model] * n * int(params[PASS_PARAM[model]])


def longest_first(trials: list[dict[str, Any]], *, n_train: int,
                  overrides: Mapping[str, Mapping[str, Any] | UserModel],
                  repair_folds: int = DEFAULT_FOLDS) -> list[dict[str, Any]]:
    """Trials sorted by estimated cost, most expensive first (stable for equal costs)."""
    return sorted(trials, key=lambda t: -estimate_seconds(t, n_train=n_train, overrides=overrides.get(t["model"]),
                                                          repair_folds=repair_folds))
