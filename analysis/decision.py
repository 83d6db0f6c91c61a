"""Iso-accuracy contours on the (num_obs, quality) plane and clean-equivalent observations: how
much data a level of label quality is worth. Pure functions on the tidy frame
(datavsmath.analysis.schema), on the curves of datavsmath.analysis.quality_levels; the routes to a
target are datavsmath.analysis.routes'.

Every crossing is datavsmath.analysis.curves.estimate_crossing of a level's grid, as in
`tables.interpolated_table`: with the same curve, n_boot and random_state a contour's
num_obs and interval at a target equal that table's at the same threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from datavsmath.analysis.aggregate import quality_rows
from datavsmath.analysis.curves import DEFAULT_CURVE, Crossing, check_curve
from datavsmath.analysis.quality_levels import Level, levels, seed_ids
from datavsmath.analysis.repair_effect import of_repair
from datavsmath.analysis.tables import (
    DEFAULT_N_BOOT,
    _check,
    _level_rows,
    _seed_mean,
)
from datavsmath.trainables.repair import NO_REPAIR

DEFAULT_N_TARGETS = 5


def _spread(low: float, high: float, *, count: int = DEFAULT_N_TARGETS) -> list[float]:
    """`count` targets evenly inside (low, high), rounded to 4 decimals; [] when high <= low."""
    if not high > low:
        return []
    return sorted({round(float(t), 4) for t in np.linspace(low, high, count + 2)[1:-1]})


def _setup(df: pd.DataFrame, *, metric: str, model: str, damage_mode: str, curve: str, n_boot: int,
           random_state: int, n_total: int) -> dict[float, Level]:
    """The levels (repair none) of one model and damage mode."""
    _check(metric, None)
    check_curve(curve)
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    rows = _level_rows(of_repair(df, NO_REPAIR), model=model, damage_mode=damage_mode)
    seeds = seed_ids(quality_rows(df, model=model, damage_mode=damage_mode))
    return levels(rows, metric=metric, seeds=seeds, n_total=n_total, curve=curve, n_boot=n_boot,
                  random_state=random_state)


def iso_accuracy(df: pd.DataFrame, *, model: str, damage_mode: str, n_total: int,
                 targets: Sequence[float] | None = None, metric: str = "acc", curve: str = DEFAULT_CURVE,
                 n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> pd.DataFrame:
    """Iso-accuracy contours on the (num_obs, quality) plane: for each target, the n at
    which every quality level's fitted curve reaches it.

    model, damage_mode: the curves'; n_total: the dataset's training-set size (num_obs =
    sample_frac * n_total). targets: metric values in (0, 1) (default: 5 evenly inside the
    range of the measured seed means). curve, n_boot, random_state as in
    `tables.interpolated_table` (repair none only).
    Returns one row per (target, quality), targets ascending, best quality first: target,
    quality, damage_frac, num_obs (NaN where the level never reaches the target), ci_low,
    ci_high (the crossing's 95 % interval, curves.estimate_crossing; NaN where none can be
    given; inf where draws never reach), reached, extrapolated (outside the swept sizes),
    found (how it was found), n_seeds, curve (the family used; "learned" past the data).
    """
    by_quality = _setup(df, metric=metric, model=model, damage_mode=damage_mode, curve=curve, n_boot=n_boot,
                        random_state=random_state, n_total=n_total)
    means = np.concatenate([_seed_mean(level.grid) for level in by_quality.values()])
    chosen = _spread(float(np.nanmin(means)), float(np.nanmax(means))) if targets is None else list(targets)
    records = []
    for target in [_check(metric, t) for t in chosen]:
        for level in by_quality.values():
            found = level.crossing(target)
            estimate = found.estimate
            records.append({
                "target": target, "quality": level.quality, "damage_frac": level.damage_frac,
                "num_obs": estimate if np.isfinite(estimate) else np.nan, "ci_low": found.low, "ci_high": found.high,
                "reached": bool(np.isfinite(estimate)),
                "extrapolated": bool(np.isfinite(estimate) and not found.smallest < estimate <= found.largest),
                "found": found.how, "n_seeds": level.n_seeds, "curve": found.family})
    columns = ["target", "quality", "damage_frac", "num_obs", "ci_low", "ci_high", "reached", "extrapolated",
               "found", "n_seeds", "curve"]
    return pd.DataFrame(records, columns=columns)


def clean_equivalent(df: pd.DataFrame, *, model: str, damage_mode: str, n_total: int, metric: str = "acc",
                     curve: str = DEFAULT_CURVE, n_boot: int = DEFAULT_N_BOOT, random_state: int = 0) -> pd.DataFrame:
    """How many clean observations a damaged set of n is worth: the clean (quality 1.0)
    curve inverted at the damaged set's measured mean metric.

    Arguments as in `iso_accuracy`. Needs quality 1.0 trials (damage_frac 0).
    Returns one row per damaged quality level (best first) and swept sample_frac:
    quality, damage_frac, sample_frac, num_obs (the damaged set's size), <metric> (its
    mean over seeds), clean_equivalent (clean observations reaching that metric; inf
    when the clean curve never does), ci_low, ci_high (the clean curve's 95 % interval of
    its crossing at the damaged mean, curves.estimate_crossing; NaN where none can be
    given; the damaged mean's own seed noise is not in it),
    clean_per_damaged (clean_equivalent / num_obs: what one damaged label is worth),
    within_noise (a ratio above 1, a damaged label worth more than a clean one, or an
    interval that holds num_obs, the "no effect" value: seed noise, not an effect),
    extrapolated (the clean_equivalent lies outside the clean curve's swept sizes), n_seeds.
    """
    by_quality = _setup(df, metric=metric, model=model, damage_mode=damage_mode, curve=curve, n_boot=n_boot,
                        random_state=random_state, n_total=n_total)
    if 1.0 not in by_quality:
        raise ValueError(f"clean_equivalent needs quality 1.0 (damage_frac 0) trials of model={model!r}; "
                         f"qualities present: {sorted(by_quality)}")
    clean = by_quality[1.0]
    records = [_equivalent_record(clean, level, j, metric=metric, n_total=n_total)
               for level in by_quality.values() if level.quality < 1.0 for j in range(len(level.n))]
    columns = ["quality", "damage_frac", "sample_frac", "num_obs", metric, "clean_equivalent", "ci_low", "ci_high",
               "clean_per_damaged", "within_noise", "extrapolated", "n_seeds"]
    return pd.DataFrame([r for r in records if r is not None], columns=columns)


def _equivalent_record(clean: Level, level: Level, j: int, *, metric: str, n_total: int) -> dict | None:
    """One row of `clean_equivalent`: column j of a damaged level; None where it has no value."""
    value = _seed_mean(level.grid)[j]
    if np.isnan(value):
        return None
    found: Crossing = clean.crossing(float(np.clip(value, 1e-6, 1 - 1e-6)))  # estimate_crossing needs (0, 1)
    estimate, ci_low, ci_high = found.estimate, found.low, found.high
    n = float(level.n[j])
    return {"quality": level.quality, "damage_frac": level.damage_frac, "sample_frac": n / n_total,
            "num_obs": n, metric: float(value), "clean_equivalent": estimate, "ci_low": ci_low, "ci_high": ci_high,
            "clean_per_damaged": estimate / n,
            "within_noise": bool(estimate > n or (ci_low <= n <= ci_high)),
            "extrapolated": bool(np.isfinite(estimate) and not found.smallest <= estimate <= found.largest),
            "n_seeds": level.n_seeds}
