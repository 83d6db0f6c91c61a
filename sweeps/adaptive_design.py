"""The ray-free half of an adaptive sweep: cells and curves, the first design, a crossing and
how a search ended. The searcher (datavsmath.sweeps.adaptive) builds on these; the dry-run
and the CLI read them without importing Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A curve is the cells that differ only in sample_frac and seed.
CURVE_KEYS = ("model", "damage_mode", "damage_frac", "repair")
FIRST_SIZES = 4
# One seed: with two, the first design took 48 of bench_adaptive's 84 trials and left too few
# near the crossings; a second seed runs later, where it narrows an interval most.
FIRST_SEEDS = 1

Cell = tuple[tuple[str, Any], ...]  # sorted (axis, value) pairs: hashable, picklable


def cell_of(config: Any) -> Cell:
    return tuple(sorted((k, config[k]) for k in (*CURVE_KEYS, "sample_frac", "seed") if k in config))


def curve_of(cell: Cell) -> Cell:
    return tuple((k, v) for k, v in cell if k in CURVE_KEYS)


def first_design(cells: Sequence[Cell], *, sizes: int = FIRST_SIZES, seeds: int = FIRST_SEEDS,
                 ran: Sequence[Cell] = ()) -> list[Cell]:
    """Per curve, the swept sample fractions nearest to `sizes` points evenly spaced in log
    from its smallest to its largest, with its first `seeds` seeds; none for a curve with a
    cell in `ran` (--extend: cells run earlier)."""
    started = {curve_of(c) for c in ran}
    by_curve: dict[Cell, list[Cell]] = {}
    for cell in cells:
        if curve_of(cell) not in started:
            by_curve.setdefault(curve_of(cell), []).append(cell)
    design = []
    for members in by_curve.values():
        fracs = sorted({dict(c)["sample_frac"] for c in members})
        logs = np.log(fracs)
        chosen = {fracs[int(np.argmin(np.abs(logs - aim)))] for aim in np.linspace(logs[0], logs[-1], sizes)}
        first = sorted({dict(c)["seed"] for c in members})[:seeds]
        design += [c for c in members if dict(c)["sample_frac"] in chosen and dict(c)["seed"] in first]
    return design


@dataclass
class Crossing:
    """One target of one curve: where it stands after the latest refit. estimate, low, high
    are num_obs (training rows; low 0 and high inf: no interval); how: the estimate's own
    description, as the report gives it ("interpolated", "extrapolated ×1.6", "beyond 4× the
    data swept", "never (asymptote 0.82)"); status is open, met (the 95 % interval within
    ±tolerance), unreachable (never, or few draws reach the target), beyond (the whole
    interval past the sizes the report gives a number for) or past (the target lies past
    the largest size the spec sweeps: no cell can pin it down, the report extrapolates it)."""

    curve: Cell
    metric: str
    target: float
    estimate: float = np.nan
    low: float = 0.0
    high: float = np.inf
    p_reachable: float = np.nan
    status: str = "open"  # open | met | unreachable | beyond | past
    how: str = ""

    def text(self) -> str:
        axes = dict(self.curve)
        where = ", ".join(f"{k} {axes[k]}" for k in CURVE_KEYS if k in axes)
        return f"{where}: {self.metric} > {self.target:g} {self._found()} ({self.status})"

    def _found(self) -> str:
        """The crossing as the report says it: a number only within the sizes it gives one
        for, an interval only where there is one."""
        how = self.how or ("never" if np.isinf(self.estimate) else "")
        if not np.isfinite(self.estimate) or how.startswith(("beyond", "never", "probably")):
            return how or "not estimated yet"
        interval = (f" [{self.low:,.0f}, {self.high:,.0f}]" if np.isfinite(self.high) and self.low > 0
                    else ", no interval")
        return f"at n = {self.estimate:,.0f}{interval}" + (f" ({how})" if how and how != "interpolated" else "")


@dataclass(frozen=True)
class SearchSummary:
    """How an adaptive search ended: why it stopped ("" while it runs), the trials it
    proposed and those that finished, and every crossing with its interval."""

    stop_reason: str
    proposed: int
    finished: int
    crossings: tuple[Crossing, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        """Why it stopped, then one line per crossing."""
        state = f"stopped: {self.stop_reason}" if self.stop_reason else "running"
        return [f"adaptive search {state}; {self.finished} trials finished of {self.proposed} proposed",
                *(f"  {c.text()}" for c in self.crossings)]
