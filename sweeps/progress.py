"""What a person reads while a sweep runs: trial names, one line per finished trial, and a
status line. Pure text from plain values (no ray), so it is tested without a cluster; the
Tune callback that prints it is in datavsmath.sweeps.tune_callbacks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datavsmath.trainables.repair import NO_REPAIR

# A status line at most this often (seconds).
STATUS_PERIOD_S = 30.0


# NO_REPAIR, a trial's repair when its config names none (datavsmath.sweeps.spec.AXIS_DEFAULTS), is left
# out of names and lines, so that every trial of before the axis keeps its name.


def _repair(config: Mapping[str, Any]) -> str:
    return str(config.get("repair", NO_REPAIR))


def exact_text(value: Any) -> str:
    """A number as short text that reads back as the same value: `:g` when that is exact
    (0.1, 0, 1e-05), else the shortest exact form (0.1000001, which `:g` makes 0.1). Two
    different values never share a text, so trial names cannot collide."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def trial_name(config: Mapping[str, Any]) -> str:
    """The trial's combination as a name: `cnn_s0.5_d0.2_random_seed1` (also its folder name),
    with `_<repair>` at the end when the repair is not none: `rf_s0.1_d0.2_constant_seed0_prune`.

    config: a trial config with model, sample_frac, damage_frac, damage_mode and seed, and
    optionally repair (default none).
    """
    repair = _repair(config)
    return (f"{config['model']}_s{exact_text(config['sample_frac'])}_d{exact_text(config['damage_frac'])}_"
            f"{config['damage_mode']}_seed{config['seed']}" + (f"_{repair}" if repair != NO_REPAIR else ""))


def combination(config: Mapping[str, Any]) -> str:
    """`model=cnn sample_frac=0.5 damage_frac=0.2 damage_mode=random seed=1`, for messages
    (and ` repair=prune` when the repair is not none)."""
    repair = _repair(config)
    return (f"model={config['model']} sample_frac={exact_text(config['sample_frac'])} "
            f"damage_frac={exact_text(config['damage_frac'])} "
            f"damage_mode={config['damage_mode']} seed={config['seed']}"
            + (f" repair={repair}" if repair != NO_REPAIR else ""))


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def finished_line(config: Mapping[str, Any], result: Mapping[str, Any], *, done: int, total: int) -> str:
    """One line for a finished trial: its axes, acc, auc and seconds, with the running count.

    result: the trial's final report (acc, auc, time_total_s)."""
    width = len(str(total))
    return (f"[{done:>{width}}/{total}] {config['model']:<4} sample_frac={exact_text(config['sample_frac']):<5} "
            f"damage_frac={exact_text(config['damage_frac']):<4} {config['damage_mode']:<8} seed={config['seed']}  "
            + (f"repair={_repair(config)}  " if _repair(config) != NO_REPAIR else "")
            + f"acc={_metric(result.get('acc'))} auc={_metric(result.get('auc'))}  "
            f"{float(result.get('time_total_s', 0.0)):.1f} s")


def error_line(config: Mapping[str, Any], *, error: str) -> str:
    """One line for an errored trial: its combination and what went wrong."""
    return f"ERROR {combination(config)}: {error}"


@dataclass(frozen=True)
class Progress:
    """Where a sweep stands: trial counts by state, time so far, and the best acc per model."""

    done: int
    running: int
    pending: int
    errored: int
    elapsed_s: float
    eta_s: float | None
    best_acc: Mapping[str, float]


def status_line(progress: Progress) -> str:
    """`status: 40 done, 2 running, 54 pending, 0 errored | 3.1 min elapsed, ETA 4.2 min | best acc rf 0.81 ...`."""
    eta = "unknown" if progress.eta_s is None else f"{progress.eta_s / 60:.1f} min"
    best = " ".join(f"{model} {acc:.4f}" for model, acc in progress.best_acc.items())
    return (f"status: {progress.done} done, {progress.running} running, {progress.pending} pending, "
            f"{progress.errored} errored | {progress.elapsed_s / 60:.1f} min elapsed, ETA {eta}"
            + (f" | best acc {best}" if best else ""))


def eta_seconds(*, done_cost: float, left_cost: float, elapsed_s: float) -> float | None:
    """Remaining wall seconds at the pace so far: the estimated cost still to run divided by
    the estimated cost finished per second. None before anything finished."""
    if left_cost <= 0:
        return 0.0
    if done_cost <= 0 or elapsed_s <= 0:
        return None
    return left_cost * elapsed_s / done_cost
