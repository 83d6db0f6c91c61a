"""Trial cost estimates, used to submit the longest trials first.

A sweep's makespan is bounded below by its longest trial; submitting that trial last leaves
the other slots idle at the end. Constants are seconds on one CPU thread, measured on the
2-core development machine (see below and benchmarks/README.md); only their ratios matter
for ordering, and `datavsmath status` uses them for its ETA.
"""

from __future__ import annotations

from typing import Any, Mapping

N_TRAIN_TOTAL = 60_000
VALIDATION_SPLIT = 0.2  # nets hold out the last 20 % (Keras validation_split)
# seconds per (training sample x pass): pass = epoch (nets), round (xgb), tree (rf)
# Calibrated on the full_data sweep (2026-11-29, 1 thread per trial, 2-core machine):
# cnn 592 s / (48k x 12), dnn 29 s / (48k x 30), xgb 427 s / (60k x 150), rf 14 s / (60k x 25).
SECONDS_PER_SAMPLE_PASS = {"cnn": 1.0e-3, "dnn": 2.0e-5, "xgb": 4.7e-5, "rf": 1.0e-5}
# fixed seconds per trial: scoring the 10k test set, model setup
SECONDS_FIXED = {"cnn": 4.0, "dnn": 0.3, "xgb": 0.5, "rf": 0.3}
PASS_PARAM = {"cnn": "epochs", "dnn": "epochs", "xgb": "num_boost_round", "rf": "n_estimators"}


def passes(model: str, overrides: Mapping[str, Any] | None = None) -> int:
    """Epochs, boosting rounds or trees of `model` after overrides."""
    from trainables.models import default_params

    params = {**default_params(model), **(overrides or {})}
    return int(params[PASS_PARAM[model]])


def estimate_seconds(trial: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> float:
    """Estimated single-thread seconds for one trial config (model, sample_frac, ...)."""
    model = trial["model"]
    n = int(trial["sample_frac"] * N_TRAIN_TOTAL)
    if model in ("cnn", "dnn"):
        n = int(n * (1 - VALIDATION_SPLIT))
    return SECONDS_FIXED[model] + SECONDS_PER_SAMPLE_PASS[model] * n * passes(model, overrides)


def longest_first(trials: list[dict[str, Any]], *, overrides: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Trials sorted by estimated cost, most expensive first (stable for equal costs)."""
    return sorted(trials, key=lambda t: -estimate_seconds(t, overrides=overrides.get(t["model"])))
