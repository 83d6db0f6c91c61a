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
# Calibrated on the full_data sweep with the session-2 trainers (full_data_2, 2026-11-29, 1
# thread per trial, two at a time, 2-core machine): cnn 389 s / (48k x 12), dnn 21 s / (48k x
# 30), xgb 215 s / (60k x 150), rf 13 s / (60k x 25). (First trainers: 1.0e-3, 2.0e-5, 4.7e-5,
# 1.0e-5.) Small trials cost more per sample-pass (`bench_sweep.py --calibrate` at 2-10 % of
# the data: 5.7e-4, 1.2e-5, 3.8e-5, 6.7e-6); the big trials are the ones whose order matters.
SECONDS_PER_SAMPLE_PASS = {"cnn": 6.8e-4, "dnn": 1.5e-5, "xgb": 2.4e-5, "rf": 8.9e-6}
# fixed seconds per trial (scoring the 10k test set, model setup): `bench_sweep.py --calibrate`
SECONDS_FIXED = {"cnn": 1.5, "dnn": 0.1, "xgb": 1.5, "rf": 0.0}
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
